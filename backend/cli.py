"""`medai`: the command line over the same services the UI and API use."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from alembic import command

from backend import db
from backend.adapters import envelope
from backend.errors import MedAIError
from backend.runtime import configure_logging, get_runtime
from backend.services.identity import secrets
from backend.services.ops.health import check_platform
from backend.settings import get_settings

app = typer.Typer(help="MedAI Studio command line.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
keys_app = typer.Typer(help="Master keys that wrap stored secrets.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Bring the database schema up to date (safe to run repeatedly)."""
    engine = get_runtime().engine
    before = db.current_revision(engine)
    after = db.upgrade(engine, revision)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        typer.echo(f"{where}: already at revision {after}")
    else:
        typer.echo(f"{where}: upgraded {before or 'empty'} -> {after}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help='Target revision, "-1" or "base"')]) -> None:
    """Roll the schema back (data in dropped tables is lost: back it up first)."""
    engine = get_runtime().engine
    typer.echo(f"now at revision {db.downgrade(engine, revision) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and of the code."""
    engine = get_runtime().engine
    typer.echo(f"database: {db.current_revision(engine) or 'none'}\ncode:     {db.head_revision()}")


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message", help="What the migration does")]) -> None:
    """Write a new migration by comparing the models with a scratch database at head (for developers)."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = db.create_db_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        db.upgrade(engine)
        next_id = f"{int(db.head_revision()) + 1:04d}"
        command.revision(db.alembic_config(engine), message=message, autogenerate=True, rev_id=next_id)
        engine.dispose()


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new random master key (base64 of 32 bytes) for MEDAI_MASTER_KEY."""
    typer.echo(envelope.generate_master_key())


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-wrap every stored secret under MEDAI_MASTER_KEY; the old key must be in MEDAI_OLD_MASTER_KEYS."""
    runtime = get_runtime()
    ring = runtime.keys
    with runtime.session() as session:
        changed = secrets.rotate_master_key(session, ring, actor_label="cli")
    typer.echo(f"re-wrapped {changed} secrets under master key {envelope.key_id(ring.current)}")


@app.command("health")
def health(as_json: Annotated[bool, typer.Option("--json", help="Print the raw report")] = False) -> None:
    """Probe every component; exit 1 when any is down."""
    report = check_platform(get_runtime())
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        for c in report.components:
            typer.echo(f"{c.status:>4}  {c.name:<13} {c.backend:<20} {c.target}  ({c.detail})")
        typer.echo(f"platform: {report.status}")
    raise typer.Exit(0 if report.status == "ok" else 1)


def main() -> None:
    configure_logging(get_settings())
    try:
        app()
    except MedAIError as error:
        typer.echo(f"error {error.code.value}: {error.message}\nremedy: {error.remedy}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
