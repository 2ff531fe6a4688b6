"""The app server refuses a database that is behind the code, and says how to fix it."""

import os
import subprocess

import pytest

from tests.e2e.conftest import ROOT, free_port

pytestmark = pytest.mark.e2e


def test_server_refuses_an_unmigrated_database(tmp_path):
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "REFLEX_USE_NPM": "1",
        "GRANIAN_WORKERS": "1",
        "MEDAI_PORT": str(free_port()),
        "MEDAI_DATA_DIR": str(tmp_path),
    }
    # `reflex run` without `medai db upgrade` first, which `make run` would do
    result = subprocess.run(
        ["reflex", "run", "--env", "prod"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "DB_NOT_MIGRATED" in output
    assert "medai db upgrade" in output
