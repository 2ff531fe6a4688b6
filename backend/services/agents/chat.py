"""Simple chat agents (a prompt, a model, knowledge bases and tools; no canvas), compiled to the
same graph the runtime runs: Start -> [Knowledge] -> LLM (function calling) -> Answer.

Chat config: ``{"model", "system_prompt", "knowledge_bases": [ids], "top_k", "tools": [refs],
"temperature", "max_tokens", "history_turns"}``."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from backend.services.agents.nodes import Problem

DEFAULTS: dict[str, Any] = {
    "model": "",
    "system_prompt": "You are a careful clinical assistant. Answer briefly.",
    "knowledge_bases": [],
    "top_k": 4,
    "tools": [],
    "temperature": 0.7,
    "max_tokens": 512,
    "history_turns": 5,
}
CITE = "Answer from the numbered passages below and cite them like [1].\n\n{{knowledge.output}}"


def _node(node_id: str, kind: str, x: float, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "position": {"x": x, "y": 0.0}, "data": data}


def _edge(source: str, target: str) -> dict[str, Any]:
    return {"id": f"{source}-{target}", "source": source, "target": target, "sourceHandle": None, "targetHandle": None}


def compile_chat(config: dict[str, Any]) -> dict[str, Any]:
    """The runnable graph of a chat agent's config."""
    c = {**DEFAULTS, **(config or {})}
    grounded = bool(c["knowledge_bases"])
    system = str(c["system_prompt"] or "")
    if grounded:
        system = f"{system}\n\n{CITE}".strip()
    nodes = [_node("start", "start", 0, {"variables": [{"name": "question", "label": "Question", "required": True}]})]
    if grounded:
        nodes.append(
            _node(
                "knowledge",
                "knowledge",
                250,
                {"knowledge_bases": list(c["knowledge_bases"]), "query": "{{start.question}}", "top_k": c["top_k"]},
            )
        )
    llm = {
        "model": c["model"],
        "system_prompt": system,
        "prompt": "{{start.question}}",
        "temperature": c["temperature"],
        "max_tokens": c["max_tokens"],
        "history_turns": c["history_turns"],
        "tools": list(c["tools"]),
    }
    nodes += [_node("llm", "llm", 500, llm), _node("answer", "answer", 750, {"answer": "{{llm.output}}"})]
    chain = [n["id"] for n in nodes]
    return {"nodes": nodes, "edges": [_edge(a, b) for a, b in pairwise(chain)]}


def config_problems(config: dict[str, Any]) -> list[Problem]:
    """Problems of the config's own fields (the compiled graph is validated on top)."""
    problems = []
    unknown = sorted(set(config or {}) - set(DEFAULTS))
    if unknown:
        problems.append(Problem(None, unknown[0], "invalid_setting", f"Unknown chat setting '{unknown[0]}'."))
    return problems
