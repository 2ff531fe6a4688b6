"""Table pieces every page shares."""

from __future__ import annotations

import reflex as rx

from components.i18n import t


def headers(*keys: str) -> rx.Component:
    """A table's header row: one translated column title per key ("" leaves a column untitled)."""
    return rx.table.header(rx.table.row(*[rx.table.column_header_cell(t(k) if k else "") for k in keys]))
