"""The UI's text switched in the browser by the language preference; the table itself
(English and Chinese, one module per area) is ui_text.TEXT."""

from collections.abc import Iterable

import reflex as rx

from state.preferences import PreferencesState
from ui_text import TEXT

__all__ = ["TEXT", "t", "t_choice"]


def t(key: str) -> rx.Var:
    """The text for ``key`` in the browser's current language."""
    english, chinese = TEXT[key]
    return rx.cond(PreferencesState.lang == "zh", chinese, english)


def t_choice(prefix: str, value: rx.Var, options: Iterable[str]) -> rx.Var:
    """The text for ``f"{prefix}.{value}"`` where ``value`` is only known in the browser
    (a role, a status); a value outside ``options`` is shown as it is."""
    return rx.match(value, *[(option, t(f"{prefix}.{option}")) for option in options], value)
