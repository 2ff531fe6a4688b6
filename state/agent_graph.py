"""What the builder page does with a graph between the canvas and the service, without I/O:
merge what the canvas sends with the settings the side panel owns, describe the selected node's
settings as form fields (from NODE_SPECS, labelled from ui_text.agent_nodes), and turn a field's
text back into a setting value."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from backend.services.agents.nodes import SPECS, Setting, catalogue, label_key, option_key
from ui_text.agent_nodes import TEXT

EMPTY_GRAPH: dict[str, Any] = {"nodes": [], "edges": []}
NODE_CATALOGUE: list[dict[str, Any]] = catalogue(TEXT)  # what the canvas renders its palette and forms from


def label(key: str, fallback: str) -> tuple[str, str]:
    """The (English, Chinese) text of ``key``; ``fallback`` in both when the table lacks it."""
    return TEXT.get(key, (fallback, fallback))


def merge_canvas(server: dict[str, Any], canvas: dict[str, Any]) -> dict[str, Any]:
    """The canvas owns structure (which nodes, where, which edges); the side panel owns settings.
    A node the server already knows keeps the server's ``data``; a new one (dropped, pasted,
    brought back by undo) brings its own."""
    known = {n.get("id"): n.get("data") or {} for n in server.get("nodes") or [] if isinstance(n, dict)}
    nodes = []
    for node in canvas.get("nodes") or []:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            continue
        data = known.get(node["id"], node.get("data") or {})
        position = node.get("position") or {}
        nodes.append(
            {
                "id": node["id"],
                "type": str(node.get("type", "")),
                "position": {"x": float(position.get("x", 0)), "y": float(position.get("y", 0))},
                "data": data,
            }
        )
    edges = [
        {
            "id": str(e.get("id", "")),
            "source": str(e.get("source", "")),
            "target": str(e.get("target", "")),
            "sourceHandle": e.get("sourceHandle"),
            "targetHandle": e.get("targetHandle"),
        }
        for e in canvas.get("edges") or []
        if isinstance(e, dict)
    ]
    return {"nodes": nodes, "edges": edges}


def find_node(graph: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    return next((n for n in graph.get("nodes") or [] if n.get("id") == node_id), None)


def with_setting(graph: dict[str, Any], node_id: str, name: str, value: Any) -> dict[str, Any]:
    """``graph`` with one node's setting replaced (a new dict; the old one is untouched)."""
    nodes = [
        {**n, "data": {**(n.get("data") or {}), name: value}} if n.get("id") == node_id else n
        for n in graph.get("nodes") or []
    ]
    return {**graph, "nodes": nodes}


@dataclass
class Choice:
    value: str = ""
    label_en: str = ""
    label_zh: str = ""
    checked: bool = False


@dataclass
class PanelField:
    """One setting of the selected node as the side panel shows it; ``value`` is its text."""

    name: str = ""
    kind: str = ""
    label_en: str = ""
    label_zh: str = ""
    required: bool = False
    value: str = ""
    hint: str = ""
    monospace: bool = False
    choices: list[Choice] = field(default_factory=list)
    problem: str = ""


def as_text(setting: Setting, value: Any) -> str:
    """A setting's value as the text its field shows (invalid text typed earlier is kept as it is)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if setting.kind == "number":
        return f"{value:g}" if isinstance(value, float) else str(value)
    if setting.kind == "list":
        return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if setting.kind == "variables" and isinstance(value, list):
        return "\n".join(_variable_line(v) for v in value if isinstance(v, dict))
    if setting.kind == "json":
        return json.dumps(value, ensure_ascii=False, indent=2)
    return str(value)


def _variable_line(variable: dict[str, Any]) -> str:
    name, label = str(variable.get("name", "")), str(variable.get("label", "") or "")
    line = name if not label or label == name else f"{name}: {label}"
    return line if variable.get("required", True) else line + " ?"


def from_text(setting: Setting, text: str) -> Any:
    """What a field's text means for ``setting``; text that does not parse stays text, so the
    backend's validation names the problem on the node."""
    if setting.kind == "number":
        try:
            number = float(text.strip())
        except ValueError:
            return text
        return int(number) if number.is_integer() and not isinstance(setting.default, float) else number
    if setting.kind == "list":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if setting.kind == "variables":
        return [_variable(line) for line in text.splitlines() if line.strip()]
    if setting.kind == "json":
        try:
            return json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            return text
    return text


def _variable(line: str) -> dict[str, Any]:
    """``name``, ``name: label``, either with `` ?`` at the end for an optional variable."""
    text = line.strip()
    required = not text.endswith("?")
    text = text.rstrip("?").strip()
    name, _, label = text.partition(":")
    return {"name": name.strip(), "label": label.strip() or name.strip(), "required": required}


def _node_setting(node_type: str, name: str) -> Setting:
    found = SPECS[node_type].setting(name)
    assert found is not None, name
    return found


# A simple chat agent's form: the same settings as the LLM and knowledge nodes it compiles to
# (backend.services.agents.chat), none of them required but the model.
CHAT_SETTINGS: tuple[Setting, ...] = (
    _node_setting("llm", "model"),
    _node_setting("llm", "system_prompt"),
    replace(_node_setting("knowledge", "knowledge_bases"), required=False),
    _node_setting("knowledge", "top_k"),
    _node_setting("llm", "tools"),
    _node_setting("llm", "temperature"),
    _node_setting("llm", "max_tokens"),
    Setting("history_turns", "number", default=5, minimum=0, maximum=50),
)
CHAT_BY_NAME = {s.name: s for s in CHAT_SETTINGS}
CHAT_LABELS = {  # each chat setting's text: the node setting it compiles to, else the chat form's own
    "model": label_key("llm", "model"),
    "system_prompt": label_key("llm", "system_prompt"),
    "knowledge_bases": label_key("knowledge", "knowledge_bases"),
    "top_k": label_key("knowledge", "top_k"),
    "tools": label_key("llm", "tools"),
    "temperature": label_key("llm", "temperature"),
    "max_tokens": label_key("llm", "max_tokens"),
    "history_turns": label_key("chat", "history_turns"),
}


def panel_fields(
    node: dict[str, Any] | None, options: dict[str, list[dict[str, str]]], problems: list[dict[str, Any]]
) -> list[PanelField]:
    """The selected node's settings as form fields; ``options`` maps an options source
    (deployments, knowledge_bases, tools) to ``{value, label}`` rows."""
    if node is None or node.get("type") not in SPECS:
        return []
    found = {p.get("field"): p.get("message", "") for p in problems if p.get("node_id") == node["id"]}
    return setting_fields(SPECS[node["type"]].settings, node.get("data") or {}, options, found, node["type"])


def setting_fields(
    settings: tuple[Setting, ...],
    data: dict[str, Any],
    options: dict[str, list[dict[str, str]]],
    found: dict,
    node_type: str = "chat",
) -> list[PanelField]:
    """``settings`` (of a ``node_type`` node, or the simple chat form's) with their values in ``data``
    as form fields; ``found`` maps a field to its problem."""
    fields = []
    for setting in settings:
        value = data.get(setting.name)
        key = CHAT_LABELS.get(setting.name, "") if node_type == "chat" else label_key(node_type, setting.name)
        label_en, label_zh = label(key, setting.name)
        fields.append(
            PanelField(
                name=setting.name,
                kind=setting.kind,
                label_en=label_en,
                label_zh=label_zh,
                required=setting.required,
                value=as_text(setting, value),
                hint=setting.hint if setting.hint != "code" else "",
                monospace=setting.hint == "code" or setting.kind == "json",
                choices=_choices(setting, value, options),
                problem=found.get(setting.name, ""),
            )
        )
    return fields


def _choices(setting: Setting, value: Any, options: dict[str, list[dict[str, str]]]) -> list[Choice]:
    if setting.kind not in ("select", "multiselect"):
        return []
    chosen = {v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)}
    if setting.options:
        return [Choice(v, *label(option_key(v), v), v in chosen) for v in setting.options]
    rows = options.get(setting.options_source, []) if setting.options_source else []
    found = [Choice(r["value"], r["label"], r["label"], r["value"] in chosen) for r in rows]
    known = {c.value for c in found}
    # A value the tenant no longer has stays visible, so it can be seen and unticked.
    found += [Choice(v, v, v, True) for v in sorted(chosen) if v and v not in known]
    return found


def toggled(current: Any, value: str, on: bool) -> list[str]:
    """A multiselect's list with ``value`` ticked or unticked, order kept."""
    values = [v for v in current if isinstance(v, str)] if isinstance(current, list) else []
    if on:
        return values if value in values else [*values, value]
    return [v for v in values if v != value]


def graph_problems(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Problems of the graph as a whole (no node to mark)."""
    return [p for p in problems if not p.get("node_id")]
