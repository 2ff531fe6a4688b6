import pytest
from sqlalchemy import inspect
from sqlmodel import select

from backend import db
from backend.errors import ErrorCode, MedAIError
from backend.models import PlatformSetting


def test_unmigrated_database_is_refused_with_the_fix(settings):
    engine = db.create_db_engine(settings.database_url)
    with pytest.raises(MedAIError) as caught:
        db.ensure_migrated(engine)
    assert caught.value.code is ErrorCode.DB_NOT_MIGRATED
    assert "medai db upgrade" in caught.value.remedy
    assert "none" in caught.value.message


def test_upgrade_creates_every_model_table(settings):
    engine = db.create_db_engine(settings.database_url)
    assert db.upgrade(engine) == db.head_revision()
    db.ensure_migrated(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"platform_setting", "alembic_version"} <= tables
    # upgrading again is a no-op
    assert db.upgrade(engine) == db.head_revision()


def test_session_scope_commits_or_rolls_back(runtime):
    with runtime.session() as session:
        session.add(PlatformSetting(key="ui.default_language", value={"lang": "zh"}))
    with pytest.raises(RuntimeError), runtime.session() as session:
        session.add(PlatformSetting(key="half.written", value=1))
        session.flush()
        raise RuntimeError("boom")
    with runtime.session() as session:
        keys = session.exec(select(PlatformSetting.key)).all()
    assert keys == ["ui.default_language"]


def test_models_and_migrations_agree(runtime):
    """A model change without a migration fails here: autogenerate must find nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    with runtime.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []
