"""Sorting and paging of the data tables (components.tables.data_table): one small state for
every table, keyed by the table's element id; the rows themselves stay in their page's state."""

from __future__ import annotations

import reflex as rx


class TableState(rx.State):
    """Per table id: the page shown (from 0) and the sort column ("field", or "-field" descending)."""

    pages: dict[str, int] = {}
    sorts: dict[str, str] = {}

    @rx.event
    def turn(self, table_id: str, page: int) -> None:
        self.pages[table_id] = max(int(page), 0)

    @rx.event
    def sort_by(self, table_id: str, field: str) -> None:
        """First click sorts ascending, the second descending, the third back to the given order."""
        current = self.sorts.get(table_id, "")
        self.sorts[table_id] = (
            field if current not in (field, f"-{field}") else (f"-{field}" if current == field else "")
        )
        self.pages[table_id] = 0
