"""The UI's text in English and Chinese, one module per area (space, training, serving, assets,
orchestration, ops, agents, knowledge, identity, common, ...), merged here into one table.

Each module of this package defines ``TEXT: dict[str, tuple[str, str]]`` (key -> (English, 中文))
and imports nothing; a new module joins the table by being here. A key defined by two modules
stops the import. Pure data and lookup, no Reflex: state (toasts a handler composes) and components
(``components.i18n.t``) both read it."""

import importlib
import pkgutil
from collections.abc import Iterable

Table = dict[str, tuple[str, str]]


def merge(tables: Iterable[tuple[str, Table]]) -> tuple[Table, dict[str, str]]:
    """One table from the areas' ``(name, TEXT)`` pairs, and the area each key comes from;
    a key two areas define is refused."""
    merged: Table = {}
    area_of: dict[str, str] = {}
    for area, table in tables:
        for key, pair in table.items():
            if key in merged:
                raise ValueError(f"text key {key!r} is defined in both ui_text.{area_of[key]} and ui_text.{area}")
            merged[key] = pair
            area_of[key] = area
    return merged, area_of


def area_tables() -> list[tuple[str, Table]]:
    """Every module of this package with its table, by module name."""
    modules = sorted(info.name for info in pkgutil.iter_modules(__path__))
    return [(name, importlib.import_module(f"{__name__}.{name}").TEXT) for name in modules]


TEXT, AREA_OF = merge(area_tables())


def text(key: str, lang: str) -> str:
    """``TEXT[key]`` in ``lang``: Chinese for "zh", English otherwise."""
    english, chinese = TEXT[key]
    return chinese if lang == "zh" else english
