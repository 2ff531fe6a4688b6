"""How a model service's state looks wherever it is listed: a status badge."""

import reflex as rx

from components.badges import status_badge

STATUSES = ("pending", "starting", "ready", "failed", "stopped")
_COLOR = {"pending": "amber", "starting": "blue", "ready": "green", "failed": "red", "stopped": "gray"}
_ICON = {"pending": "hourglass", "starting": "loader", "ready": "circle-check", "failed": "circle-x", "stopped": "ban"}


def service_badge(status: rx.Var, badge_id: str = "") -> rx.Component:
    """A model service's status: icon, translated label, colour and ``data-status``."""
    props = {"id": badge_id} if badge_id else {}
    return status_badge(status, _COLOR, "service.status", mark=True, icons=_ICON, **props)
