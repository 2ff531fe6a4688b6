"""The agent runtime: a validated graph compiled to a LangGraph StateGraph and run, streaming
events (node started / token / tool call / node finished or failed / run finished or failed).

Every canvas node becomes one LangGraph node; an edge becomes a LangGraph edge, and a node with
several incoming edges waits for all of them (``add_edge([a, b], c)``). Branches work by
activation: a node that ran marks the output handles that fire (a condition only "true" or
"false", a classifier only its class); a node none of whose incoming edges fired is skipped, and
skipping passes on, so each node runs at most once and joins after a branch do not wait forever.
The first failing node stops the run, and the run's error names it.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from backend.errors import ErrorCode, MedAIError
from backend.services.agents.executors import EXECUTORS, NodeResult, RunContext
from backend.services.agents.nodes import REFERENCE, SYSTEM, edge_handle, index, validate

logger = logging.getLogger(__name__)
TRACE_TEXT_LIMIT = 4000


@dataclass(frozen=True)
class RunEvent:
    type: str  # run_started node_started token tool_call node_finished node_failed node_skipped run_finished run_failed
    node_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunOutcome:
    status: str = "running"  # succeeded | failed
    answer: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    error_code: str = ""
    failed_node: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {**left, **right}


class _State(TypedDict):
    scope: Annotated[dict[str, Any], _merge]  # node id -> outputs; "start" and "sys" seeded
    fired: Annotated[list[str], operator.add]  # "source:handle" of every output that fired


class _NodeFailedError(Exception):
    def __init__(self, node_id: str, error: MedAIError) -> None:
        super().__init__(error.message)
        self.node_id, self.error = node_id, error


def _clip(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= TRACE_TEXT_LIMIT else value[:TRACE_TEXT_LIMIT] + "…"
    if isinstance(value, dict):
        return {k: _clip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip(v) for v in value[:200]]
    return value


def _as_medai(node_id: str, error: Exception) -> MedAIError:
    if isinstance(error, MedAIError):
        return error
    logger.exception("agent node %s failed unexpectedly", node_id, exc_info=error)
    return MedAIError(ErrorCode.TASK_FAILED, f"{type(error).__name__}: {str(error)[:300]}")


def _node_function(node: dict[str, Any], incoming: list[str], ctx: RunContext):  # noqa: ANN202 (LangGraph node)
    node_id, kind = node["id"], node["type"]
    executor = EXECUTORS[kind]

    def run(state: _State) -> dict[str, Any]:
        write = get_stream_writer()
        if incoming and not any(wire in state["fired"] for wire in incoming):
            write(RunEvent("node_skipped", node_id, {"type": kind}))
            return {}
        write(RunEvent("node_started", node_id, {"type": kind}))
        started = time.perf_counter()

        def emit(event: str, data: dict[str, Any]) -> None:
            write(RunEvent(event, node_id, data))

        try:
            result: NodeResult = executor(node, dict(state["scope"]), ctx, emit)
        except Exception as error:  # any failure stops the run, named after this node
            failure = _as_medai(node_id, error)
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            write(
                RunEvent(
                    "node_failed",
                    node_id,
                    {"type": kind, "error": failure.message, "code": failure.code.value, "latency_ms": elapsed},
                )
            )
            raise _NodeFailedError(node_id, failure) from error
        write(
            RunEvent(
                "node_finished",
                node_id,
                {
                    "type": kind,
                    "input": result.inputs,
                    "output": result.outputs,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "citations": result.citations,
                },
            )
        )
        return {"scope": {node_id: result.outputs}, "fired": [f"{node_id}:{handle}" for handle in result.handles]}

    return run


def compile_graph(graph: dict[str, Any], ctx: RunContext) -> Any:
    """The LangGraph program for a graph ``validate`` accepts (DATA_INVALID when it does not)."""
    problems = validate(graph)
    if problems:
        first = problems[0]
        where = f" (node {first.node_id})" if first.node_id else ""
        raise MedAIError(ErrorCode.DATA_INVALID, f"The graph cannot run: {first.message}{where}", "Fix the graph.")
    found = index(graph)
    builder = StateGraph(_State)
    before: dict[str, list[str]] = {node_id: [] for node_id in found.nodes}
    wires: dict[str, list[str]] = {node_id: [] for node_id in found.nodes}
    for edge in found.edges:
        if edge["source"] not in before[edge["target"]]:
            before[edge["target"]].append(edge["source"])
        wires[edge["target"]].append(f"{edge['source']}:{edge_handle(edge)}")
    for node_id, node in found.nodes.items():
        builder.add_node(node_id, _node_function(node, wires[node_id], ctx))
    has_successor = {edge["source"] for edge in found.edges}
    for node_id in found.nodes:
        sources = before[node_id]
        if not sources:
            builder.add_edge(START, node_id)
        elif len(sources) == 1:
            builder.add_edge(sources[0], node_id)
        else:
            builder.add_edge(sources, node_id)
        if node_id not in has_successor:
            builder.add_edge(node_id, END)
    return builder.compile()


def execute(
    graph: dict[str, Any], inputs: dict[str, Any], system: dict[str, Any], ctx: RunContext
) -> Iterator[RunEvent]:
    """Run ``graph`` with the start node's ``inputs`` (plus ``history``) and the ``sys`` variables;
    yields events, the last being run_finished or run_failed with the RunOutcome in ``data``."""
    outcome = RunOutcome()
    started = time.perf_counter()
    try:
        program = compile_graph(graph, ctx)
        seed: _State = {"scope": {"start": dict(inputs), SYSTEM: dict(system)}, "fired": []}
        limit = 2 * len(graph.get("nodes") or []) + 10
        for event in program.stream(seed, stream_mode="custom", config={"recursion_limit": limit}):
            _record(outcome, event)
            yield event
    except _NodeFailedError as failed:
        outcome.status, outcome.failed_node = "failed", failed.node_id
        outcome.error = f"Node '{failed.node_id}' failed: {failed.error.message}"
        outcome.error_code = failed.error.code.value
    except MedAIError as error:
        outcome.status, outcome.error, outcome.error_code = "failed", error.message, error.code.value
    if outcome.status != "failed":
        outcome.status = "succeeded"
    data = {"outcome": outcome, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    yield RunEvent("run_finished" if outcome.status == "succeeded" else "run_failed", outcome.failed_node or None, data)


def _record(outcome: RunOutcome, event: RunEvent) -> None:
    """Keep the trace, tokens, citations and the answer as events pass."""
    data = event.data
    if event.type == "node_finished":
        outcome.trace.append(
            {
                "node_id": event.node_id,
                "type": data["type"],
                "status": "succeeded",
                "input": _clip(data["input"]),
                "output": _clip(data["output"]),
                "latency_ms": data["latency_ms"],
                "prompt_tokens": data["prompt_tokens"],
                "completion_tokens": data["completion_tokens"],
                "error": "",
            }
        )
        outcome.prompt_tokens += data["prompt_tokens"]
        outcome.completion_tokens += data["completion_tokens"]
        outcome.citations += data["citations"]
        if data["type"] == "answer":
            text = str(data["output"].get("output", ""))
            outcome.answer = f"{outcome.answer}\n\n{text}" if outcome.answer else text
    elif event.type == "node_failed":
        outcome.trace.append(
            {
                "node_id": event.node_id,
                "type": data["type"],
                "status": "failed",
                "input": {},
                "output": {},
                "latency_ms": data["latency_ms"],
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "error": data["error"],
            }
        )
    elif event.type == "node_skipped":
        outcome.trace.append({"node_id": event.node_id, "type": data["type"], "status": "skipped"})


def answer_stream_source(graph: dict[str, Any]) -> str | None:
    """The LLM node whose tokens are the answer as they come: when the only Answer node's text is
    exactly ``{{<llm>.output}}``. None otherwise (the answer is sent when it is complete)."""
    answers = [n for n in graph.get("nodes") or [] if n.get("type") == "answer"]
    if len(answers) != 1:
        return None
    match = REFERENCE.fullmatch(str((answers[0].get("data") or {}).get("answer", "")).strip())
    if match is None or match.group(2) != ".output":
        return None
    source = next((n for n in graph["nodes"] if n.get("id") == match.group(1)), None)
    return match.group(1) if source is not None and source.get("type") == "llm" else None
