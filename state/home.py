"""Home page: platform health, from the same service as GET /api/health."""

import asyncio

import reflex as rx

from backend.runtime import get_runtime
from backend.services.ops import health
from state.auth import AuthState

COMPONENTS = health.COMPONENTS  # for the page, which imports no backend


class HomeState(AuthState):
    components: dict[str, dict[str, str]] = {}
    overall: str = ""
    checked_at: str = ""
    loading: bool = False

    @rx.event
    async def refresh(self):  # noqa: ANN201 (Reflex event generator)
        if not self.signed_in:  # the sign-in guard ran first and is sending the browser to /login
            return
        self.loading = True
        yield
        try:
            report = await asyncio.to_thread(health.check_platform, get_runtime())
        finally:
            self.loading = False
        self.overall = report.status
        self.checked_at = report.checked_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        self.components = {
            c.name: {
                "backend": c.backend,
                "target": c.target,
                "status": c.status,
                "detail": c.detail,
                "latency": f"{c.latency_ms:.0f} ms",
            }
            for c in report.components
        }
