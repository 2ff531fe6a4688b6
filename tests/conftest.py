"""Fixtures shared by every test layer: isolated settings and a migrated runtime."""

from collections.abc import Iterator

import pytest

from backend import db
from backend.runtime import Runtime, build_runtime
from backend.settings import Settings


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """Embedded defaults under a fresh folder, whatever MEDAI_* the shell has set."""
    for name in list(__import__("os").environ):
        if name.startswith("MEDAI_"):
            monkeypatch.delenv(name)
    return Settings(data_dir=tmp_path / "data", _env_file=None)


@pytest.fixture
def runtime(settings) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    db.upgrade(rt.engine)
    yield rt
    rt.engine.dispose()
