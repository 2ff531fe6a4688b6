"""Agents on the OpenAI-compatible gateway: ``/v1/chat/completions`` with model ``agent:<slug>``
runs the agent's active version (the gateway hands such requests here). Any OpenAI client works,
streaming or not; keys need the ``agents:invoke`` scope.

The last user message is the query (the start node's first variable unless ``inputs`` names it);
earlier user and assistant messages are the history; an optional ``conversation_id`` continues a
conversation instead. Knowledge-grounded answers carry ``citations`` (document, chunk) on the
message, and the text ends with a numbered sources list matching the [n] markers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from sqlmodel import Session

from backend.errors import ErrorCode, MedAIError
from backend.runtime import Runtime
from backend.services.agents import definitions as agents
from backend.services.agents import runs as agent_runs
from backend.services.agents.runtime import RunEvent, answer_stream_source
from backend.services.identity.access import Principal

PREFIX = "agent:"


def is_agent_model(model: str) -> bool:
    return model.lower().startswith(PREFIX)


def listed_agents(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The tenant's published agents as /v1/models entries (``agent:<slug>``)."""
    return [
        {
            "id": f"{PREFIX}{a.slug}",
            "object": "model",
            "created": int(a.created_at.timestamp()),
            "owned_by": a.tenant_id,
            "kind": "agent",
        }
        for a in agents.list_agents(session, principal)
        if a.active_version_id
    ]


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content or "")


def _request(body: dict[str, Any]) -> agent_runs.RunRequest:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise MedAIError(ErrorCode.DATA_INVALID, "'messages' must be a non-empty list.", "Send the conversation.")
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        raise MedAIError(ErrorCode.DATA_INVALID, "There is no user message.", "End with the user's question.")
    history = [
        {"role": m["role"], "content": _text(m.get("content"))}
        for m in messages[: users[-1]]
        if m.get("role") in ("user", "assistant")
    ]
    inputs = body.get("inputs") if isinstance(body.get("inputs"), dict) else {}
    conversation = body.get("conversation_id") if isinstance(body.get("conversation_id"), str) else None
    return agent_runs.RunRequest(
        query=_text(messages[users[-1]].get("content")),
        inputs=inputs,
        conversation_id=conversation,
        channel="openai",
        history=None if conversation else history,
    )


def sources(citations: list[dict[str, Any]]) -> str:
    """The numbered sources list that ends a grounded answer."""
    if not citations:
        return ""
    lines = [f"[{c['index']}] {c['document_name']} (chunk {str(c['chunk_id'])[:12]})" for c in citations]
    return "\n\nSources:\n" + "\n".join(lines)


def _usage(data: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(data.get("prompt_tokens", 0)), int(data.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def chat_completions(body: dict[str, Any], principal: Principal, rt: Runtime) -> Any:
    slug = body["model"][len(PREFIX) :].strip().lower()  # slugs are lower case; names match in any case
    request = _request(body)
    stream = await run_in_threadpool(agent_runs.run_by_slug, agent_runs.deps_from(rt), principal, slug, request)
    if body.get("stream"):
        wanted_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(_chunks(stream, body["model"], wanted_usage), media_type="text/event-stream")
    final = await run_in_threadpool(_last, stream.events)
    result = agent_runs.result_of(final)
    message = {"role": "assistant", "content": result.answer + sources(result.citations), "citations": result.citations}
    return JSONResponse(
        {
            "id": f"chatcmpl-{result.run_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": _usage(final.data),
            "citations": result.citations,
            "conversation_id": result.conversation_id,
            "run_id": result.run_id,
        }
    )


def _last(events: Iterator[RunEvent]) -> RunEvent:
    last = None
    for last in events:  # noqa: B007 (the last event is the outcome)
        pass
    assert last is not None
    return last


def _chunk(stream: agent_runs.RunStream, model: str, delta: dict[str, Any], finish: str | None = None) -> str:
    chunk = {
        "id": f"chatcmpl-{stream.run_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


def _chunks(stream: agent_runs.RunStream, model: str, wanted_usage: bool) -> Iterator[str]:
    """OpenAI chunks: the answer's tokens as they come when one LLM node writes the answer,
    otherwise the answer when it is complete; then the sources and citations; errors as OpenAI does."""
    source = answer_stream_source(stream.graph)
    streamed = False
    yield _chunk(stream, model, {"role": "assistant", "content": ""})
    for event in stream.events:
        if event.type == "token" and event.node_id == source:
            streamed = True
            yield _chunk(stream, model, {"content": event.data["text"]})
        elif event.type == "run_failed":
            error = {"message": event.data["error"], "type": "agent_error", "code": ErrorCode.TASK_FAILED.value}
            yield f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
            return
        elif event.type == "run_finished":
            text = ("" if streamed else event.data["answer"]) + sources(event.data["citations"])
            if text:
                yield _chunk(stream, model, {"content": text})
            yield _chunk(stream, model, {"citations": event.data["citations"]}, "stop")
            if wanted_usage:
                usage = {"id": f"chatcmpl-{stream.run_id}", "object": "chat.completion.chunk", "model": model}
                yield f"data: {json.dumps({**usage, 'choices': [], 'usage': _usage(event.data)})}\n\n"
    yield "data: [DONE]\n\n"
