"""How a training job's state looks wherever it is listed: a status badge and a progress bar."""

import reflex as rx

from components.i18n import t

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
    props = {"id": badge_id} if badge_id else {}
    return rx.match(
        status,
        *[
            (
                name,
                rx.badge(
                    rx.icon(_ICON[name], size=12),
                    t(f"job.status.{name}"),
                    color_scheme=_COLOR[name],
                    data_status=name,
                    **props,
                ),
            )
            for name in STATUSES
        ],
        rx.badge(status, data_status=status, **props),
    )


def progress_bar(percent: rx.Var, label: rx.Var | str = "", bar_id: str = "") -> rx.Component:
    props = {"id": bar_id} if bar_id else {}
    return rx.hstack(
        rx.progress(value=percent, max=100, width="100%", min_width="80px", **props),
        rx.text(label, size="1", color=rx.color("gray", 11), white_space="nowrap"),
        align="center",
        spacing="2",
        width="100%",
    )
