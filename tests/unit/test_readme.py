"""The README is what a new user reads first: it must stay true."""

from pathlib import Path

from backend.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_lists_every_setting():
    missing = [f"MEDAI_{name.upper()}" for name in Settings.model_fields if f"`MEDAI_{name.upper()}`" not in README]
    assert missing == []


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "make test" in README and "make run" in README
