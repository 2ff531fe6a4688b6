"""How a training job's state looks wherever it is listed: a status badge and a progress bar."""

import reflex as rx

from components.badges import status_badge as badge

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
_COLOR = {"queued": "amber", "running": "blue", "succeeded": "green", "failed": "red", "cancelled": "gray"}
_ICON = {
    "queued": "hourglass",
    "running": "loader",
    "succeeded": "circle-check",
    "failed": "circle-x",
    "cancelled": "ban",
}


def status_badge(status: rx.Var, badge_id: str = "") -> rx.Component:
    """A training job's status: icon, translated label, colour and ``data-status``."""
    props = {"id": badge_id} if badge_id else {}
    return badge(status, _COLOR, "job.status", mark=True, icons=_ICON, **props)


def progress_bar(percent: rx.Var, label: rx.Var | str = "", bar_id: str = "") -> rx.Component:
    props = {"id": bar_id} if bar_id else {}
    return rx.hstack(
        rx.progress(value=percent, max=100, width="100%", min_width="80px", **props),
        rx.text(label, size="1", color=rx.color("gray", 11), white_space="nowrap"),
        align="center",
        spacing="2",
        width="100%",
    )
