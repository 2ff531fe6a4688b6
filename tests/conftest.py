"""Fixtures shared by every test layer: isolated settings and a migrated runtime."""

import os
from collections.abc import Iterator

import pytest

from backend import db
from backend.runtime import Runtime, build_runtime, get_runtime
from backend.settings import Settings, get_settings

# Tests run without the starter model (converting and serving it takes a core for a minute);
# the tests that are about it turn it on. Every Settings() a test builds reads this.
STARTER_OFF = ("MEDAI_STARTER_MODEL", "off")
os.environ.setdefault(*STARTER_OFF)


@pytest.fixture
def clean_env(monkeypatch) -> pytest.MonkeyPatch:
    """No MEDAI_* variable from the shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("MEDAI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(*STARTER_OFF)
    return monkeypatch


@pytest.fixture
def settings(tmp_path, clean_env) -> Settings:
    """Embedded defaults under a fresh folder."""
    return Settings(data_dir=tmp_path / "data", _env_file=None)


@pytest.fixture
def runtime(settings) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    db.upgrade(rt.engine)
    yield rt
    rt.engine.dispose()


@pytest.fixture
def process_env(clean_env, tmp_path) -> Iterator[pytest.MonkeyPatch]:
    """For code that reads the process's settings (CLI, app): a fresh data folder and fresh caches.
    Set more MEDAI_* variables on the returned monkeypatch before the first get_runtime()."""
    clean_env.setenv("MEDAI_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    get_runtime.cache_clear()
    yield clean_env
    if get_runtime.cache_info().currsize:
        get_runtime().engine.dispose()
    get_settings.cache_clear()
    get_runtime.cache_clear()
