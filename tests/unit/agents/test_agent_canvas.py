"""The agent canvas component and the builder's graph handling: what the wrapped React Flow
component compiles to, the graph's round trip canvas -> state -> validate, and the side-panel
forms generated from NODE_SPECS."""

import itertools
import re
from pathlib import Path

import reflex as rx

from backend.services.agents import nodes as agent_nodes
from components.agent_canvas import CANVAS_TEXT_KEYS, DAGRE, SOURCE, XYFLOW, agent_canvas, canvas_labels
from components.i18n import TEXT
from state.agent_graph import (
    EMPTY_GRAPH,
    NODE_CATALOGUE,
    as_text,
    find_node,
    from_text,
    graph_problems,
    merge_canvas,
    panel_fields,
    toggled,
    with_setting,
)

ROOT = Path(__file__).resolve().parents[3]
JSX = ROOT / "assets" / "agent_canvas.jsx"


class _CanvasState(rx.State):
    graph: dict = dict(EMPTY_GRAPH)  # noqa: RUF012 (a Reflex state var)
    revision: int = 0

    @rx.event
    def changed(self, graph: dict) -> None:
        self.graph = graph

    @rx.event
    def picked(self, node_id: str) -> None:
        pass


def _canvas() -> rx.Component:
    return agent_canvas(
        graph=_CanvasState.graph,
        revision=_CanvasState.revision,
        specs=NODE_CATALOGUE,
        problems=[],
        lang="en",
        labels=canvas_labels("en"),
        patch={},
        on_change=_CanvasState.changed,
        on_select=_CanvasState.picked,
    )


def test_the_canvas_is_loaded_in_the_browser_only_from_the_bundled_jsx():
    component = _canvas()
    dynamic = component._get_all_dynamic_imports()
    assert any(f"import('{SOURCE}')" in line and "mod.AgentCanvas" in line for line in dynamic)
    imports = component._get_all_imports()
    # no static import of the same name (it would clash with the lazy one)
    assert all(v.tag is None for v in imports[SOURCE])
    assert XYFLOW in imports and DAGRE in imports  # installed by Reflex, pinned
    assert XYFLOW == "@xyflow/react@12.12.1"


def test_canvas_events_reach_the_state_handlers_with_their_argument():
    props = "\n".join(_canvas().render()["props"])
    on_change = re.search(r"onChange:\(\(_ev_0\) => .*?changed\", \(\{ \[\"graph\"\] : _ev_0 \}\)", props)
    on_select = re.search(r"onSelect:\(\(_ev_0\) => .*?picked\", \(\{ \[\"node_id\"\] : _ev_0 \}\)", props)
    assert on_change and on_select, props
    assert "specs:[" in props and '"label_zh"' in props  # the catalogue travels as data, not as a second copy


def test_the_jsx_reads_every_prop_the_wrapper_passes():
    source = JSX.read_text()
    for prop in ("graph", "revision", "specs", "problems", "lang", "labels", "patch", "onChange", "onSelect"):
        assert re.search(rf"\b{prop}\b", source), prop
    assert 'from "@xyflow/react"' in source and "screenToFlowPosition" in source
    for name in CANVAS_TEXT_KEYS:  # every toolbar text the JSX asks for is supplied
        assert f'text("{name}"' in source, name


def test_canvas_labels_exist_in_both_languages():
    assert canvas_labels("en")["undo"] == TEXT["agents.canvas.undo"][0]
    assert canvas_labels("zh")["undo"] == TEXT["agents.canvas.undo"][1]
    assert set(canvas_labels("zh")) == set(CANVAS_TEXT_KEYS)


def _canvas_graph() -> dict:
    """Start -> Knowledge -> LLM -> Answer as the canvas sends it (toGraph in the JSX)."""
    nodes = [
        ("start", "start", {"variables": [{"name": "question", "label": "Question", "required": True}]}),
        ("knowledge_1", "knowledge", {"query": "{{start.question}}", "top_k": 4, "threshold": 0}),
        ("llm_1", "llm", {"prompt": "{{start.question}}", "temperature": 0.7, "max_tokens": 512}),
        ("answer_1", "answer", {"answer": "{{llm_1.output}}"}),
    ]
    order = [n[0] for n in nodes]
    return {
        "nodes": [
            {"id": i, "type": ty, "position": {"x": 220 * k, "y": 10.5}, "data": d}
            for k, (i, ty, d) in enumerate(nodes)
        ],
        "edges": [
            {"id": f"e_{a}_out_{b}", "source": a, "target": b, "sourceHandle": "out", "targetHandle": "in"}
            for a, b in itertools.pairwise(order)
        ],
    }


def test_graph_round_trip_keeps_the_panel_settings_and_takes_the_canvas_structure():
    server = merge_canvas({"nodes": [], "edges": []}, _canvas_graph())
    assert [n["id"] for n in server["nodes"]] == ["start", "knowledge_1", "llm_1", "answer_1"]
    server = with_setting(server, "llm_1", "model", "bp-chat")
    server = with_setting(server, "knowledge_1", "knowledge_bases", ["kb1"])
    # the canvas moves a node and still holds llm_1's old data: the panel's settings win
    moved = _canvas_graph()
    moved["nodes"][2]["position"] = {"x": 999, "y": 5}
    server = merge_canvas(server, moved)
    llm = find_node(server, "llm_1")
    assert llm["position"] == {"x": 999.0, "y": 5.0} and llm["data"]["model"] == "bp-chat"
    assert agent_nodes.validate(server) == []
    # the canvas deletes the answer node and its edge: both are gone, and validation says so
    cut = _canvas_graph()
    cut["nodes"], cut["edges"] = cut["nodes"][:3], cut["edges"][:2]
    codes = {p.code for p in agent_nodes.validate(merge_canvas(server, cut))}
    assert "missing_answer" in codes


def test_a_pasted_node_brings_its_own_settings():
    server = merge_canvas({"nodes": [], "edges": []}, _canvas_graph())
    pasted = _canvas_graph()
    pasted["nodes"].append({"id": "llm_2", "type": "llm", "position": {"x": 0, "y": 0}, "data": {"prompt": "copy"}})
    assert find_node(merge_canvas(server, pasted), "llm_2")["data"] == {"prompt": "copy"}


def test_every_node_type_gets_its_form_from_node_specs():
    for spec in agent_nodes.NODE_SPECS:
        for data in ({}, {s.name: s.default for s in spec.settings}):  # empty, and as dropped on the canvas
            fields = panel_fields({"id": "n", "type": spec.type, "data": data}, {}, [])
            assert [f.name for f in fields] == [s.name for s in spec.settings]
            assert all(f.label_zh and f.label_en for f in fields)
    start = panel_fields({"id": "start", "type": "start", "data": {"variables": [{"name": "q", "label": "Q"}]}}, {}, [])
    assert start[0].value == "q: Q" and start[0].choices == []
    assert panel_fields(None, {}, []) == [] and panel_fields({"id": "x", "type": "nope"}, {}, []) == []


def test_select_choices_come_from_the_options_sources_and_keep_a_missing_value():
    node = {"id": "llm_1", "type": "llm", "data": {"model": "gone", "tools": ["builtin:icd10_lookup"]}}
    options = {"deployments": [{"value": "bp-chat", "label": "bp-chat"}], "tools": []}
    problems = [{"node_id": "llm_1", "field": "model", "message": "No such service."}]
    by_name = {f.name: f for f in panel_fields(node, options, problems)}
    assert [(c.value, c.checked) for c in by_name["model"].choices] == [("bp-chat", False), ("gone", True)]
    assert by_name["model"].problem == "No such service."
    assert [c.value for c in by_name["tools"].choices if c.checked] == ["builtin:icd10_lookup"]
    condition = {f.name: f for f in panel_fields({"id": "c", "type": "condition", "data": {}}, {}, [])}
    assert {c.value for c in condition["operator"].choices} == set(agent_nodes.OPERATORS)
    assert condition["operator"].choices[0].label_zh == "等于"


def test_field_text_round_trips_for_every_kind():
    spec = agent_nodes.SPECS
    cases = [
        (spec["llm"].setting("temperature"), 0.5),
        (spec["llm"].setting("max_tokens"), 256),
        (spec["classifier"].setting("classes"), ["emergency", "routine"]),
        (spec["tool"].setting("arguments"), {"query": "{{start.question}}"}),
        (
            spec["start"].setting("variables"),
            [
                {"name": "question", "label": "Question", "required": True},
                {"name": "age", "label": "age", "required": False},
            ],
        ),
        (spec["llm"].setting("prompt"), "Answer {{start.question}}"),
    ]
    for setting, value in cases:
        assert from_text(setting, as_text(setting, value)) == value, setting.name
    assert isinstance(from_text(spec["llm"].setting("max_tokens"), "256"), int)
    # text that does not parse stays text, and the backend's validation names it
    bad = from_text(spec["llm"].setting("temperature"), "warm")
    assert bad == "warm"
    graph = with_setting(merge_canvas({"nodes": [], "edges": []}, _canvas_graph()), "llm_1", "temperature", bad)
    assert any(p.node_id == "llm_1" and p.field == "temperature" for p in agent_nodes.validate(graph))


def test_multiselect_toggles_keep_order_and_no_duplicates():
    assert toggled(["a"], "b", True) == ["a", "b"]
    assert toggled(["a", "b"], "a", True) == ["a", "b"]
    assert toggled(["a", "b"], "a", False) == ["b"]
    assert toggled(None, "a", True) == ["a"]


def test_graph_wide_problems_are_kept_apart_from_node_marks():
    rows = [{"node_id": "", "message": "The graph needs a Start node."}, {"node_id": "llm_1", "message": "x"}]
    assert graph_problems(rows) == rows[:1]
