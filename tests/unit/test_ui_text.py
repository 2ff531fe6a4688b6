"""The UI's translation table and its error toasts."""

import re
from pathlib import Path

from backend.errors import ErrorCode, MedAIError
from components.i18n import TEXT
from state.feedback import error_toast

ROOT = Path(__file__).resolve().parents[2]


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
