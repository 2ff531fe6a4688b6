"""Pieces the AI-space pages share: a workbench's status badge."""

import reflex as rx

from components.badges import status_badge

STATUS_COLORS = {
    "pending_approval": "amber",
    "rejected": "gray",
    "starting": "blue",
    "running": "green",
    "stopping": "blue",
    "stopped": "gray",
    "failed": "red",
}


def workbench_status(status: rx.Var, badge_id: str = "") -> rx.Component:
    """A workbench's status, translated, coloured and marked with ``data-status``."""
    props = {"id": badge_id} if badge_id else {}
    return status_badge(status, STATUS_COLORS, "space.status", mark=True, **props)
