"""What each agent node does when it runs. Every executor takes the node, the outputs of the
nodes before it (``scope``) and the run's context, and returns a NodeResult: what it was given
(for the trace), its outputs, which of its output handles fire, and the tokens it used."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backend.adapters.envelope import KeyRing
from backend.errors import ErrorCode, MedAIError
from backend.services.agents import code as agent_code
from backend.services.agents import llm as agent_llm
from backend.services.agents import tools as agent_tools
from backend.services.agents.nodes import OUT_HANDLE, SPECS, start_variables
from backend.services.agents.variables import Scope, as_text, render, render_template, resolve
from backend.services.identity.access import Principal

if TYPE_CHECKING:
    from backend.services.knowledge.search import RetrievedChunk

MAX_TOOL_ROUNDS = 5
Emit = Callable[[str, dict[str, Any]], None]  # (event type, data): tokens of a streaming node


@dataclass(frozen=True)
class RunContext:
    """What a run may use; built by the agents service after it authorized the run."""

    tenant_id: str
    models: agent_llm.ModelAccess
    keys: KeyRing
    knowledge: Any  # backend.services.knowledge.index.KnowledgeIndex, or None where there is none
    code_limits: agent_code.CodeLimits
    tool_timeout_s: float

    @property
    def acting(self) -> Principal:
        return self.models.acting


@dataclass
class NodeResult:
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    handles: tuple[str, ...] = (OUT_HANDLE,)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    citations: list[dict[str, Any]] = field(default_factory=list)


def _data(node: dict[str, Any]) -> dict[str, Any]:
    """The node's settings with the catalogue's defaults filled in."""
    given = node.get("data") or {}
    return {s.name: given.get(s.name, s.default) for s in SPECS[node["type"]].settings} | {
        k: v for k, v in given.items() if k not in {s.name for s in SPECS[node["type"]].settings}
    }


def run_start(node: dict[str, Any], scope: Scope, _ctx: RunContext, _emit: Emit) -> NodeResult:
    given = scope.get("start", {})
    declared = (node.get("data") or {}).get("variables") or []
    missing = [v["name"] for v in declared if v.get("required") and not as_text(given.get(v["name"])).strip()]
    if missing:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Missing input: {', '.join(missing)}.", "Give every required input.")
    outputs = {name: given.get(name, "") for name in start_variables(node)} | {"history": given.get("history", [])}
    return NodeResult(dict(given), outputs)


def _messages(data: dict[str, Any], scope: Scope) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = render(str(data.get("system_prompt") or ""), scope).strip()
    if system:
        messages.append({"role": "system", "content": system})
    turns = int(data.get("history_turns") or 0)
    history = scope.get("start", {}).get("history") or []
    if turns > 0 and isinstance(history, list):
        messages += [m for m in history if isinstance(m, dict)][-2 * turns :]
    messages.append({"role": "user", "content": render(str(data.get("prompt") or ""), scope)})
    return messages


def _tool_schemas(ctx: RunContext, refs: list[str]) -> dict[str, agent_tools.ToolInfo]:
    with ctx.models.sessions() as session:
        infos = [agent_tools.tool_info(session, ctx.tenant_id, ref) for ref in refs]
    return {info.name: info for info in infos}


def _function(info: agent_tools.ToolInfo) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": info.name, "description": info.description, "parameters": info.parameters},
    }


def _call_tool(ctx: RunContext, info: agent_tools.ToolInfo, arguments: dict[str, Any]) -> Any:
    with ctx.models.sessions() as session:
        return agent_tools.call_tool(session, ctx.keys, ctx.tenant_id, info.ref, arguments, ctx.tool_timeout_s)


def run_llm(node: dict[str, Any], scope: Scope, ctx: RunContext, emit: Emit) -> NodeResult:
    """A chat completion; with tools, the model may call them (function calling) for a few rounds."""
    data = _data(node)
    messages = _messages(data, scope)
    tools = _tool_schemas(ctx, list(data.get("tools") or []))
    options = {
        "temperature": data.get("temperature"),
        "max_tokens": int(data.get("max_tokens") or 512),
        "tools": [_function(info) for info in tools.values()],
    }
    result = NodeResult({"messages": list(messages), "tools": sorted(tools)}, {})
    calls: list[dict[str, Any]] = []
    for _round in range(MAX_TOOL_ROUNDS + 1):
        completion = agent_llm.chat(
            ctx.models, data["model"], messages, options, lambda text: emit("token", {"text": text})
        )
        result.prompt_tokens += completion.prompt_tokens
        result.completion_tokens += completion.completion_tokens
        if not completion.tool_calls or not tools:
            break
        messages.append(
            {
                "role": "assistant",
                "content": completion.content or None,
                "tool_calls": [
                    {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for c in completion.tool_calls
                ],
            }
        )
        for call in completion.tool_calls:
            answer = _answer_tool_call(ctx, tools, call)
            calls.append({"name": call["name"], "arguments": call["arguments"], "result": answer})
            emit("tool_call", calls[-1])
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": as_text(answer)})
    else:
        raise MedAIError(ErrorCode.TASK_FAILED, "The model kept calling tools.", "Simplify the task or the tools.")
    result.outputs = {"output": completion.content, "tokens": result.prompt_tokens + result.completion_tokens}
    if calls:
        result.outputs["tool_calls"] = calls
    return result


def _answer_tool_call(ctx: RunContext, tools: dict[str, agent_tools.ToolInfo], call: dict[str, Any]) -> Any:
    """The tool's result, or its error as the result (the model may recover from a bad argument)."""
    info = tools.get(call["name"])
    if info is None:
        return {"error": f"There is no tool '{call['name']}'."}
    try:
        arguments = json.loads(call["arguments"] or "{}")
    except json.JSONDecodeError:
        return {"error": "The arguments were not valid JSON."}
    if not isinstance(arguments, dict):
        return {"error": "The arguments must be a JSON object."}
    try:
        return _call_tool(ctx, info, arguments)
    except MedAIError as error:
        if error.code is ErrorCode.FORBIDDEN:
            raise  # an unregistered host is the agent's configuration error, not the model's
        return {"error": error.message}


def knowledge_query(rendered: str) -> tuple[str | None, str]:
    """The query a knowledge node searches for and a notice for its trace: None (skip retrieval)
    when it has no letters or digits; cut to MAX_QUERY_CHARS when longer (documented truncation)."""
    from backend.services.knowledge.search import MAX_QUERY_CHARS, has_words

    query = rendered.strip()
    cut = query[:MAX_QUERY_CHARS].strip()
    if not has_words(cut):
        return None, "Retrieval skipped: the query is empty or has no letters or digits."
    if len(query) > MAX_QUERY_CHARS:
        return cut, f"The query was {len(query)} characters; only its first {MAX_QUERY_CHARS} were searched."
    return query, ""


def citation(index: int, knowledge_base_id: str, chunk: RetrievedChunk) -> dict[str, Any]:
    """A numbered citation: the passage's document, its place there (start_char/end_char, None when
    unknown) for opening the document at it, and its text."""
    return {
        "index": index,
        "knowledge_base_id": knowledge_base_id,
        "document_id": chunk.document_id,
        "document_name": chunk.document_name,
        "chunk_id": chunk.chunk_id,
        "start_char": chunk.start_char,
        "end_char": chunk.end_char,
        "score": round(chunk.score, 4),
        "text": chunk.text[:1000],
    }


def run_knowledge(node: dict[str, Any], scope: Scope, ctx: RunContext, _emit: Emit) -> NodeResult:
    """Retrieve from each knowledge base, keep the best ``top_k`` overall, number them as citations."""
    from backend.services.knowledge import (
        bases as knowledge,  # the knowledge area is optional for graphs without this node
    )

    data = _data(node)
    rendered = render(str(data.get("query") or ""), scope)
    query, notice = knowledge_query(rendered)
    top_k, threshold = int(data.get("top_k") or 4), float(data.get("threshold") or 0.0)
    if ctx.knowledge is None:
        raise MedAIError(ErrorCode.CONFIG_INVALID, "Knowledge retrieval is not set up here.", "Check the runtime.")
    inputs = {
        "query": rendered if query is None else query,
        "knowledge_bases": data.get("knowledge_bases"),
        "top_k": top_k,
    }
    if query is None:  # nothing to search for: no passages, and the run goes on
        return NodeResult(inputs, {"output": "", "citations": [], "notice": notice})
    found = []
    with ctx.models.sessions() as session:
        for kb_id in data.get("knowledge_bases") or []:
            hits = knowledge.retrieve(session, ctx.knowledge, ctx.acting, kb_id, query, top_k, threshold or None)
            found += [(kb_id, hit) for hit in hits]
    found.sort(key=lambda pair: pair[1].score, reverse=True)
    citations = [citation(n, kb_id, c) for n, (kb_id, c) in enumerate(found[:top_k], start=1)]
    context = "\n\n".join(f"[{c['index']}] ({c['document_name']}) {c['text']}" for c in citations)
    outputs = {"output": context, "citations": citations} | ({"notice": notice} if notice else {})
    return NodeResult(inputs, outputs, citations=citations)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compare(left: Any, operator: str, right: Any) -> bool:
    text, other = as_text(left), as_text(right)
    if operator in ("greater_than", "less_than"):
        a, b = _number(left), _number(right)
        if a is None or b is None:
            raise MedAIError(ErrorCode.TASK_FAILED, f"Cannot compare '{text}' and '{other}' as numbers.", "Fix it.")
        return a > b if operator == "greater_than" else a < b
    checks = {
        "equals": lambda: text == other,
        "not_equals": lambda: text != other,
        "contains": lambda: other in text,
        "not_contains": lambda: other not in text,
        "is_empty": lambda: not text.strip(),
        "not_empty": lambda: bool(text.strip()),
    }
    if operator not in checks:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown operator '{operator}'.", "Pick one from the list.")
    return checks[operator]()


def run_condition(node: dict[str, Any], scope: Scope, _ctx: RunContext, _emit: Emit) -> NodeResult:
    data = _data(node)
    left, right = resolve(data.get("variable"), scope), resolve(data.get("value") or "", scope)
    result = compare(left, str(data.get("operator")), right)
    inputs = {"left": left, "operator": data.get("operator"), "right": right}
    return NodeResult(inputs, {"result": result}, ("true" if result else "false",))


def run_classifier(node: dict[str, Any], scope: Scope, ctx: RunContext, _emit: Emit) -> NodeResult:
    """The model names one class; an answer naming none falls back to the first class (marked)."""
    data = _data(node)
    classes = [str(c) for c in data.get("classes") or []]
    text = render(str(data.get("input") or ""), scope)
    instructions = render(str(data.get("instructions") or ""), scope)
    system = (
        "Classify the user's input into exactly one of these classes: "
        + "; ".join(classes)
        + ". Answer with the class name only."
        + (f"\n{instructions}" if instructions else "")
    )
    messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    completion = agent_llm.chat(ctx.models, data["model"], messages, {"temperature": 0, "max_tokens": 32})
    answer = completion.content.strip().lower()
    chosen = next((c for c in sorted(classes, key=len, reverse=True) if c.lower() in answer), None)
    outputs = {"class": chosen or classes[0], "fallback": chosen is None, "raw": completion.content[:200]}
    result = NodeResult({"input": text, "classes": classes}, outputs, (outputs["class"],))
    result.prompt_tokens, result.completion_tokens = completion.prompt_tokens, completion.completion_tokens
    return result


def run_tool(node: dict[str, Any], scope: Scope, ctx: RunContext, _emit: Emit) -> NodeResult:
    data = _data(node)
    arguments = resolve(data.get("arguments") or {}, scope)
    with ctx.models.sessions() as session:
        info = agent_tools.tool_info(session, ctx.tenant_id, str(data["tool"]))
    output = _call_tool(ctx, info, arguments)
    return NodeResult({"tool": info.name, "arguments": arguments}, {"output": output})


def run_code(node: dict[str, Any], scope: Scope, ctx: RunContext, _emit: Emit) -> NodeResult:
    data = _data(node)
    inputs = resolve(data.get("inputs") or {}, scope)
    output = agent_code.run_code(str(data["code"]), inputs, ctx.code_limits)
    return NodeResult({"inputs": inputs}, {"output": output})


def run_template(node: dict[str, Any], scope: Scope, _ctx: RunContext, _emit: Emit) -> NodeResult:
    data = _data(node)
    return NodeResult({}, {"output": render_template(str(data.get("template") or ""), scope)})


def run_answer(node: dict[str, Any], scope: Scope, _ctx: RunContext, _emit: Emit) -> NodeResult:
    data = _data(node)
    return NodeResult({}, {"output": render(str(data.get("answer") or ""), scope)}, ())


EXECUTORS: dict[str, Callable[[dict[str, Any], Scope, RunContext, Emit], NodeResult]] = {
    "start": run_start,
    "llm": run_llm,
    "knowledge": run_knowledge,
    "condition": run_condition,
    "classifier": run_classifier,
    "tool": run_tool,
    "code": run_code,
    "template": run_template,
    "answer": run_answer,
}
