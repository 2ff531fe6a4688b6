"""Lineage as a picture: dataset versions → jobs → model versions → deployments → agents, one
column per kind, an arrow per edge; and the list of what uses an asset directly."""

from __future__ import annotations

import plotly.graph_objects as go
import reflex as rx

from components.i18n import TEXT, t, t_choice
from state.preferences import PreferencesState

NODE_COLUMNS = {
    "dataset_version": 0,
    "image": 1,
    "job": 1,
    "model_version": 2,
    "deployment": 3,
    "knowledge_base": 3,
    "agent": 4,
}
_COLORS = {
    "dataset_version": "#0d9488",
    "image": "#64748b",
    "job": "#d97706",
    "model_version": "#2563eb",
    "deployment": "#7c3aed",
    "knowledge_base": "#db2777",
    "agent": "#dc2626",
}
_ROW_GAP = 1.0


def _type_label(node_type: str, lang: str) -> str:
    english, chinese = TEXT.get(f"lineage.type.{node_type}", (node_type, node_type))
    return chinese if lang == "zh" else english


def _positions(rows: list[dict[str, str]]) -> dict[tuple[str, str], tuple[float, float, str]]:
    """(type, id) → (x, y, label): each kind in its column, stacked from the top."""
    nodes: dict[tuple[str, str], str] = {}
    for row in rows:
        nodes.setdefault((row["source_type"], row["source_id"]), row["source"])
        nodes.setdefault((row["target_type"], row["target_id"]), row["target"])
    placed: dict[tuple[str, str], tuple[float, float, str]] = {}
    heights: dict[int, int] = {}
    for (node_type, node_id), label in sorted(nodes.items(), key=lambda item: item[1]):
        column = NODE_COLUMNS.get(node_type, 4)
        row_index = heights.get(column, 0)
        heights[column] = row_index + 1
        placed[(node_type, node_id)] = (float(column), -row_index * _ROW_GAP, label)
    return placed


def lineage_figure(rows: list[dict[str, str]], focus: tuple[str, str], lang: str) -> go.Figure:
    """The edges ``rows`` (see state.asset_views.edge_rows) drawn left to right; ``focus`` is enlarged."""
    placed = _positions(rows)
    figure = go.Figure()
    for row in rows:
        x0, y0, _ = placed[(row["source_type"], row["source_id"])]
        x1, y1, _ = placed[(row["target_type"], row["target_id"])]
        figure.add_annotation(
            x=x1 - 0.06,
            y=y1,
            ax=x0 + 0.06,
            ay=y0,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowsize=1.2,
            arrowwidth=1.5,
            arrowcolor="#94a3b8",
            text="",
        )
        figure.add_trace(
            go.Scatter(
                x=[(x0 + x1) / 2],
                y=[(y0 + y1) / 2],
                mode="markers",
                marker={"size": 6, "color": "#94a3b8"},
                hovertext=[row["relation"]],
                hoverinfo="text",
            )
        )
    keys = list(placed)
    figure.add_trace(
        go.Scatter(
            x=[placed[k][0] for k in keys],
            y=[placed[k][1] for k in keys],
            mode="markers+text",
            text=[placed[k][2] for k in keys],
            textposition="bottom center",
            hovertext=[f"{_type_label(k[0], lang)}: {placed[k][2]}" for k in keys],
            hoverinfo="text",
            marker={
                "size": [26 if k == focus else 16 for k in keys],
                "color": [_COLORS.get(k[0], "#64748b") for k in keys],
                "line": {"width": [3 if k == focus else 0 for k in keys], "color": "#0f172a"},
            },
        )
    )
    columns = sorted({int(placed[k][0]) for k in keys})
    lowest = min((placed[k][1] for k in keys), default=0.0)
    for column in columns:
        kinds = sorted({k[0] for k in keys if placed[k][0] == column})
        figure.add_annotation(
            x=column,
            y=0.7,
            text=" / ".join(_type_label(kind, lang) for kind in kinds),
            showarrow=False,
            font={"size": 12, "color": "#64748b"},
        )
    figure.update_layout(
        showlegend=False,
        height=int(220 + 70 * -lowest),
        margin={"l": 20, "r": 20, "t": 20, "b": 20},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": "#64748b"},
        xaxis={"visible": False, "range": [min(columns, default=0) - 0.6, max(columns, default=0) + 0.6]},
        yaxis={"visible": False, "range": [lowest - 0.8, 1.0]},
    )
    return figure


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
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell(t("lineage.kind")),
                        rx.table.column_header_cell(t("lineage.item")),
                        rx.table.column_header_cell(t("lineage.relation")),
                    )
                ),
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
