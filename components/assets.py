"""Badges the asset pages share: an asset's status and the mark of a platform-provided model."""

import reflex as rx

from components.badges import status_badge
from components.i18n import t

STATUS_COLORS = {"pending_deploy": "amber", "deployed": "green", "retired": "gray", "active": "green"}


def asset_status(status: rx.Var) -> rx.Component:
    """A model, version or image status, translated and coloured."""
    return status_badge(status, STATUS_COLORS, "asset_status")


def platform_badge(name: rx.Var) -> rx.Component:
    """A model the platform provides to every tenant, read-only (the starter model)."""
    return rx.tooltip(
        rx.badge(
            rx.icon("shield-check", size=10), t("assets.platform"), color_scheme="violet", id="platform-badge-" + name
        ),
        content=t("assets.platform_hint"),
    )
