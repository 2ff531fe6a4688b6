"""A streaming client of an OpenAI-compatible chat endpoint, used by the Playground to talk
to this platform's own /v1 gateway as the signed-in person (so every check and meter applies)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from backend.errors import ErrorCode, MedAIError

STREAM_TIMEOUT_S = 300


@dataclass(frozen=True)
class Chunk:
    """One server-sent event of a streamed chat completion."""

    delta: str = ""
    usage: dict[str, Any] | None = None
    done: bool = False
    error: str = ""


def parse_event(line: str) -> Chunk | None:
    """An SSE line as text, usage or the end; None for blank lines and comments."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return Chunk(done=True)
    try:
        payload = json.loads(data)
    except json.JSONDecodeError:
        return None
    if "error" in payload:
        error = payload["error"]
        return Chunk(error=error.get("message", str(error)) if isinstance(error, dict) else str(error))
    choices = payload.get("choices") or []
    delta = "".join(str((c.get("delta") or {}).get("content") or "") for c in choices)
    return Chunk(delta=delta, usage=payload.get("usage"))


def gateway_error(status: int, body: bytes) -> MedAIError:
    """The gateway's error answer as the platform's error (shown as a toast). An engine's own
    refusal (OpenAI's shape, relayed by the gateway) keeps its message."""
    try:
        error = json.loads(body)["error"]
        if error["code"] in ErrorCode.__members__:
            return MedAIError(ErrorCode(error["code"]), error["message"], error.get("remedy", ""))
        if 400 <= status < 500:
            remedy = "Change the parameters the message names (for example Max tokens) and send again."
            return MedAIError(ErrorCode.DATA_INVALID, f"The model refused the request: {error['message']}", remedy)
    except (ValueError, KeyError, TypeError):
        pass
    return MedAIError(ErrorCode.UPSTREAM_FAILED, f"The gateway answered {status}.", "Try again in a moment.")


async def stream_chat(base_url: str, token: str, body: dict[str, Any]) -> AsyncIterator[Chunk]:
    """POST to ``base_url``/v1/chat/completions with ``token`` as Bearer and yield its events."""
    url = base_url.rstrip("/") + "/v1/chat/completions"
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(STREAM_TIMEOUT_S, connect=10)) as client,
        client.stream(
            "POST", url, json={**body, "stream": True, "stream_options": {"include_usage": True}}, headers=headers
        ) as response,
    ):
        if response.status_code != 200:
            raise gateway_error(response.status_code, await response.aread())
        async for line in response.aiter_lines():
            chunk = parse_event(line)
            if chunk is not None:
                yield chunk
                if chunk.done:
                    return
