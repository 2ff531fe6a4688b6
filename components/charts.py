"""The training-curve chart: rx.plotly rendering a figure dict that state.figures builds (the
page's colour mode supplies the template)."""

from __future__ import annotations

import plotly.graph_objects as go
import reflex as rx

from components.i18n import t


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
