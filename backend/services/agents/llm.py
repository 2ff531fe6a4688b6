"""Agents' calls to deployed models, on the gateway's own path: the service is resolved by
``gateway.routes`` (tenant, standby), admitted by ``gateway.admit`` (key, tenant, service and token
limits), sent to a ready replica's OpenAI chat API (the next replica, then the standby, when one
cannot be reached), streamed token by token, and metered with ``gateway.record_usage``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import Session

from backend.adapters.cache import Cache
from backend.errors import ErrorCode, MedAIError
from backend.models import UsageRecord
from backend.services.identity.access import Principal
from backend.services.serving import gateway

_RETRYABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)


@dataclass(frozen=True)
class ModelAccess:
    """How an agent run reaches models: as the agent (``acting``), counted against the caller."""

    sessions: Callable[[], AbstractContextManager[Session]]
    cache: Cache
    limits: gateway.Limits
    acting: Principal  # resolves the service in the agent's tenant
    caller: Principal  # whose key and limits the request counts against
    timeout_s: float = 120.0


@dataclass
class Completion:
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", "arguments" (JSON text)}
    prompt_tokens: int = 0
    completion_tokens: int = 0


def chat(
    access: ModelAccess,
    model: str,
    messages: list[dict[str, Any]],
    options: dict[str, Any],
    on_token: Callable[[str], None] | None = None,
) -> Completion:
    """One streamed chat completion from the service ``model``; ``options`` holds temperature,
    max_tokens and tools (OpenAI's function schema), passed on as they are."""
    with access.sessions() as session:
        routes = gateway.routes(session, access.acting, model)
    routes = gateway.admit(access.cache, access.limits, access.caller, routes)
    body = {
        **{k: v for k, v in options.items() if v not in (None, [])},
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    last_error: Exception | None = None
    with httpx.Client(trust_env=False) as client:
        for index, route in enumerate(routes):
            if index and route.urls:  # the service failed: its standby takes it within its own limit
                gateway.admit_standby(access.cache, route)
            for url in route.urls:
                try:
                    result = _stream(
                        client, f"{url}/v1/chat/completions", {**body, "model": route.model}, access, on_token
                    )
                except _UnreachableError as error:
                    last_error = error.cause
                    continue
                _meter(access, route, 200, result, url, started, messages)
                return result
    _meter(access, routes[0], 503, Completion(), "", started, messages)
    if isinstance(last_error, httpx.TimeoutException):
        raise MedAIError(ErrorCode.UPSTREAM_TIMEOUT, f"'{model}' did not answer in time.", "Retry later.")
    if not any(route.urls for route in routes):
        raise MedAIError(
            ErrorCode.UPSTREAM_FAILED, f"'{model}' has no ready replica.", "Wait until the service is ready."
        )
    raise MedAIError(ErrorCode.UPSTREAM_FAILED, f"No replica of '{model}' could answer.", "Retry later.")


class _UnreachableError(Exception):
    """This replica could not take the request before any token came back: try the next one."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _stream(
    client: httpx.Client,
    url: str,
    body: dict[str, Any],
    access: ModelAccess,
    on_token: Callable[[str], None] | None,
) -> Completion:
    try:
        with client.stream("POST", url, json=body, timeout=access.timeout_s) as response:
            if response.status_code >= 500:
                raise _UnreachableError(
                    MedAIError(ErrorCode.UPSTREAM_FAILED, f"replica answered {response.status_code}")
                )
            if response.status_code >= 400:
                response.read()
                raise MedAIError(
                    ErrorCode.UPSTREAM_FAILED,
                    f"The model refused the request ({response.status_code}): {response.text[:300]}",
                    "Check the model's settings (max tokens, context length).",
                )
            return _collect(_events(response.iter_lines()), on_token)
    except (httpx.TimeoutException, *_RETRYABLE) as error:
        raise _UnreachableError(error) from error


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            yield json.loads(line[6:])


def _collect(chunks: Iterator[dict[str, Any]], on_token: Callable[[str], None] | None) -> Completion:
    result, calls = Completion(), {}
    parts: list[str] = []
    for chunk in chunks:
        if chunk.get("usage"):
            result.prompt_tokens = int(chunk["usage"].get("prompt_tokens", 0))
            result.completion_tokens = int(chunk["usage"].get("completion_tokens", 0))
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                parts.append(delta["content"])
                if on_token is not None:
                    on_token(delta["content"])
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call.get("index", 0), {"id": "", "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
    result.content = "".join(parts)
    result.tool_calls = [calls[i] for i in sorted(calls)]
    return result


def _meter(
    access: ModelAccess,
    route: gateway.Route,
    status: int,
    result: Completion,
    url: str,
    started: float,
    messages: list[dict[str, Any]],
) -> None:
    gateway.count_tokens(access.cache, route.tenant_id, result.prompt_tokens + result.completion_tokens)
    row = UsageRecord(
        tenant_id=route.tenant_id,
        api_key_id=access.caller.api_key_id,
        user_id=access.caller.user_id,
        deployment_id=route.deployment_id,
        model=route.model,
        endpoint="agent/chat",
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        latency_ms=(time.perf_counter() - started) * 1000,
        status=status,
        served_by=url[-32:],
    )
    with access.sessions() as session:
        gateway.record_usage(session, row, " ".join(str(m.get("content", "")) for m in messages))
