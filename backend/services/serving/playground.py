"""The Playground's use cases: the services it offers to chat with (and whether the starter model
is still being prepared), and the chat itself, streamed through the platform's own /v1 gateway as
the signed-in person, so keys, limits, routing and metering apply as for any client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from backend.adapters.chat_stream import Chunk, stream_chat
from backend.errors import ErrorCode, MedAIError
from backend.services.identity.access import Principal
from backend.services.serving import gateway
from backend.services.serving.starter_model import SERVICE_NAME as STARTER
from backend.settings import get_settings


@dataclass
class Choices:
    """What the service picker offers: the ready services, and the starter model's state while it
    is not ready yet ("" when it is ready, stopped or not provided)."""

    services: list[str] = field(default_factory=list)
    starter_status: str = ""


def service_choices(session: Session, principal: Principal, starter_preparing: bool = False) -> Choices:
    """The tenant's and the platform's ready services; ``starter_preparing``: the process is
    converting the starter model for its first start (it counts as pending)."""
    available = gateway.available_models(session, principal)
    ready = sorted(d.name for d in available if d.status == "ready")
    starting = next((d.status for d in available if d.name == STARTER and d.status != "ready"), "")
    if not starting and starter_preparing and STARTER not in ready:  # the first start converts it
        starting = "pending"
    return Choices(ready, starting)


async def chat(session_token: str, body: dict[str, Any]) -> AsyncIterator[Chunk]:
    """The answer's events from /v1/chat/completions, asked as the holder of ``session_token``;
    an error event raises UPSTREAM_FAILED. Closing this stream hangs up on the gateway, which
    ends the replica's request."""
    async with contextlib.aclosing(stream_chat(get_settings().public_url, session_token, body)) as chunks:
        async for chunk in chunks:
            if chunk.error:
                raise MedAIError(ErrorCode.UPSTREAM_FAILED, chunk.error, "Try again, or check the service's log.")
            yield chunk
