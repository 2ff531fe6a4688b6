"""The areas the sidebar lists. Each area's issue adds its entry when its page exists."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    key: str  # translation key, see components.i18n
    route: str
    icon: str  # lucide icon name
    admin_only: bool = False  # shown to platform admins and tenant owners/admins only


AREAS: tuple[Area, ...] = (
    Area("nav.home", "/", "activity"),
    Area("nav.space", "/space", "laptop"),
    Area("nav.research", "/training", "flask-conical"),
    Area("nav.assets", "/assets", "package"),
    Area("nav.deploy", "/serving", "rocket"),
    Area("nav.playground", "/playground", "message-square"),
    Area("nav.agents", "/agents", "bot"),
    Area("nav.knowledge", "/knowledge", "library"),
    Area("nav.orchestration", "/orchestration", "server-cog"),
    Area("nav.ops", "/ops", "gauge"),
    Area("nav.admin", "/admin", "shield-check", admin_only=True),
)
