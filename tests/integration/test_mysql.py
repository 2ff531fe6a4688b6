"""Migrations and a CRUD round trip on MariaDB through PyMySQL."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import MetaData, inspect
from sqlmodel import select

from backend import db
from backend.errors import MedAIError
from backend.models import PlatformSetting

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(mariadb_url):
    engine = db.create_db_engine(mariadb_url)
    _drop_everything(engine)
    yield engine
    _drop_everything(engine)
    engine.dispose()


def _drop_everything(engine) -> None:
    metadata = MetaData()
    metadata.reflect(engine)
    metadata.drop_all(engine)


def test_migrations_run_on_mysql_and_the_app_check_follows_them(engine):
    assert engine.dialect.name == "mysql"
    with pytest.raises(MedAIError, match="revision none"):
        db.ensure_migrated(engine)
    assert db.upgrade(engine) == db.head_revision()
    db.ensure_migrated(engine)
    columns = {c["name"]: c for c in inspect(engine).get_columns("platform_setting")}
    assert columns["key"]["type"].length == 128
    assert db.downgrade(engine, "base") is None
    assert "platform_setting" not in inspect(engine).get_table_names()
    assert db.upgrade(engine) == db.head_revision()


def test_crud_round_trip_keeps_json_and_aware_times(engine):
    db.upgrade(engine)
    stamp = datetime(2026, 11, 25, 8, 30, 15, tzinfo=UTC)
    with db.session_scope(engine) as session:
        session.add(
            PlatformSetting(key="gateway.limits", value={"rpm": 600, "models": ["qwen", "医疗"]}, updated_at=stamp)
        )

    with db.session_scope(engine) as session:
        row = session.get(PlatformSetting, "gateway.limits")
        assert row.value == {"rpm": 600, "models": ["qwen", "医疗"]}
        assert row.updated_at == stamp and row.updated_at.tzinfo is not None
        row.value = {"rpm": 1200}
        row.updated_by = "admin"
        session.add(row)

    with db.session_scope(engine) as session:
        row = session.get(PlatformSetting, "gateway.limits")
        assert (row.value, row.updated_by) == ({"rpm": 1200}, "admin")
        session.delete(row)

    with db.session_scope(engine) as session:
        assert session.exec(select(PlatformSetting)).all() == []


def test_a_failed_transaction_leaves_no_rows(engine):
    db.upgrade(engine)
    with pytest.raises(RuntimeError), db.session_scope(engine) as session:
        session.add(PlatformSetting(key="partial", value=1))
        session.flush()
        raise RuntimeError("import failed halfway")
    with db.session_scope(engine) as session:
        assert session.get(PlatformSetting, "partial") is None
