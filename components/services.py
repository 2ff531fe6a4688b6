"""How a model service's state looks wherever it is listed: a status badge."""

import reflex as rx

from components.i18n import t

STATUSES = ("pending", "starting", "ready", "failed", "stopped")
_COLOR = {"pending": "amber", "starting": "blue", "ready": "green", "failed": "red", "stopped": "gray"}
_ICON = {"pending": "hourglass", "starting": "loader", "ready": "circle-check", "failed": "circle-x", "stopped": "ban"}


def service_badge(status: rx.Var, badge_id: str = "") -> rx.Component:
    props = {"id": badge_id} if badge_id else {}
    return rx.match(
        status,
        *[
            (
                name,
                rx.badge(
                    rx.icon(_ICON[name], size=12),
                    t(f"service.status.{name}"),
                    color_scheme=_COLOR[name],
                    data_status=name,
                    **props,
                ),
            )
            for name in STATUSES
        ],
        rx.badge(status, data_status=status, **props),
    )
