"""The areas the sidebar lists (each area's issue adds its entry when its page exists) and the
tabs between the pages of one area."""

from dataclasses import dataclass

import reflex as rx

from components.i18n import t


@dataclass(frozen=True)
class Area:
    key: str  # translation key, see components.i18n
    route: str
    icon: str  # lucide icon name
    admin_only: bool = False  # shown to platform admins and tenant owners/admins only
    former: str = ""  # the area's name before it was renamed: its old element id keeps working


AREAS: tuple[Area, ...] = (
    Area("nav.home", "/", "activity"),
    Area("nav.space", "/space", "laptop"),
    Area("nav.training", "/training", "flask-conical", former="research"),
    Area("nav.assets", "/assets", "package"),
    Area("nav.serving", "/serving", "rocket", former="deploy"),
    Area("nav.playground", "/playground", "message-square"),
    Area("nav.agents", "/agents", "bot"),
    Area("nav.knowledge", "/knowledge", "library"),
    Area("nav.orchestration", "/orchestration", "server-cog"),
    Area("nav.ops", "/ops", "gauge"),
    Area("nav.admin", "/admin", "shield-check", admin_only=True),
)


def area_tabs(current: str) -> rx.Component:
    """The Orchestration area's two pages."""
    return rx.hstack(
        *[
            rx.link(
                rx.button(rx.icon(icon, size=14), t(key), variant="solid" if route == current else "soft", size="2"),
                href=route,
            )
            for route, key, icon in (
                ("/orchestration", "orch.pools_and_queues", "server-cog"),
                ("/orchestration/pipelines", "pipe.title", "workflow"),
            )
        ],
        spacing="2",
    )
