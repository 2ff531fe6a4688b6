"""`make run` reuses the frontend build while its fingerprint holds, and rebuilds when a UI source,
an asset, a Reflex package or a baked URL changes (never for data/ or tests/)."""

from pathlib import Path

import pytest

from medai_app import launch
from medai_app.launch import Fingerprint, source_fingerprint

FILES = {
    "pages/home.py": "def home(): ...",
    "components/layout.py": "SIDEBAR = 1",
    "state/home.py": "class HomeState: ...",
    "assets/logo.svg": "<svg/>",
    "medai_app/medai_app.py": "app = None",
    "rxconfig.py": "config = None",
    "requirements.txt": "reflex==0.10.1",
    "data/medai.db": "rows",
    "tests/unit/test_home.py": "def test(): ...",
    "pages/__pycache__/home.cpython-311.pyc": "bytecode",
    "assets/external/pages/icon.svg": "a link Reflex made",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("name", ["data/medai.db", "tests/unit/test_home.py", "pages/__pycache__/home.cpython-311.pyc"])
def test_data_tests_and_bytecode_leave_the_fingerprint_alone(project, name):
    before = source_fingerprint(project)
    (project / name).write_text("something else")
    assert source_fingerprint(project).digest == before.digest


@pytest.mark.parametrize(
    "name",
    ["pages/home.py", "components/layout.py", "state/home.py", "assets/logo.svg", "rxconfig.py", "requirements.txt"],
)
def test_a_changed_ui_source_changes_the_fingerprint_and_is_named(project, name):
    before = source_fingerprint(project)
    (project / name).write_text("edited")
    after = source_fingerprint(project)
    assert after.digest != before.digest
    assert after.changes_since(before) == [f"{name} changed"]


def test_added_and_removed_files_are_named(project):
    before = source_fingerprint(project)
    (project / "assets" / "banner.png").write_bytes(b"\x89PNG")
    (project / "pages" / "home.py").unlink()
    assert source_fingerprint(project).changes_since(before) == ["assets/banner.png added", "pages/home.py removed"]


def test_reflex_version_and_baked_url_are_part_of_it(project):
    before = source_fingerprint(project, {"package reflex": "0.10.1", "setting api_url": "http://127.0.0.1:3000"})
    after = source_fingerprint(project, {"package reflex": "0.10.2", "setting api_url": "http://127.0.0.1:3001"})
    assert after.changes_since(before) == [
        "package reflex 0.10.1 -> 0.10.2",
        "setting api_url http://127.0.0.1:3000 -> http://127.0.0.1:3001",
    ]


NEW = Fingerprint({"pages/home.py": "new"})


@pytest.fixture
def builds(monkeypatch) -> list[Fingerprint]:
    built: list[Fingerprint] = []
    monkeypatch.setattr(launch, "build_frontend", built.append)
    monkeypatch.setattr(launch, "current_fingerprint", lambda: NEW)
    return built


def test_a_matching_build_is_reused(monkeypatch, builds, capsys):
    monkeypatch.setattr(launch, "built_fingerprint", lambda: Fingerprint({"pages/home.py": "new"}))
    launch.ensure_frontend(rebuild=False)
    assert builds == []
    assert f"frontend build reused (fingerprint {NEW.digest})" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("built", "rebuild", "reason"),
    [
        (Fingerprint({"pages/home.py": "old"}), False, "pages/home.py changed"),
        (None, False, "no recorded build"),
        (NEW, True, "rebuild requested"),
    ],
)
def test_otherwise_it_rebuilds_and_says_why(monkeypatch, builds, capsys, built, rebuild, reason):
    monkeypatch.setattr(launch, "built_fingerprint", lambda: built)
    launch.ensure_frontend(rebuild=rebuild)
    assert builds == [NEW]
    assert f"frontend rebuilt: {reason} (fingerprint " in capsys.readouterr().out
