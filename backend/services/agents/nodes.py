"""The agent graph's node catalogue and its validation (contract with the canvas).

Graph JSON is React Flow's own shape::

    {"nodes": [{"id": "llm_1", "type": "llm", "position": {"x": 0, "y": 0}, "data": {...settings}}],
     "edges": [{"id": "e1", "source": "start", "target": "llm_1", "sourceHandle": None, "targetHandle": None}]}

* Node ids are identifiers (letters, digits, ``_``; not starting with a digit) because other
  nodes refer to their outputs by reference: ``{{start.question}}``, ``{{llm_1.output}}``,
  ``{{code_1.output.score}}`` (dotted paths reach into dicts). ``new_node_id(type, taken)`` makes one.
* Every node but ``start`` has one input handle, ``"in"`` (``targetHandle`` may be null).
  Source handles: ``"out"`` (null means ``"out"``), ``condition``: ``"true"`` / ``"false"``,
  ``classifier``: one handle per class, the handle id being the class name itself.
* ``NODE_SPECS`` is the catalogue the canvas renders its palette and side-panel forms from, in
  codes: the labels and descriptions are UI text (``ui_text.agent_nodes``), which
  ``catalogue(labels)`` merges into plain JSON-ready dicts. Setting kinds: ``text``, ``textarea``
  (``code`` hint for monospace), ``number``, ``select``, ``multiselect``, ``variables`` (start's
  input variables: list of ``{"name", "label", "required"}``), ``json`` (an object of
  name -> value or reference), ``list`` (list of short strings, one per line: classifier classes).
  ``options_source`` names where a select's options come from: ``deployments`` (the tenant's model
  services, by name), ``knowledge_bases`` (by id), ``tools`` (``builtin:<name>`` or a tool's id);
  otherwise ``options`` holds static values (``catalogue`` ships them as ``(value, en, zh)``).
* ``validate(graph)`` returns ``Problem(node_id, field, code, message)`` rows, empty when the graph
  can run; the canvas marks nodes with them. Codes: ``graph_shape``, ``duplicate_id``, ``bad_id``,
  ``unknown_type``, ``missing_start``, ``multiple_start``, ``missing_answer``, ``missing_setting``,
  ``invalid_setting``, ``dangling_edge``, ``unknown_handle``, ``unconnected_input``,
  ``unconnected_output``, ``no_path``, ``cycle``, ``bad_reference``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ui_text.agent_nodes import TEXT as NODE_TEXT

NODE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)+)\s*\}\}")
IN_HANDLE = "in"
OUT_HANDLE = "out"
SYSTEM = "sys"  # {{sys.query}}, {{sys.conversation_id}}: always available
SYSTEM_VARIABLES = ("query", "conversation_id")
OPERATORS = (
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "greater_than",
    "less_than",
    "is_empty",
    "not_empty",
)

Labels = Mapping[str, tuple[str, str]]  # text key -> (English, Chinese), e.g. ui_text.agent_nodes.TEXT


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str
    required: bool = False
    default: Any = None
    options_source: str = ""
    options: tuple[str, ...] = ()  # static choices (codes; the UI labels them node.operator.<value>)
    minimum: float | None = None
    maximum: float | None = None
    hint: str = ""


@dataclass(frozen=True)
class NodeSpec:
    type: str
    inputs: tuple[str, ...]  # target handles
    outputs: tuple[str, ...]  # source handles; classifier: empty, see outputs_from
    variables: tuple[str, ...]  # what other nodes may reference as {{id.<variable>}}
    settings: tuple[Setting, ...] = ()
    outputs_from: str = ""  # "classes": one source handle per entry of that setting
    color: str = "gray"

    def setting(self, name: str) -> Setting | None:
        return next((s for s in self.settings if s.name == name), None)


@dataclass(frozen=True)
class Problem:
    node_id: str | None
    field: str | None
    code: str
    message: str


_MODEL = Setting("model", "select", required=True, options_source="deployments")
_QUERY = Setting("query", "text", required=True, default="{{start.question}}")
_TEMPERATURE = Setting("temperature", "number", default=0.7, minimum=0.0, maximum=2.0)
_MAX_TOKENS = Setting("max_tokens", "number", default=512, minimum=1, maximum=32768)

NODE_SPECS: list[NodeSpec] = [
    NodeSpec(
        "start",
        (),
        (OUT_HANDLE,),
        ("history",),  # plus the declared variables
        (
            Setting(
                "variables",
                "variables",
                required=True,
                default=[{"name": "question", "label": "Question", "required": True}],
            ),
        ),
        color="green",
    ),
    NodeSpec(
        "llm",
        (IN_HANDLE,),
        (OUT_HANDLE,),
        ("output", "tokens"),
        (
            _MODEL,
            Setting("system_prompt", "textarea", default="You are a careful assistant."),
            Setting("prompt", "textarea", required=True, default="{{start.question}}"),
            _TEMPERATURE,
            _MAX_TOKENS,
            Setting("history_turns", "number", default=0, minimum=0, maximum=20),
            Setting("tools", "multiselect", options_source="tools"),
        ),
        color="blue",
    ),
    NodeSpec(
        "knowledge",
        (IN_HANDLE,),
        (OUT_HANDLE,),
        ("output", "citations"),
        (
            Setting("knowledge_bases", "multiselect", required=True, options_source="knowledge_bases"),
            _QUERY,
            Setting("top_k", "number", default=4, minimum=1, maximum=50),
            Setting("threshold", "number", default=0.0, minimum=0.0, maximum=1.0),
        ),
        color="teal",
    ),
    NodeSpec(
        "condition",
        (IN_HANDLE,),
        ("true", "false"),
        ("result",),
        (
            Setting("variable", "text", required=True, default="{{start.question}}"),
            Setting("operator", "select", required=True, default="contains", options=OPERATORS),
            Setting("value", "text", default=""),
        ),
        color="orange",
    ),
    NodeSpec(
        "classifier",
        (IN_HANDLE,),
        (),
        ("class",),
        (
            _MODEL,
            Setting("input", "text", required=True, default="{{start.question}}"),
            Setting("classes", "list", required=True, default=["emergency", "routine"]),
            Setting("instructions", "textarea", default=""),
        ),
        outputs_from="classes",
        color="violet",
    ),
    NodeSpec(
        "tool",
        (IN_HANDLE,),
        (OUT_HANDLE,),
        ("output",),
        (
            Setting("tool", "select", required=True, options_source="tools"),
            Setting("arguments", "json", default={}, hint='{"query": "{{start.question}}"}'),
        ),
        color="amber",
    ),
    NodeSpec(
        "code",
        (IN_HANDLE,),
        (OUT_HANDLE,),
        ("output",),
        (
            Setting(
                "code",
                "textarea",
                required=True,
                default="def main(inputs):\n    return {'text': inputs['text'].strip()}\n",
                hint="code",
            ),
            Setting("inputs", "json", default={"text": "{{start.question}}"}),
        ),
        color="gray",
    ),
    NodeSpec(
        "template",
        (IN_HANDLE,),
        (OUT_HANDLE,),
        ("output",),
        (Setting("template", "textarea", required=True, default="{{ start.question }}"),),
        color="cyan",
    ),
    NodeSpec(
        "answer",
        (IN_HANDLE,),
        (),
        ("output",),
        (Setting("answer", "textarea", required=True, default="{{llm_1.output}}"),),
        color="green",
    ),
]

SPECS: dict[str, NodeSpec] = {spec.type: spec for spec in NODE_SPECS}


def label_key(node_type: str, setting: str = "") -> str:
    """The text key of a node type's label (``node.llm.label``) or of one of its settings
    (``node.llm.setting.model``); ``node_type`` ``chat`` names the simple chat form."""
    return f"node.{node_type}.setting.{setting}" if setting else f"node.{node_type}.label"


def option_key(value: str) -> str:
    """The text key of a static choice (the condition's operators): ``node.operator.<value>``."""
    return f"node.operator.{value}"


def _both(labels: Labels, key: str, fallback: str) -> tuple[str, str]:
    return labels.get(key, (fallback, fallback))


def _setting_dict(node_type: str, setting: Setting, labels: Labels) -> dict[str, Any]:
    en, zh = _both(labels, label_key(node_type, setting.name), setting.name)
    found = asdict(setting)
    options = [[v, *_both(labels, option_key(v), v)] for v in setting.options]
    return {
        "name": found["name"],
        "kind": found["kind"],
        "label_en": en,
        "label_zh": zh,
        "required": found["required"],
        "default": found["default"],
        "options_source": found["options_source"],
        "options": options,
        "minimum": found["minimum"],
        "maximum": found["maximum"],
        "hint": found["hint"],
    }


def catalogue(labels: Labels) -> list[dict[str, Any]]:
    """NODE_SPECS as plain JSON-ready dicts (what the canvas component receives), each type and
    setting labelled from ``labels`` (the caller's text table; a missing key shows the code)."""
    found = []
    for spec in NODE_SPECS:
        label = _both(labels, label_key(spec.type), spec.type)
        description = _both(labels, f"node.{spec.type}.description", "")
        found.append(
            {
                "type": spec.type,
                "label_en": label[0],
                "label_zh": label[1],
                "description_en": description[0],
                "description_zh": description[1],
                "inputs": list(spec.inputs),
                "outputs": list(spec.outputs),
                "variables": list(spec.variables),
                "settings": [_setting_dict(spec.type, s, labels) for s in spec.settings],
                "outputs_from": spec.outputs_from,
                "color": spec.color,
            }
        )
    return found


def new_node_id(node_type: str, taken: set[str]) -> str:
    """A fresh identifier-shaped id for a node of ``node_type``: ``llm_1``, ``llm_2`` ..."""
    if node_type == "start" and "start" not in taken:
        return "start"
    n = 1
    while f"{node_type}_{n}" in taken:
        n += 1
    return f"{node_type}_{n}"


def source_handles(node: dict[str, Any]) -> tuple[str, ...]:
    spec = SPECS.get(str(node.get("type")))
    if spec is None:
        return ()
    if spec.outputs_from:
        values = (node.get("data") or {}).get(spec.outputs_from) or []
        return tuple(str(v) for v in values if isinstance(v, str))
    return spec.outputs


def edge_handle(edge: dict[str, Any]) -> str:
    """The edge's source handle, null meaning the default ``out``."""
    return str(edge.get("sourceHandle") or OUT_HANDLE)


def start_variables(node: dict[str, Any]) -> list[str]:
    declared = (node.get("data") or {}).get("variables") or []
    return [str(v.get("name")) for v in declared if isinstance(v, dict) and v.get("name")]


def node_variables(node: dict[str, Any]) -> set[str]:
    spec = SPECS[str(node["type"])]
    names = set(spec.variables)
    if spec.type == "start":
        names.update(start_variables(node))
    return names


def references(value: Any) -> list[tuple[str, str]]:
    """Every ``{{node.variable...}}`` reference in a setting value (strings, lists, dicts): (node, variable)."""
    if isinstance(value, str):
        return [(m.group(1), m.group(2).split(".")[1]) for m in REFERENCE.finditer(value)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    return []


def validate(graph: Any) -> list[Problem]:
    """What keeps ``graph`` from running, as problems to mark on the canvas (empty: it can run).

    Pure: checks shape, types, settings, handles, connections, a path start -> answer, cycles and
    references. Whether a named model, knowledge base or tool exists in the tenant is checked by
    ``agents.validate_draft`` (which needs the database) on top of this.
    """
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        return [Problem(None, None, "graph_shape", "The graph must be an object with a list of nodes and edges.")]
    edges_raw = graph.get("edges") if graph.get("edges") is not None else []
    if not isinstance(edges_raw, list):
        return [Problem(None, None, "graph_shape", "The graph's edges must be a list.")]
    problems: list[Problem] = []
    nodes = _nodes(graph["nodes"], problems)
    edges = _edges(edges_raw, nodes, problems)
    for node in nodes.values():
        problems.extend(_settings_problems(node))
    problems.extend(_connection_problems(nodes, edges))
    problems.extend(_reference_problems(nodes, edges))
    return problems


def _nodes(raw: list[Any], problems: list[Problem]) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            problems.append(Problem(None, None, "graph_shape", "Every node needs a string id."))
            continue
        node_id = item["id"]
        if node_id in nodes:
            problems.append(Problem(node_id, None, "duplicate_id", f"Two nodes have the id '{node_id}'."))
            continue
        if not NODE_ID.match(node_id):
            problems.append(Problem(node_id, None, "bad_id", f"'{node_id}' is not a valid node id (letters, _)."))
            continue
        if item.get("type") not in SPECS:
            problems.append(Problem(node_id, None, "unknown_type", f"Unknown node type '{item.get('type')}'."))
            continue
        if item.get("data") is not None and not isinstance(item.get("data"), dict):
            problems.append(Problem(node_id, None, "graph_shape", "A node's data must be an object."))
            continue
        nodes[node_id] = item
    starts = [n for n in nodes.values() if n["type"] == "start"]
    if not starts:
        problems.append(Problem(None, None, "missing_start", "The graph needs a Start node."))
    for extra in starts[1:]:
        problems.append(Problem(extra["id"], None, "multiple_start", "Only one Start node is allowed."))
    if not any(n["type"] == "answer" for n in nodes.values()):
        problems.append(Problem(None, None, "missing_answer", "The graph needs an Answer node."))
    return nodes


def _edges(raw: list[Any], nodes: dict[str, dict[str, Any]], problems: list[Problem]) -> list[dict[str, Any]]:
    edges: list[dict[str, Any]] = []
    for edge in raw:
        if not isinstance(edge, dict):
            problems.append(Problem(None, None, "graph_shape", "Every edge must be an object."))
            continue
        source, target = nodes.get(str(edge.get("source"))), nodes.get(str(edge.get("target")))
        if source is None or target is None:
            problems.append(
                Problem(None, None, "dangling_edge", f"Edge {edge.get('id', '?')} joins a node that does not exist.")
            )
            continue
        if edge_handle(edge) not in source_handles(source):
            problems.append(
                Problem(source["id"], None, "unknown_handle", f"Output '{edge_handle(edge)}' does not exist here.")
            )
            continue
        if not SPECS[target["type"]].inputs:
            problems.append(Problem(target["id"], None, "unknown_handle", "Start takes no incoming edge."))
            continue
        edges.append(edge)
    return edges


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def _english_label(node_type: str, setting: Setting) -> str:
    """A setting's English label for problem messages (the API's language); its name when it has none."""
    return NODE_TEXT.get(label_key(node_type, setting.name), (setting.name, ""))[0]


def _settings_problems(node: dict[str, Any]) -> list[Problem]:
    spec, data, node_id = SPECS[node["type"]], node.get("data") or {}, node["id"]
    problems: list[Problem] = []
    for setting in spec.settings:
        value = data.get(setting.name)
        label = _english_label(spec.type, setting)
        if setting.required and (_blank(value) or (isinstance(value, str) and not value.strip())):
            problems.append(Problem(node_id, setting.name, "missing_setting", f"'{label}' is required."))
            continue
        if value is None:
            continue
        message = _setting_error(setting, value, label)
        if message:
            problems.append(Problem(node_id, setting.name, "invalid_setting", message))
    return problems


def _setting_error(setting: Setting, value: Any, label: str) -> str:
    if setting.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"'{label}' must be a number."
        if (setting.minimum is not None and value < setting.minimum) or (
            setting.maximum is not None and value > setting.maximum
        ):
            return f"'{label}' must be between {setting.minimum:g} and {setting.maximum:g}."
    elif setting.kind in ("text", "textarea", "select"):
        if not isinstance(value, str):
            return f"'{label}' must be text."
        if setting.options and value not in setting.options:
            return f"'{value}' is not a choice for '{label}'."
    elif setting.kind in ("multiselect", "list"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return f"'{label}' must be a list of names."
        if len(set(value)) != len(value):
            return f"'{label}' has duplicates."
    elif setting.kind == "json":
        if not isinstance(value, dict) or not all(NODE_ID.match(str(k)) for k in value):
            return f"'{label}' must be an object whose keys are identifiers."
    elif setting.kind == "variables":
        return _variables_error(value)
    return ""


def _variables_error(value: Any) -> str:
    if not isinstance(value, list) or not value:
        return "Declare at least one input variable."
    names = [v.get("name") if isinstance(v, dict) else None for v in value]
    if not all(isinstance(n, str) and NODE_ID.match(n) for n in names):
        return "Variable names must be identifiers (letters, digits, _)."
    if len(set(names)) != len(names):
        return "Variable names must be unique."
    if "history" in names:
        return "'history' is reserved (it holds the conversation so far)."
    return ""


def _connection_problems(nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    incoming = {e["target"] for e in edges}
    used = {(e["source"], edge_handle(e)) for e in edges}
    for node in nodes.values():
        spec = SPECS[node["type"]]
        if spec.inputs and node["id"] not in incoming:
            problems.append(Problem(node["id"], None, "unconnected_input", "Nothing leads into this node."))
        for handle in source_handles(node):
            if (node["id"], handle) not in used and (spec.outputs_from or len(spec.outputs) > 1):
                problems.append(Problem(node["id"], None, "unconnected_output", f"Branch '{handle}' leads nowhere."))
    cycle = _cycle(nodes, edges)
    if cycle:
        problems.append(Problem(cycle[0], None, "cycle", "These nodes form a loop: " + " -> ".join(cycle) + "."))
    problems.extend(_path_problems(nodes, edges))
    return problems


def successors(edges: list[dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        found[edge["source"]].append(edge["target"])
    return found


def _cycle(nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]]) -> list[str]:
    """One cycle as a list of node ids (first repeated at the end), or []."""
    after = successors(edges)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node_id: str) -> list[str]:
        state[node_id] = 1
        stack.append(node_id)
        for nxt in after.get(node_id, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node_id] = 2
        return []

    for node_id in nodes:
        if node_id not in state:
            found = visit(node_id)
            if found:
                return found
    return []


def reachable(start: str, edges: list[dict[str, Any]]) -> set[str]:
    after, seen, todo = successors(edges), {start}, [start]
    while todo:
        for nxt in after.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _path_problems(nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]]) -> list[Problem]:
    start = next((n["id"] for n in nodes.values() if n["type"] == "start"), None)
    answers = [n["id"] for n in nodes.values() if n["type"] == "answer"]
    if start is None or not answers:
        return []
    seen = reachable(start, edges)
    if not any(a in seen for a in answers):
        return [Problem(start, None, "no_path", "No path leads from Start to an Answer.")]
    return []


def ancestors(node_id: str, edges: list[dict[str, Any]]) -> set[str]:
    before: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        before[edge["target"]].append(edge["source"])
    seen, todo = set(), [node_id]
    while todo:
        for prev in before.get(todo.pop(), []):
            if prev not in seen:
                seen.add(prev)
                todo.append(prev)
    return seen


def _reference_problems(nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    for node in nodes.values():
        upstream = ancestors(node["id"], edges)
        for name, value in (node.get("data") or {}).items():
            for ref_node, variable in references(value):
                if node["type"] == "template" and ref_node not in nodes and ref_node != SYSTEM:
                    continue  # a Jinja loop variable such as {{ m.code }}, not a node
                message = _reference_error(nodes, upstream, ref_node, variable)
                if message:
                    problems.append(Problem(node["id"], name, "bad_reference", message))
    return problems


def _reference_error(nodes: dict[str, dict[str, Any]], upstream: set[str], ref_node: str, variable: str) -> str:
    if ref_node == SYSTEM:
        return "" if variable in SYSTEM_VARIABLES else f"'sys.{variable}' does not exist."
    if ref_node not in nodes:
        return f"'{ref_node}' is not a node of this graph."
    if ref_node not in upstream:
        return f"'{ref_node}' does not run before this node."
    if variable not in node_variables(nodes[ref_node]):
        return f"'{ref_node}' has no output '{variable}'."
    return ""


@dataclass
class GraphIndex:
    """A validated graph, indexed for the runtime."""

    nodes: dict[str, dict[str, Any]]
    edges: list[dict[str, Any]] = field(default_factory=list)

    @property
    def start_id(self) -> str:
        return next(n for n, node in self.nodes.items() if node["type"] == "start")


def index(graph: dict[str, Any]) -> GraphIndex:
    """The nodes by id and the edges of a graph ``validate`` accepted."""
    nodes = {n["id"]: n for n in graph["nodes"]}
    return GraphIndex(nodes, [e for e in graph.get("edges") or [] if e.get("source") in nodes])
