"""Training curves for rx.plotly: metric series lined up by training step, EMA smoothing as
TensorBoard applies it, and plain figure dicts (the page's colour mode supplies the template)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import plotly.graph_objects as go
import reflex as rx

from components.i18n import t

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


def chart(data: rx.Var, chart_id: str, y_key: str, height: int = 320) -> rx.Component:
    """A line chart of ``data`` (a figure dict state var) against the training step."""
    return rx.plotly.basic(
        data=data.to(go.Figure),
        layout={
            "height": height,
            "margin": {"l": 56, "r": 16, "t": 16, "b": 44},
            "xaxis": {"title": {"text": t("chart.step")}},
            "yaxis": {"title": {"text": t(y_key)}},
            "legend": {"orientation": "h", "y": -0.25},
            "paper_bgcolor": "rgba(0,0,0,0)",
        },
        config={"displaylogo": False, "responsive": True},
        id=chart_id,
        width="100%",
    )
