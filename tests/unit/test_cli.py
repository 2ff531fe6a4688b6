import json

import pytest
from typer.testing import CliRunner

from backend import db
from backend.cli import app


@pytest.fixture
def cli_env(process_env) -> CliRunner:
    return CliRunner()


def test_db_upgrade_then_current(cli_env):
    first = cli_env.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    head = db.head_revision()
    assert f"upgraded empty -> {head}" in first.output
    again = cli_env.invoke(app, ["db", "upgrade"])
    assert f"already at revision {head}" in again.output
    current = cli_env.invoke(app, ["db", "current"])
    assert f"database: {head}" in current.output and f"code:     {head}" in current.output


def test_health_exit_code_follows_the_report(cli_env):
    down = cli_env.invoke(app, ["health"])
    assert down.exit_code == 1  # not migrated yet
    assert "medai db upgrade" in down.output
    cli_env.invoke(app, ["db", "upgrade"])
    up = cli_env.invoke(app, ["health", "--json"])
    assert up.exit_code == 0, up.output
    report = json.loads(up.output)
    assert report["status"] == "ok"
    assert {c["name"] for c in report["components"]} >= {"database", "cache", "object_store", "compute"}
