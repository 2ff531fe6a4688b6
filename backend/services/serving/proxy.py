"""The /v1 gateway's forwarding, behind the router's HTTP framing (backend/api/gateway.py): the
routes per model (cached for a second), admission, failover from a replica that cannot be
reached to the next one and then to the standby, the replica's SSE stream passed through with
its usage tapped, and metering once the answer is on its way.

The decisions that read the database or the cache (routes, limits, usage rows) are in
``gateway``; this module moves the bytes and keeps the counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anyio import to_thread
from sqlmodel import Session

from backend.adapters.cache import Cache
from backend.adapters.client_connection import CLIENT_CLOSED_REQUEST, ClientLeftError, unless_hung_up
from backend.adapters.embeddings import BuiltinEmbedder
from backend.adapters.replicas import ReplicaClients, ReplicaResponse, ReplicaTimeoutError, ReplicaUnreachableError
from backend.errors import ErrorCode, MedAIError
from backend.models.base import utcnow
from backend.services.identity.access import Principal
from backend.services.serving import gateway
from backend.services.serving.metering import UsageWriter

if TYPE_CHECKING:
    from backend.runtime import Runtime

logger = logging.getLogger(__name__)
ROUTES_TTL_S = 1.0

Receive = Callable[[], Awaitable[dict[str, Any]]]  # the request's ASGI receive: only the hang-up is left


class RouteCache:
    """The gateway's routes, read from the database at most once a second per model and kind of
    caller (replicas change on the controller's one-second pass anyway). Everything a permission
    depends on in the caller is in the key; a tenant suspended or a service stopped counts within a
    second. One per process (the runtime holds it)."""

    def __init__(self) -> None:
        self._found: dict[tuple, tuple[float, list[gateway.Route]]] = {}

    async def routes(
        self, sessions: Callable[[], AbstractContextManager[Session]], principal: Principal, model: str
    ) -> list[gateway.Route]:
        key = (
            principal.tenant_id,
            principal.role,
            principal.scopes,
            principal.must_change_password,
            principal.is_platform_admin,
            model,
        )
        found = self._found.get(key)
        if found is not None and found[0] > time.monotonic():
            return found[1]
        routes = await to_thread.run_sync(_read_routes, sessions, principal, model)
        self._found[key] = (time.monotonic() + ROUTES_TTL_S, routes)
        return routes


def _read_routes(
    sessions: Callable[[], AbstractContextManager[Session]], principal: Principal, model: str
) -> list[gateway.Route]:
    with sessions() as session:
        return gateway.routes(session, principal, model)


@dataclass(frozen=True)
class GatewayDeps:
    """What forwarding needs from the process (see ``deps_from``)."""

    sessions: Callable[[], AbstractContextManager[Session]]
    cache: Cache
    replicas: ReplicaClients
    usage: UsageWriter
    routes: RouteCache
    limits: gateway.Limits
    timeout_s: float


def deps_from(rt: Runtime) -> GatewayDeps:
    """The gateway's collaborators and limits, read from the settings at each request."""
    s = rt.settings
    return GatewayDeps(
        sessions=rt.session,
        cache=rt.cache,
        replicas=rt.replicas,
        usage=rt.usage,
        routes=rt.route_cache,
        limits=gateway.Limits(
            s.gateway_key_requests_per_minute, s.gateway_tenant_requests_per_minute, s.gateway_tenant_tokens_per_minute
        ),
        timeout_s=s.gateway_timeout_s,
    )


@dataclass(frozen=True)
class Answer:
    """What goes back to the client: a whole answer (the replica's JSON bytes as they are), an
    event stream, or nothing (``status`` 499: the client left first)."""

    status: int
    content: bytes | None = None
    stream: AsyncGenerator[bytes, None] | None = None


@dataclass(frozen=True)
class _Call:
    """One request on its way, for metering."""

    deps: GatewayDeps
    principal: Principal
    endpoint: str
    body: dict[str, Any]
    started: float


async def forward(
    principal: Principal, deps: GatewayDeps, endpoint: str, body: dict[str, Any], receive: Receive
) -> Answer:
    """Send the request to a ready replica of the named service; one that cannot be reached hands
    it to the next, then to the service's standby (within the standby's own limit). ``body`` is the
    client's (checked: a JSON object with a "model"); ``receive`` hears the client hang up while a
    whole answer is worked out."""
    routes = await deps.routes.routes(deps.sessions, principal, body["model"])
    routes = gateway.admit(deps.cache, deps.limits, principal, routes)
    started = time.perf_counter()
    streaming = bool(body.get("stream"))
    asked = body.get("stream_options") or {}
    wanted_usage, wanted_running = bool(asked.get("include_usage")), bool(asked.get("continuous_usage_stats"))
    if streaming:  # ask for the usage in every chunk, so that a stream cut short is metered with what it used
        body = {**body, "stream_options": {**asked, "include_usage": True, "continuous_usage_stats": True}}
    call = _Call(deps, principal, endpoint, body, started)
    last_error: Exception | None = None
    for index, route in enumerate(routes):
        if index and route.urls:  # the service failed: its standby takes the request within its own limit
            gateway.admit_standby(deps.cache, route)
        for url in route.urls:
            sent = deps.replicas.current().post(
                f"{url}/v1/{endpoint}", {**body, "model": route.model}, deps.timeout_s, streaming
            )
            try:  # a stream hears its client leave as it relays; a whole answer is raced against it
                response, content = await (sent if streaming else unless_hung_up(receive, sent))
            except (ReplicaTimeoutError, ReplicaUnreachableError) as error:
                last_error = error
                continue
            except ClientLeftError:  # the call to the replica was closed: it stops generating
                _meter_later(call, route, CLIENT_CLOSED_REQUEST, None, url)
                return Answer(CLIENT_CLOSED_REQUEST)
            if response.status >= 500:
                await response.close()
                last_error = MedAIError(ErrorCode.UPSTREAM_FAILED, f"replica answered {response.status}")
                continue
            if not streaming:  # the replica's bytes go back as they are; only the usage is read
                _meter_later(call, route, response.status, _usage_of(content), url)
                return Answer(response.status, content=content)
            return Answer(response.status, stream=relay(response, call, route, url, (wanted_usage, wanted_running)))
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


async def embeddings(
    session: Session,
    principal: Principal,
    deps: GatewayDeps,
    embedders: Mapping[str, BuiltinEmbedder],
    model: str,
    inputs: list[str],
) -> gateway.EmbeddingResult:
    """Embeddings from a built-in model (``gateway.embed``, off the event loop), metered like any
    request: their tokens count against the tenant's limit too."""
    started = time.perf_counter()
    result = await to_thread.run_sync(
        gateway.embed, session, principal, deps.cache, deps.limits, embedders, model, inputs
    )
    usage = {"prompt_tokens": result.prompt_tokens, "completion_tokens": 0}
    builtin = gateway.Route("builtin", principal.tenant_id or "", result.model, (), 0)
    _meter_later(_Call(deps, principal, "embeddings", {}, started), builtin, 200, usage, "builtin")
    return result


def _prompt_text(body: dict[str, Any]) -> str:
    if isinstance(body.get("messages"), list):
        return " ".join(str(m.get("content", "")) for m in body["messages"] if isinstance(m, dict))
    return str(body.get("prompt", ""))


def _meter(
    call: _Call,
    route: gateway.Route,
    status: int,
    usage: dict[str, Any] | None,
    served_by: str,
    elapsed_ms: float,
) -> None:
    prompt, completion = int((usage or {}).get("prompt_tokens", 0)), int((usage or {}).get("completion_tokens", 0))
    fields = {
        "at": utcnow(),
        "tenant_id": route.tenant_id,
        "api_key_id": call.principal.api_key_id,
        "user_id": call.principal.user_id,
        "deployment_id": route.deployment_id,
        "model": route.model,
        "endpoint": call.endpoint,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "latency_ms": elapsed_ms,
        "status": status,
        "served_by": served_by,
    }
    call.deps.usage.add(fields, _prompt_text(call.body) if gateway.logs_prompts() else "")


def _meter_later(call: _Call, route: gateway.Route, status: int, usage: dict[str, Any] | None, served_by: str) -> None:
    """Meter once the answer is on its way: the latency is taken now; on the loop's next turn
    (after the last bytes are written) the usage row joins the next batch, whose writer also
    counts its tokens against the tenant's limit (metering.py)."""
    elapsed_ms = (time.perf_counter() - call.started) * 1000
    asyncio.get_running_loop().call_soon(_meter_safely, call, route, status, usage, served_by, elapsed_ms)


def _meter_safely(*args: Any) -> None:
    try:
        _meter(*args)
    except Exception:  # metering must never break serving; the failure is logged with its trace
        logger.exception("gateway usage could not be recorded")


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


async def relay(
    response: ReplicaResponse, call: _Call, route: gateway.Route, url: str, wanted: tuple[bool, bool]
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
        _meter_later(call, route, status, tap.usage, url)


def _error_event(code: ErrorCode, model: str) -> bytes:
    error = {
        "code": code.value,
        "message": f"'{model}' stopped answering part-way; what came before this event is incomplete.",
        "remedy": "Send the request again; if it keeps happening, look at the service's log in the Deploy area.",
    }
    return f"data: {json.dumps({'error': error})}\n\ndata: [DONE]\n\n".encode()
