"""Reflex configuration, derived from backend.settings (MEDAI_* variables)."""

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from backend.settings import get_settings

settings = get_settings()

config = rx.Config(
    app_name="medai_app",
    # One port serves the UI, /api and /v1 (`reflex run --env prod`), bound to MEDAI_HOST.
    backend_host=settings.host,
    frontend_port=settings.port,
    backend_port=settings.port,
    api_url=settings.public_url,
    deploy_url=settings.public_url,
    redis_url=settings.redis_url or None,
    state_manager_mode="redis" if settings.redis_url else "disk",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="teal", gray_color="slate", radius="medium", appearance="inherit")
        )
    ],
    disable_plugins=[SitemapPlugin],
)
