"""/v1: the OpenAI-compatible gateway. The official `openai` client and LangChain's ChatOpenAI
work with ``base_url=<platform>/v1`` and an API key with the models:invoke scope.

A request is checked (key, scope, limits), sent to a ready replica of the named service;
if that replica cannot be reached it goes to the next one, then to the service's standby;
the answer streams back unchanged, and its tokens and latency are metered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from backend.adapters.client_connection import CLIENT_CLOSED_REQUEST, ClientLeftError, unless_hung_up
from backend.adapters.embeddings import BUILTIN_EMBEDDING_MODELS
from backend.adapters.replicas import ReplicaResponse, ReplicaTimeoutError, ReplicaUnreachableError
from backend.api import agent_openai
from backend.api.auth import CurrentPrincipal, RuntimeDep
from backend.errors import ErrorCode, MedAIError
from backend.models.base import utcnow
from backend.runtime import Runtime
from backend.services.agents import definitions as agents
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.serving import gateway

router = APIRouter(prefix="/v1", tags=["gateway"])
logger = logging.getLogger(__name__)


def _limits(rt: Runtime) -> gateway.Limits:
    s = rt.settings
    return gateway.Limits(
        s.gateway_key_requests_per_minute, s.gateway_tenant_requests_per_minute, s.gateway_tenant_tokens_per_minute
    )


def _prompt_text(body: dict[str, Any]) -> str:
    if isinstance(body.get("messages"), list):
        return " ".join(str(m.get("content", "")) for m in body["messages"] if isinstance(m, dict))
    return str(body.get("prompt", ""))


def _meter(
    rt: Runtime,
    principal: Principal,
    route: gateway.Route,
    endpoint: str,
    body: dict[str, Any],
    status: int,
    usage: dict[str, Any] | None,
    served_by: str,
    elapsed_ms: float,
) -> None:
    prompt, completion = int((usage or {}).get("prompt_tokens", 0)), int((usage or {}).get("completion_tokens", 0))
    fields = {
        "at": utcnow(),
        "tenant_id": route.tenant_id,
        "api_key_id": principal.api_key_id,
        "user_id": principal.user_id,
        "deployment_id": route.deployment_id,
        "model": route.model,
        "endpoint": endpoint,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "latency_ms": elapsed_ms,
        "status": status,
        "served_by": served_by,
    }
    rt.usage.add(fields, _prompt_text(body) if gateway.logs_prompts() else "")


def _meter_later(
    rt: Runtime,
    principal: Principal,
    route: gateway.Route,
    endpoint: str,
    body: dict[str, Any],
    status: int,
    started: float,
    usage: dict[str, Any] | None,
    served_by: str,
) -> None:
    """Meter once the answer is on its way: the latency is taken now; on the loop's next turn
    (after the last bytes are written) the usage row joins the next batch, whose writer also
    counts its tokens against the tenant's limit (services/serving/metering.py)."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    asyncio.get_running_loop().call_soon(
        _meter_safely, rt, principal, route, endpoint, body, status, usage, served_by, elapsed_ms
    )


def _meter_safely(*args: Any) -> None:
    try:
        _meter(*args)
    except Exception:  # metering must never break serving; the failure is logged with its trace
        logger.exception("gateway usage could not be recorded")


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


async def _forward(request: Request, principal: Principal, rt: Runtime, endpoint: str) -> Any:
    body = await _body(request)
    routes = await _cached_routes(rt, principal, body["model"])
    routes = gateway.admit(rt.cache, _limits(rt), principal, routes)
    started = time.perf_counter()
    streaming = bool(body.get("stream"))
    asked = body.get("stream_options") or {}
    wanted_usage, wanted_running = bool(asked.get("include_usage")), bool(asked.get("continuous_usage_stats"))
    if streaming:  # ask for the usage in every chunk, so that a stream cut short is metered with what it used
        body = {**body, "stream_options": {**asked, "include_usage": True, "continuous_usage_stats": True}}
    last_error: Exception | None = None
    for index, route in enumerate(routes):
        if index and route.urls:  # the service failed: its standby takes the request within its own limit
            gateway.admit_standby(rt.cache, route)
        for url in route.urls:
            call = rt.replicas.current().post(
                f"{url}/v1/{endpoint}", {**body, "model": route.model}, rt.settings.gateway_timeout_s, streaming
            )
            try:  # a stream hears its client leave as it relays; a whole answer is raced against it
                response, content = await (call if streaming else unless_hung_up(request.receive, call))
            except (ReplicaTimeoutError, ReplicaUnreachableError) as error:
                last_error = error
                continue
            except ClientLeftError:  # the call to the replica was closed: it stops generating
                _meter_later(rt, principal, route, endpoint, body, CLIENT_CLOSED_REQUEST, started, None, url)
                return Response(status_code=CLIENT_CLOSED_REQUEST)
            if response.status >= 500:
                await response.close()
                last_error = MedAIError(ErrorCode.UPSTREAM_FAILED, f"replica answered {response.status}")
                continue
            if not streaming:  # the replica's bytes go back as they are; only the usage is read
                _meter_later(rt, principal, route, endpoint, body, response.status, started, _usage_of(content), url)
                return Response(content, status_code=response.status, media_type="application/json")
            return RelayResponse(
                _relay(response, rt, principal, route, endpoint, body, started, url, (wanted_usage, wanted_running)),
                response.status,
            )
    if isinstance(last_error, ReplicaTimeoutError):
        raise MedAIError(ErrorCode.UPSTREAM_TIMEOUT, f"'{body['model']}' did not answer in time.")
    if not any(route.urls for route in routes):
        raise MedAIError(
            ErrorCode.UPSTREAM_FAILED,
            f"'{body['model']}' has no ready replica.",
            "Wait until the service is ready (Deploy area), or configure a standby service.",
            http_status=503,
        )
    raise MedAIError(ErrorCode.UPSTREAM_FAILED, f"No replica of '{body['model']}' could answer.", http_status=503)


def _routes(rt: Runtime, principal: Principal, model: str) -> list[gateway.Route]:
    with rt.session() as session:
        return gateway.routes(session, principal, model)


async def _cached_routes(rt: Runtime, principal: Principal, model: str) -> list[gateway.Route]:
    """Routes are read from the database at most once a second per model and kind of caller
    (replicas change on the controller's one-second pass anyway). Everything a permission depends
    on in the caller is in the key; a tenant suspended or a service stopped counts within a second."""
    key = (
        principal.tenant_id,
        principal.role,
        principal.scopes,
        principal.must_change_password,
        principal.is_platform_admin,
        model,
    )
    found = rt.route_cache.get(key)
    if found is not None and found[0] > time.monotonic():
        return found[1]
    routes = await run_in_threadpool(_routes, rt, principal, model)
    rt.route_cache[key] = (time.monotonic() + 1.0, routes)
    return routes


def _usage_of(content: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(content)
    except ValueError:
        return None
    return payload.get("usage") if isinstance(payload, dict) else None


# a chunk's usage field: an object (one level of nesting, e.g. prompt_tokens_details) or null
_USAGE_FIELD = re.compile(rb'"usage":\s*(null|\{(?:[^{}]|\{[^{}]*\})*\})')
_NO_CHOICES = re.compile(rb'"choices":\s*\[\s*\]')


class UsageTap:
    """Passes an SSE stream through in whole events, as the bytes came, and keeps the last usage
    an event carries. The gateway asks replicas for the usage so far in every chunk (vLLM's
    ``continuous_usage_stats``), so that a stream cut short is metered with what it used; that
    running usage is taken out of the chunks unless the client asked for it too, and the final
    usage-only event is dropped when the client did not ask for it. Only events that mention
    ``"usage"`` are looked into, and none is decoded."""

    def __init__(self, keep_usage_event: bool, keep_running_usage: bool = False) -> None:
        self._usage: bytes | None = None
        self._keep, self._running = keep_usage_event, keep_running_usage
        self._held = b""

    @property
    def usage(self) -> dict[str, Any] | None:
        if self._usage is None:
            return None
        found = json.loads(self._usage)
        return found if isinstance(found, dict) else None

    def feed(self, chunk: bytes) -> bytes:
        """The complete events so far; a partial event waits for its end."""
        data = self._held + chunk if self._held else chunk
        end = data.rfind(b"\n\n")
        if end < 0:
            self._held = data
            return b""
        ready, self._held = data[: end + 2], data[end + 2 :]
        return self._take_usage(ready) if b'"usage"' in ready else ready

    def rest(self) -> bytes:
        """Whatever followed the last complete event (a replica that ended without a blank line)."""
        held, self._held = self._held, b""
        return self._take_usage(held + b"\n\n")[:-2] if b'"usage"' in held else held

    def _take_usage(self, ready: bytes) -> bytes:
        kept = []
        for event in ready.split(b"\n\n")[:-1]:
            found = _USAGE_FIELD.search(event) if event.startswith(b"data: {") else None
            if found is not None and found.group(1) != b"null":
                self._usage = found.group(1)
                if _NO_CHOICES.search(event):  # the usage-only event that ends the stream
                    if not self._keep:
                        continue
                elif not self._running:
                    event = _without(event, found)
            kept.append(event + b"\n\n")
        return b"".join(kept)


def _without(event: bytes, field: re.Match[bytes]) -> bytes:
    """The event without the field, and without the comma that separated it from its neighbour."""
    start, end = field.span()
    head = event[:start].rstrip()
    if head.endswith(b","):
        return head[:-1] + event[end:]
    tail = event[end:].lstrip()
    return event[:start] + (tail[1:].lstrip() if tail.startswith(b",") else tail)


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


async def _relay(
    response: ReplicaResponse,
    rt: Runtime,
    principal: Principal,
    route: gateway.Route,
    endpoint: str,
    body: dict[str, Any],
    started: float,
    url: str,
    wanted: tuple[bool, bool],
) -> AsyncGenerator[bytes, None]:
    """Pass the stream through as the replica sends it, one write per read; meter it at the end.
    A replica that fails part-way ends the stream with an error event and ``[DONE]`` (as vLLM
    does for its own failures); a client that leaves is metered as 499. ``wanted``: whether the
    client asked for the usage event, and for the usage in every chunk. A stream cut short is
    metered with the usage its last chunk carried."""
    tap = UsageTap(*wanted)
    status = CLIENT_CLOSED_REQUEST  # unless the stream reaches its end or the replica fails
    try:
        try:
            async for chunk in response.chunks():
                ready = tap.feed(chunk)
                if ready:
                    yield ready
            rest = tap.rest()
            if rest:
                yield rest
            status = response.status
        except (ReplicaTimeoutError, ReplicaUnreachableError) as failure:
            timed_out = isinstance(failure, ReplicaTimeoutError)
            status = 504 if timed_out else 502
            yield _error_event(ErrorCode.UPSTREAM_TIMEOUT if timed_out else ErrorCode.UPSTREAM_FAILED, route.model)
    finally:
        await response.close()
        _meter_later(rt, principal, route, endpoint, body, status, started, tap.usage, url)


def _error_event(code: ErrorCode, model: str) -> bytes:
    error = {
        "code": code.value,
        "message": f"'{model}' stopped answering part-way; what came before this event is incomplete.",
        "remedy": "Send the request again; if it keeps happening, look at the service's log in the Deploy area.",
    }
    return f"data: {json.dumps({'error': error})}\n\ndata: [DONE]\n\n".encode()


@router.get("/models")
async def list_models(principal: CurrentPrincipal, rt: RuntimeDep) -> dict[str, Any]:
    """What the caller can call right now, as OpenAI's model list, each with its ``kind``: chat
    services with a ready replica (the tenant's own and the platform's shared ones such as
    ``starter``), the built-in embedding models, and the tenant's published agents
    (``agent:<slug>``). A key sees what its scopes open."""

    def models() -> list[dict[str, Any]]:
        with rt.session() as session:
            services = may(session, principal, Area.SERVING, Action.VIEW)
            published = may(session, principal, Area.AGENTS, Action.VIEW)
            if not services and not published:
                gateway.available_models(session, principal)  # refused, and the refusal is audited
            chat = gateway.callable_models(session, principal) if services else []
            found = [
                {
                    "id": d.name,
                    "object": "model",
                    "created": int(d.created_at.timestamp()),
                    "owned_by": "platform" if d.shared else d.tenant_id,
                    "kind": "chat",
                    "max_model_len": d.max_model_len,
                }
                for d in chat
            ]
            found += [
                {
                    "id": m.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "platform",
                    "kind": "embedding",
                    "dimensions": m.dimensions,
                }
                for m in (BUILTIN_EMBEDDING_MODELS.values() if services else [])
            ]
            return found + [
                {
                    "id": f"agent:{a.slug}",
                    "object": "model",
                    "created": int(a.created_at.timestamp()),
                    "owned_by": a.tenant_id,
                    "kind": "agent",
                }
                for a in (agents.list_agents(session, principal) if published else [])
                if a.active_version_id
            ]

    return {"object": "list", "data": await run_in_threadpool(models)}


@router.post("/chat/completions")
async def chat_completions(request: Request, principal: CurrentPrincipal, rt: RuntimeDep) -> Any:
    """OpenAI chat completions, streaming (SSE) or not; model "agent:<slug>" runs an agent."""
    body = await _body(request)  # the agents hook: their runtime, not a replica, answers them
    if agent_openai.is_agent_model(body["model"]):
        return await agent_openai.chat_completions(body, principal, rt)
    return await _forward(request, principal, rt, "chat/completions")


@router.post("/completions")
async def completions(request: Request, principal: CurrentPrincipal, rt: RuntimeDep) -> Any:
    """OpenAI text completions, streaming (SSE) or not."""
    return await _forward(request, principal, rt, "completions")


@router.post("/embeddings")
async def create_embeddings(request: Request, principal: CurrentPrincipal, rt: RuntimeDep) -> dict[str, Any]:
    """OpenAI embeddings from the platform's built-in models, named in any case: multilingual-e5-small
    (the default; an input is embedded as a passage unless it starts with "query: ") and
    all-MiniLM-L6-v2 (English); both 384 dimensions, L2-normalised."""
    body = await _body(request)
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, str) else inputs
    started = time.perf_counter()

    def run() -> gateway.EmbeddingResult:
        with rt.session() as session:
            embedders = rt.knowledge.builtins
            return gateway.embed(session, principal, rt.cache, _limits(rt), embedders, body["model"], inputs or [])

    result = await run_in_threadpool(run)
    usage = {"prompt_tokens": result.prompt_tokens, "completion_tokens": 0}
    builtin = gateway.Route("builtin", principal.tenant_id or "", result.model, (), 0)
    _meter_later(rt, principal, builtin, "embeddings", {}, 200, started, usage, "builtin")  # tokens count too
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(result.vectors)],
        "model": result.model,
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    }
