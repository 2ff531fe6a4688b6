"""The builder's run/debug panel: run the draft graph with a message, follow each node as it
starts and finishes (tokens streamed into the answer), then read the per-node trace (input,
output, latency, tokens) and the answer with its citations."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from backend.services.agents import definitions as agents
from backend.services.agents import runs as agent_runs
from backend.services.agents.runtime import RunEvent
from state.agent_builder import AgentBuilderState, problem_rows
from state.auth import run_as_user
from state.feedback import error_toast
from state.knowledge_document import document_href

TEXT_LIMIT = 1500


def shown(value: Any) -> str:
    """A trace value as readable text, clipped for the table."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1, default=str)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + " …"


def trace_row(step: dict[str, Any]) -> dict[str, str]:
    tokens = int(step.get("prompt_tokens") or 0) + int(step.get("completion_tokens") or 0)
    latency = step.get("latency_ms")
    return {
        "node_id": str(step.get("node_id") or ""),
        "type": str(step.get("type") or ""),
        "status": str(step.get("status") or ""),
        "input": shown(step.get("input", "")) if step.get("input") not in (None, {}) else "",
        "output": shown(step.get("output", "")) if step.get("output") not in (None, {}) else "",
        "latency": f"{latency:.0f} ms" if isinstance(latency, int | float) else "",
        "tokens": str(tokens) if tokens else "",
        "error": str(step.get("error") or ""),
    }


def _offset(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def citation_row(citation: dict[str, Any]) -> dict[str, str]:
    """A citation as the panels show it; ``href`` opens its document at the passage ("" for a
    citation recorded before citations named their knowledge base)."""
    score = citation.get("score")
    href = document_href(
        str(citation.get("knowledge_base_id") or ""),
        str(citation.get("document_id") or ""),
        _offset(citation.get("start_char")),
        _offset(citation.get("end_char")),
    )
    return {
        "document": str(citation.get("document_name") or citation.get("document") or citation.get("document_id", "")),
        "chunk": str(citation.get("chunk_id", "")),
        "text": shown(str(citation.get("text", ""))),
        "score": f"{score:.3f}" if isinstance(score, int | float) else "",
        "href": href,
    }


class RunView:
    """Folds run events into what the panel shows."""

    def __init__(self) -> None:
        self.progress: dict[str, str] = {}  # node id -> running | succeeded | failed | skipped
        self.answer = ""
        self.conversation_id = ""

    def apply(self, event: RunEvent) -> dict[str, Any] | None:
        """Take one event; returns what the run ended with when it ended."""
        if event.type == "run_started":
            self.conversation_id = str(event.data.get("conversation_id", ""))
        elif event.type == "node_started" and event.node_id:
            self.progress[event.node_id] = "running"
        elif event.type in _DONE and event.node_id:
            self.progress[event.node_id] = _DONE[event.type]
        elif event.type == "token":
            self.answer += str(event.data.get("text", ""))
        elif event.type in ("run_finished", "run_failed"):
            data = event.data
            return {
                "status": "succeeded" if event.type == "run_finished" else "failed",
                "answer": data.get("answer") or ("" if event.type == "run_failed" else self.answer),
                "error": str(data.get("error") or ""),
                "failed_node": str(data.get("failed_node") or ""),
                "trace": [trace_row(step) for step in data.get("trace") or []],
                "citations": [citation_row(c) for c in data.get("citations") or []],
                "tokens": int(data.get("prompt_tokens") or 0) + int(data.get("completion_tokens") or 0),
            }
        return None


_DONE = {"node_finished": "succeeded", "node_failed": "failed", "node_skipped": "skipped"}


async def follow_run(
    token: str, address: str, agent_id: str, request: agent_runs.RunRequest
) -> AsyncIterator[RunEvent]:
    """Start a run as the signed-in person and yield its events as the runtime produces them
    (the run itself goes on in a worker thread, with its own short transactions)."""
    principal, deps = await asyncio.to_thread(
        run_as_user, token, address, lambda rt, _session, principal: (principal, agent_runs.deps_from(rt))
    )
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[RunEvent | BaseException | None] = asyncio.Queue()

    def work() -> None:
        try:
            for event in agent_runs.start_run(deps, principal, agent_id, request).events:
                loop.call_soon_threadsafe(queue.put_nowait, event)
        except BaseException as error:  # handed to the page, which shows it as a toast
            loop.call_soon_threadsafe(queue.put_nowait, error)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    worker = asyncio.ensure_future(asyncio.to_thread(work))
    while (item := await queue.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item
    await worker


class AgentRunState(AgentBuilderState):
    message: str = ""
    running: bool = False
    progress: list[dict[str, str]] = []
    answer: str = ""
    status: str = ""
    error: str = ""
    failed_node: str = ""
    trace: list[dict[str, str]] = []
    citations: list[dict[str, str]] = []
    summary: str = ""
    conversation_id: str = ""

    @rx.event
    def set_message(self, text: str) -> None:
        self.message = text

    @rx.event
    def new_conversation(self) -> None:
        self.conversation_id, self.answer, self.trace, self.citations, self.progress = "", "", [], [], []
        self.status = self.error = self.failed_node = self.summary = ""

    @rx.event(background=True)
    async def run(self):  # noqa: ANN201 (Reflex event generator)
        async with self:
            if self.running or not self.message.strip():
                return
            self.running, self.answer, self.trace, self.citations, self.progress = True, "", [], [], []
            self.status = self.error = self.failed_node = self.summary = ""
            token, address = self.session_token, self.router.session.client_ip
            agent_id, mode, graph, chat = self.agent_id, self.mode, self.graph, self.chat_config
            request = agent_runs.RunRequest(
                query=self.message.strip(), conversation_id=self.conversation_id or None, draft=True, channel="draft"
            )
        view, started = RunView(), time.monotonic()
        try:  # a test run runs the saved draft: what is on the canvas is saved first
            problems = await asyncio.to_thread(
                run_as_user,
                token,
                address,
                lambda _rt, s, principal: agents.save_editor_draft(s, principal, agent_id, mode, graph, chat),
            )
            async with self:
                self.dirty, self.problems = False, problem_rows(problems)
            async for event in follow_run(token, address, agent_id, request):
                ended = view.apply(event)
                async with self:
                    self.progress = [{"node_id": k, "status": v} for k, v in view.progress.items()]
                    self.answer, self.conversation_id = view.answer, view.conversation_id or self.conversation_id
                    if ended:
                        self._show_outcome(ended, time.monotonic() - started)
        except Exception as error:  # the run could not start (no right, unpublished ...)
            async with self:
                self.running = False
            yield error_toast(error)
            return
        async with self:
            self.running = False

    def _show_outcome(self, ended: dict[str, Any], seconds: float) -> None:
        self.status, self.answer, self.error = ended["status"], ended["answer"], ended["error"]
        self.failed_node, self.trace, self.citations = ended["failed_node"], ended["trace"], ended["citations"]
        self.summary = f"{seconds * 1000:.0f} ms · {ended['tokens']} tokens"
