"""Table pieces every page shares: header rows, the empty state, and the data table that sorts
by a column and pages through long lists (state.tables.TableState keeps the page and the sort)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import reflex as rx
from reflex.vars.base import Var, VarData

from components.i18n import t
from state.tables import TableState

PAGE_SIZE = 50
Column = str | tuple[str, str]  # a header key, or (header key, the row field it sorts by)


def headers(*keys: str) -> rx.Component:
    """A table's header row: one translated column title per key ("" leaves a column untitled)."""
    return rx.table.header(rx.table.row(*[rx.table.column_header_cell(t(k) if k else "") for k in keys]))


def empty_state(key: str, empty_id: str, **props: object) -> rx.Component:
    """What a list shows when it has nothing: a muted line of text."""
    return rx.text(t(key), size="2", color=rx.color("gray", 10), id=empty_id, **props)


def _sorted(rows: rx.Var, table_id: str) -> rx.Var:
    """``rows`` in the order the table's sort column asks for (client side; "" keeps the given order)."""
    key = TableState.sorts.get(table_id, "").to(str)
    expr = (
        "((k, r) => k === '' ? r : [...r].sort((a, b) => {"
        " const d = k.startsWith('-') ? -1 : 1; const f = d < 0 ? k.slice(1) : k;"
        " const x = a[f] ?? '', y = b[f] ?? ''; return (x < y ? -1 : x > y ? 1 : 0) * d; }))"
        f"({key}, {rows})"
    )
    data = VarData.merge(rows._get_all_var_data(), key._get_all_var_data())
    return Var(_js_expr=expr, _var_type=rows._var_type, _var_data=data).guess_type()


def _header(column: Column, table_id: str) -> rx.Component:
    if isinstance(column, str):
        return rx.table.column_header_cell(t(column) if column else "")
    key, field = column
    current = TableState.sorts.get(table_id, "").to(str)
    arrow = rx.cond(
        current == field,
        rx.icon("arrow-up", size=12),
        rx.cond(current == "-" + field, rx.icon("arrow-down", size=12), rx.icon("arrow-up-down", size=12, opacity=0.4)),
    )
    return rx.table.column_header_cell(
        rx.hstack(t(key), arrow, spacing="1", align="center"),
        on_click=TableState.sort_by(table_id, field),
        cursor="pointer",
        user_select="none",
        data_sort=field,
    )


def _pager(count: rx.Var, page: rx.Var, table_id: str, page_size: int) -> rx.Component:
    last = ((count - 1) // page_size).to(int)
    return rx.hstack(
        rx.icon_button(
            rx.icon("chevron-left", size=16),
            on_click=TableState.turn(table_id, page - 1),
            disabled=page <= 0,
            variant="soft",
            size="1",
            aria_label=t("table.previous"),
        ),
        rx.text(page + 1, " / ", last + 1, size="1", color=rx.color("gray", 11)),
        rx.icon_button(
            rx.icon("chevron-right", size=16),
            on_click=TableState.turn(table_id, page + 1),
            disabled=page >= last,
            variant="soft",
            size="1",
            aria_label=t("table.next"),
        ),
        align="center",
        justify="end",
        spacing="2",
        width="100%",
        id=f"{table_id}-pager",
    )


def data_table(
    rows: rx.Var,
    render_row: Callable[[rx.Var], rx.Component],
    columns: Sequence[Column],
    table_id: str,
    *,
    empty: rx.Component | None = None,
    page_size: int = PAGE_SIZE,
    **props: object,
) -> rx.Component:
    """``rows`` as a table with id ``table_id``: a header per column (click a sortable one to sort by
    it), ``page_size`` rows at a time with a pager below when there are more, ``empty`` instead of
    the table when there are none. ``props`` go to rx.table.root (variant defaults to "surface")."""
    page = TableState.pages.get(table_id, 0).to(int)
    shown = _sorted(rows, table_id)[page * page_size : (page + 1) * page_size]
    props.setdefault("variant", "surface")
    props.setdefault("width", "100%")
    table = rx.fragment(
        rx.table.root(
            rx.table.header(rx.table.row(*[_header(c, table_id) for c in columns])),
            rx.table.body(rx.foreach(shown, render_row)),
            id=table_id,
            **props,
        ),
        rx.cond(rows.length() > page_size, _pager(rows.length(), page, table_id, page_size)),
    )
    return table if empty is None else rx.cond(rows.length() > 0, table, empty)
