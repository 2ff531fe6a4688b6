"""REST API mounted in the Reflex backend via ``api_transformer``.

``/api`` carries the platform REST API (one router per domain), ``/v1`` the
OpenAI-compatible gateway; the schema is at ``/openapi.json`` and docs at ``/docs``.
"""

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI

from backend.api import (
    agents,
    assets,
    audit,
    gateway,
    health,
    identity,
    knowledge,
    ops,
    samples,
    serving,
    space,
    training,
)
from backend.api.errors import install_error_handlers, unknown_path_router

# One router per domain; each area's issue appends its own. The gateway comes first: routes are
# matched in order, and /v1 carries the traffic.
ROUTERS: tuple[APIRouter, ...] = (
    gateway.router,
    health.router,
    identity.router,
    audit.router,
    assets.router,
    training.router,
    serving.router,
    space.router,
    ops.router,
    knowledge.router,
    agents.router,
    samples.router,
)


def create_api(routers: Iterable[APIRouter] = ROUTERS) -> FastAPI:
    api = FastAPI(
        title="MedAI Studio API",
        version="0.1.0",
        description="Platform REST API (/api) and OpenAI-compatible gateway (/v1).",
    )
    install_error_handlers(api)
    for router in routers:
        api.include_router(router)
    api.include_router(unknown_path_router)  # last: /api/* and /v1/* never fall through to the UI
    return api


app = create_api()
