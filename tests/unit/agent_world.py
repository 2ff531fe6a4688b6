"""What the agent tests share: a real local HTTP server that speaks OpenAI's chat API (streaming
and not, with function calling), registered as a ready replica of a tenant's model service so
agent runs reach it through the gateway's routing; a small HTTP tool server; and builders.

The fake model is scripted, so tests can assert exact answers:
- a system prompt starting "Classify" gets the class named by a keyword (chest pain -> emergency,
  fever -> urgent, else routine);
- with tools offered, a user message with "convert" first gets a unit_convert call, one with
  "icd" an icd10_lookup call; after the tool result it answers "Tool said: <result>";
- otherwise it answers "Echo: <last user message>" word by word, and cites [1] when the system
  prompt holds numbered passages.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlmodel import select

from backend.models import Deployment, Replica
from backend.services.assets import model_registry
from backend.services.identity.access import Principal
from backend.services.serving import deployments as serving


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerThread:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    requests: list[dict[str, Any]] = field(default_factory=list)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(app: FastAPI) -> ServerThread:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), f"uvicorn could not start on port {port}"
        time.sleep(0.02)
    return ServerThread(f"http://127.0.0.1:{port}", server, thread)


def _reply(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    messages = body.get("messages") or []
    system = next((m["content"] for m in messages if m.get("role") == "system"), "") or ""
    last = messages[-1] if messages else {"role": "user", "content": ""}
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "") or ""
    if system.startswith("Classify"):
        text = user.lower()
        return ("emergency" if "chest pain" in text else "urgent" if "fever" in text else "routine"), []
    if last.get("role") == "tool":
        return f"Tool said: {last['content']}", []
    names = {t["function"]["name"] for t in body.get("tools") or []}
    if "unit_convert" in names and "convert" in user.lower():
        arguments = {"value": 180, "from_unit": "mg/dL", "to_unit": "mmol/L", "analyte": "glucose"}
        return "", [{"id": "call_1", "name": "unit_convert", "arguments": json.dumps(arguments)}]
    if "icd10_lookup" in names and "icd" in user.lower():
        return "", [{"id": "call_1", "name": "icd10_lookup", "arguments": json.dumps({"query": "E11"})}]
    cite = " [1]" if "[1]" in system else ""
    return f"Echo: {user}{cite}", []


def _usage(body: dict[str, Any], text: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages") or [])
    completion = max(1, len(text.split()))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chunks(body: dict[str, Any], text: str, calls: list[dict[str, Any]]) -> Iterator[str]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": body.get("model")}
    words = text.split(" ")
    for n, word in enumerate(words):
        delta = {"content": word if n == 0 else " " + word}
        yield "data: " + json.dumps({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    for index, call in enumerate(calls):
        delta = {
            "tool_calls": [
                {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ]
        }
        yield "data: " + json.dumps({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    finish = "tool_calls" if calls else "stop"
    yield "data: " + json.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        yield "data: " + json.dumps({**base, "choices": [], "usage": _usage(body, text)})
    yield "data: [DONE]"


def fake_openai_app(requests: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        requests.append(body)
        text, calls = _reply(body)
        if body.get("stream"):
            lines = (line + "\n\n" for line in _chunks(body, text, calls))
            return StreamingResponse(lines, media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in calls
            ]
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        return JSONResponse({"id": "x", "object": "chat.completion", "choices": [choice], "usage": _usage(body, text)})

    return app


def tool_app(requests: list[dict[str, Any]]) -> FastAPI:
    """A hospital's HTTP API a custom tool calls: GET /drugs/{name}?dose=.. echoes what it got."""
    app = FastAPI()

    @app.get("/drugs/{name}")
    async def drug(name: str, request: Request) -> dict[str, Any]:
        requests.append({"name": name, "query": dict(request.query_params), "headers": dict(request.headers)})
        return {"drug": name, "dose": request.query_params.get("dose"), "auth": request.headers.get("x-api-key")}

    @app.get("/slow")
    async def slow() -> dict[str, Any]:
        import asyncio

        await asyncio.sleep(3)
        return {"late": True}

    return app


def start_fake_openai() -> ServerThread:
    requests: list[dict[str, Any]] = []
    found = serve(fake_openai_app(requests))
    found.requests = requests
    return found


def start_tool_server() -> ServerThread:
    requests: list[dict[str, Any]] = []
    found = serve(tool_app(requests))
    found.requests = requests
    return found


def add_model_service(rt, principal: Principal, name: str, url: str) -> Deployment:
    """A model service of ``principal``'s tenant whose one ready replica is at ``url``."""
    with rt.session() as session:
        version = model_registry.register_version(
            session,
            rt.objects,
            principal,
            model_registry.VersionSpec(model_name=f"{name}-model"),
            [("model.safetensors", io.BytesIO(b"weights"))],
            "upload",
        )
        deployment = serving.deploy(session, principal, serving.DeploySpec(name, version.id))
        deployment.status = "ready"
        session.add(deployment)
        session.add(
            Replica(deployment_id=deployment.id, model_version_id=version.id, ordinal=0, url=url, status="ready")
        )
    with rt.session() as session:
        return session.exec(select(Deployment).where(Deployment.name == name)).one()


def node(node_id: str, kind: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "position": {"x": 0.0, "y": 0.0}, "data": data}


def edge(source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    return {
        "id": f"{source}-{target}-{handle}",
        "source": source,
        "target": target,
        "sourceHandle": handle,
        "targetHandle": None,
    }


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A straight graph through ``nodes`` in order."""
    ids = [n["id"] for n in nodes]
    return {"nodes": list(nodes), "edges": [edge(a, b) for a, b in pairwise(ids)]}


START = node("start", "start", variables=[{"name": "question", "label": "Question", "required": True}])
