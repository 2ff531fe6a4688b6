"""/v1: the OpenAI-compatible gateway. The official `openai` client and LangChain's ChatOpenAI
work with ``base_url=<platform>/v1`` and an API key with the models:invoke scope.

A request is checked (key, scope, limits), sent to a ready replica of the named service;
if that replica cannot be reached it goes to the next one, then to the service's standby;
the answer streams back unchanged, and its tokens and latency are metered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from backend.api import agent_openai
from backend.api.auth import CurrentPrincipal, RuntimeDep
from backend.api.dependencies import SessionDep
from backend.errors import ErrorCode, MedAIError
from backend.services.identity.access import may
from backend.services.identity.permissions import Action, Area
from backend.services.serving import gateway, proxy

router = APIRouter(prefix="/v1", tags=["gateway"])


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise MedAIError(ErrorCode.DATA_INVALID, "The body must be a JSON object with a 'model'.", "Name a model.")
    if not isinstance(body.get("stream_options") or {}, dict):
        remedy = 'Send {"include_usage": true} or leave it out.'
        raise MedAIError(ErrorCode.DATA_INVALID, "'stream_options' must be an object.", remedy)
    return body


def _response(answer: proxy.Answer) -> Response:
    if answer.stream is not None:
        return RelayResponse(answer.stream, answer.status)
    if answer.content is None:  # the client left first
        return Response(status_code=answer.status)
    return Response(answer.content, status_code=answer.status, media_type="application/json")


class RelayResponse(StreamingResponse):
    """A replica's event stream on its way to the client, each piece written as it comes.

    Starlette's StreamingResponse starts a task group with a second task per response to hear a
    client hang up; on this machine that costs about a quarter of a millisecond per request. Here
    the hang-up is one pending ``receive()`` (the request body was read before, so a hang-up is
    the only message left), looked at before each piece: a client that left ends the relay, and
    with it the replica's request, at the next token.
    """

    def __init__(self, pieces: AsyncGenerator[bytes, None], status_code: int) -> None:
        super().__init__(pieces, status_code=status_code, media_type="text/event-stream")
        self._pieces = pieces

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        hung_up = asyncio.ensure_future(receive())
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for piece in self._pieces:
                if hung_up.done():
                    return
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # how servers on ASGI 2.4 report a client that hung up
            return
        finally:
            hung_up.cancel()
            await self._pieces.aclose()


@router.get("/models")
def list_models(principal: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
    """What the caller can call right now, as OpenAI's model list, each with its ``kind``: chat
    services with a ready replica (the tenant's own and the platform's shared ones such as
    ``starter``), the built-in embedding models, and the tenant's published agents
    (``agent:<slug>``). A key sees what its scopes open."""
    published = may(session, principal, Area.AGENTS, Action.VIEW)
    found = [
        {
            "id": m.id,
            "object": "model",
            "created": m.created,
            "owned_by": m.owned_by,
            "kind": m.kind,
            **({"max_model_len": m.max_model_len} if m.max_model_len is not None else {}),
            **({"dimensions": m.dimensions} if m.dimensions is not None else {}),
        }
        for m in gateway.listed_models(session, principal, sees_others=published)
    ]
    return {"object": "list", "data": found + (agent_openai.listed_agents(session, principal) if published else [])}


@router.post("/chat/completions")
async def chat_completions(request: Request, principal: CurrentPrincipal, rt: RuntimeDep) -> Any:
    """OpenAI chat completions, streaming (SSE) or not; model "agent:<slug>" runs an agent."""
    body = await _body(request)  # the agents hook: their runtime, not a replica, answers them
    if agent_openai.is_agent_model(body["model"]):
        return await agent_openai.chat_completions(body, principal, rt)
    return _response(await proxy.forward(principal, proxy.deps_from(rt), "chat/completions", body, request.receive))


@router.post("/completions")
async def completions(request: Request, principal: CurrentPrincipal, rt: RuntimeDep) -> Any:
    """OpenAI text completions, streaming (SSE) or not."""
    body = await _body(request)
    return _response(await proxy.forward(principal, proxy.deps_from(rt), "completions", body, request.receive))


@router.post("/embeddings")
async def create_embeddings(
    request: Request, principal: CurrentPrincipal, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    """OpenAI embeddings from the platform's built-in models, named in any case: multilingual-e5-small
    (the default; an input is embedded as a passage unless it starts with "query: ") and
    all-MiniLM-L6-v2 (English); both 384 dimensions, L2-normalised."""
    body = await _body(request)
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, str) else inputs
    deps = proxy.deps_from(rt)
    result = await proxy.embeddings(session, principal, deps, rt.knowledge.builtins, body["model"], inputs or [])
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(result.vectors)],
        "model": result.model,
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    }
