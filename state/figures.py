"""Plotly figures the state builds for the pages: training curves lined up by training step (EMA
smoothing as TensorBoard applies it), gateway traffic, and the lineage graph. Plain dicts or
go.Figure values; the rx components that render them live in components.charts and components.lineage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import plotly.graph_objects as go

from ui_text import TEXT

Curve = tuple[list[float], list[float]]  # (steps, values)
PALETTE = ("#0d9488", "#6366f1", "#f59e0b", "#ef4444", "#8b5cf6", "#0ea5e9", "#84cc16", "#ec4899")


class SeriesLike(Protocol):
    field: str
    times: list[Any]
    values: list[float]


def by_step(series: Iterable[SeriesLike], name: str) -> Curve:
    """``name``'s values against the training step logged with them (the same point in time)."""
    fields = {s.field: s for s in series}
    target = fields.get(name)
    if target is None:
        return [], []
    step = fields.get("step")
    step_at = dict(zip(step.times, step.values, strict=False)) if step else {}
    steps = [float(step_at.get(moment, index + 1)) for index, moment in enumerate(target.times)]
    return steps, [float(v) for v in target.values]


def latest(series: Iterable[SeriesLike], name: str) -> float | None:
    for s in series:
        if s.field == name and s.values:
            return float(s.values[-1])
    return None


def ema(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing (``weight`` 0: the values as they are)."""
    weight = min(max(weight, 0.0), 0.999)
    smoothed, last = [], 0.0
    for index, value in enumerate(values):
        last = last * weight + (1 - weight) * value
        smoothed.append(last / (1 - weight ** (index + 1)) if weight else value)
    return smoothed


def trace(name: str, curve: Curve, color: str, *, faint: bool = False, markers: bool = True) -> dict[str, Any]:
    steps, values = curve
    return {
        "type": "scatter",
        "mode": "lines+markers" if markers else "lines",
        "name": name,
        "x": steps,
        "y": values,
        "line": {"color": color, "width": 1 if faint else 2},
        "marker": {"color": color, "size": 5},
        "opacity": 0.35 if faint else 1.0,
    }


def figure(traces: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": traces, "layout": {}}


def traffic_figure(services: list[tuple[str, list[str], list[int], list[float]]]) -> dict[str, Any]:
    """Gateway traffic of several services over the same minutes: requests per minute as stacked bars,
    median latency as a dotted line per service on its own axis (no point for a minute without requests)."""
    data: list[dict[str, Any]] = []
    for index, (name, minutes, requests, latency_ms) in enumerate(s for s in services if any(s[2])):
        color = PALETTE[index % len(PALETTE)]
        data.append({"type": "bar", "x": minutes, "y": requests, "name": f"{name} req/min", "marker": {"color": color}})
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": minutes,
                "y": [v if n else None for v, n in zip(latency_ms, requests, strict=True)],
                "yaxis": "y2",
                "name": f"{name} p50 ms",
                "line": {"color": color, "dash": "dot", "width": 1.5},
                "marker": {"size": 4},
            }
        )
    if not data:
        return {}
    layout = {
        "barmode": "stack",
        "height": 220,
        "margin": {"l": 48, "r": 48, "t": 8, "b": 36},
        "yaxis": {"title": {"text": "req/min"}, "rangemode": "tozero"},
        "yaxis2": {"title": {"text": "p50 ms"}, "overlaying": "y", "side": "right", "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.3},
        "paper_bgcolor": "rgba(0,0,0,0)",
    }
    return {"data": data, "layout": layout}


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
