"""The UI's translation table (ui_text, one module per area) and its error toasts."""

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

import ui_text
from backend.errors import ErrorCode, MedAIError
from state.feedback import error_toast
from ui_text import TEXT

ROOT = Path(__file__).resolve().parents[2]
AREAS = {
    "space",
    "training",
    "serving",
    "assets",
    "orchestration",
    "ops",
    "agents",
    "knowledge",
    "identity",
    "common",
}


def test_every_text_has_english_and_chinese():
    for key, (english, chinese) in TEXT.items():
        assert english.strip() and chinese.strip(), key
        assert re.search(r"[\u4e00-\u9fff]", chinese) or chinese == english, f"{key} has no Chinese text"


def test_every_key_the_ui_uses_exists():
    used: set[str] = set()
    for folder in ("components", "pages", "state"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(re.findall(r"""\bt\(\s*["']([a-z_.]+)["']""", path.read_text()))
            used |= set(re.findall(r"""Area\(\s*["']([a-z_.]+)["']""", path.read_text()))
    assert used, "the scan found no t(...) calls"
    assert sorted(used - TEXT.keys()) == []


def _literals(tree: ast.AST) -> tuple[set[str], set[str]]:
    """The whole string literals and the fixed parts of f-strings in ``tree``."""
    in_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    whole: set[str] = set()
    parts: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            (parts if id(node) in in_fstrings else whole).add(node.value)
    return whole, parts


def test_every_key_literal_in_the_ui_exists():
    """Any string in pages/, components/ or state/ shaped like a key of a known area ("training.submit",
    a t_choice prefix such as "space.role", an f-string's "ops.level_") names a key or keys that exist."""
    prefixes = {key.split(".")[0] for key in TEXT} | {"research", "deploy"}  # and the retired area names
    shaped = re.compile(r"[a-z_]+(\.[a-z0-9_-]*)+")
    missing: list[str] = []
    for folder in ("components", "pages", "state"):
        for path in (ROOT / folder).rglob("*.py"):
            whole, parts = _literals(ast.parse(path.read_text()))
            for literal in whole | parts:
                if not shaped.fullmatch(literal) or literal.split(".")[0] not in prefixes:
                    continue
                if literal in TEXT:
                    continue
                start = literal if literal in parts or literal.endswith((".", "_")) else literal + "."
                if not any(key.startswith(start) for key in TEXT):
                    missing.append(f"{path.relative_to(ROOT)}: {literal}")
    assert missing == []


def test_one_module_per_area_and_no_key_in_two():
    tables = dict(ui_text.area_tables())
    assert tables.keys() >= AREAS
    counts = Counter(key for table in tables.values() for key in table)
    assert [key for key, count in counts.items() if count > 1] == []
    assert len(TEXT) == sum(len(table) for table in tables.values())
    assert {ui_text.AREA_OF[key] for key in ("nav.training", "training.submit")} == {"common", "training"}


def test_a_key_in_two_areas_is_refused():
    with pytest.raises(ValueError, match=re.escape("'x.y' is defined in both ui_text.a and ui_text.b")):
        ui_text.merge([("a", {"x.y": ("X", "某")}), ("b", {"x.y": ("Y", "某")})])


def test_area_modules_are_plain_data():
    for path in (ROOT / "ui_text").glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)], path.name


def test_one_name_per_area():
    assert not [key for key in TEXT if key.startswith(("research.", "deploy.", "nav.research", "nav.deploy"))]
    assert TEXT["nav.training"] == ("R&D", "模型研发") and TEXT["nav.serving"] == ("Deploy", "模型部署")


def test_text_picks_the_language():
    assert ui_text.text("nav.home", "zh") == "首页"
    assert ui_text.text("nav.home", "en") == "Home"


def _toast_js(exception: Exception) -> str:
    return str(error_toast(exception).args[0][1])


def test_toast_shows_message_remedy_and_code():
    js = _toast_js(MedAIError(ErrorCode.DATA_INVALID, "Line 3 has no 'messages'.", "Fix line 3 and upload again."))
    assert "Line 3 has no 'messages'." in js
    assert "Fix line 3 and upload again. (DATA_INVALID)" in js


def test_toast_hides_unexpected_errors():
    js = _toast_js(ValueError("db password is hunter2"))
    assert "hunter2" not in js and "ValueError" not in js
    assert "incident" in js and "(INTERNAL)" in js


def test_dynamic_keys_exist_for_every_component_and_status():
    from backend.services.ops.health import COMPONENTS

    assert all(f"component.{name}" in TEXT for name in COMPONENTS)
    assert all(f"status.{status}" in TEXT for status in ("ok", "down", "off"))
