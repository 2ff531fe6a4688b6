"""The lineage panel: "where is this used" (direct users) and the lineage graph that
state.figures.lineage_figure draws."""

from __future__ import annotations

import reflex as rx

from components.i18n import t, t_choice
from components.tables import headers
from state.figures import NODE_COLUMNS
from state.preferences import PreferencesState


def _user_row(user: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(t_choice("lineage.type", user["type"], list(NODE_COLUMNS)), variant="soft")),
        rx.table.cell(rx.text(user["label"], weight="medium")),
        rx.table.cell(rx.code(user["relation"], size="1")),
        data_node_type=user["type"],
    )


def lineage_panel(
    figure_en: rx.Var, figure_zh: rx.Var, has_edges: rx.Var, used_by: rx.Var, panel_id: str
) -> rx.Component:
    """ "Where is this used" (direct users) above the whole lineage graph."""
    return rx.vstack(
        rx.heading(t("lineage.where_used"), size="3"),
        rx.cond(
            used_by.length() > 0,
            rx.table.root(
                headers("lineage.kind", "lineage.item", "lineage.relation"),
                rx.table.body(rx.foreach(used_by, _user_row)),
                variant="surface",
                size="1",
                width="100%",
                id=f"{panel_id}-users",
            ),
            rx.text(t("lineage.unused"), size="2", color=rx.color("gray", 11), id=f"{panel_id}-unused"),
        ),
        rx.heading(t("lineage.title"), size="3"),
        rx.cond(
            has_edges,
            rx.box(
                rx.cond(
                    PreferencesState.lang == "zh",
                    rx.plotly.basic(data=figure_zh, config={"displayModeBar": False}, width="100%"),
                    rx.plotly.basic(data=figure_en, config={"displayModeBar": False}, width="100%"),
                ),
                width="100%",
                id=f"{panel_id}-graph",
            ),
            rx.text(t("lineage.none"), size="2", color=rx.color("gray", 11)),
        ),
        spacing="3",
        width="100%",
        id=panel_id,
    )
