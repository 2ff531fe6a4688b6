"""The agent node catalogue and graph validation: every problem the canvas marks."""

from __future__ import annotations

import copy
import json

import pytest

from backend.services.agents.nodes import NODE_SPECS, SPECS, catalogue, label_key, new_node_id, validate
from backend.services.agents.templates import list_templates, template_graph
from tests.unit.agent_world import START, chain, edge, node
from ui_text.agent_nodes import TEXT as NODE_TEXT

LLM = node("llm_1", "llm", model="chat", prompt="{{start.question}}")
ANSWER = node("answer_1", "answer", answer="{{llm_1.output}}")


def codes(graph) -> list[tuple[str | None, str | None, str]]:
    return [(p.node_id, p.field, p.code) for p in validate(graph)]


def test_the_catalogue_has_every_node_type_with_labels_handles_and_settings():
    assert [s.type for s in NODE_SPECS] == [
        "start",
        "llm",
        "knowledge",
        "condition",
        "classifier",
        "tool",
        "code",
        "template",
        "answer",
    ]
    assert SPECS["condition"].outputs == ("true", "false")
    assert SPECS["classifier"].outputs_from == "classes"
    assert SPECS["start"].inputs == () and SPECS["answer"].outputs == ()
    assert {s.options_source for s in SPECS["llm"].settings} >= {"deployments", "tools"}
    assert SPECS["knowledge"].setting("knowledge_bases").options_source == "knowledge_bases"
    for spec in NODE_SPECS:  # the labels are UI text, keyed by the codes
        english, chinese = NODE_TEXT[label_key(spec.type)]
        assert english and chinese and chinese != english and NODE_TEXT[f"node.{spec.type}.description"][0]
        assert all(label_key(spec.type, s.name) in NODE_TEXT for s in spec.settings)
    shipped = json.loads(json.dumps(catalogue(NODE_TEXT)))  # what the canvas receives is plain JSON
    assert shipped[1]["settings"][0]["name"] == "model"
    assert (shipped[1]["label_en"], shipped[1]["settings"][0]["label_zh"]) == ("LLM", "模型服务")


def test_a_complete_graph_has_no_problems():
    assert validate(chain(START, LLM, ANSWER)) == []


def test_unknown_types_and_missing_settings_are_marked_on_their_node():
    graph = chain(START, node("llm_1", "llm", prompt=""), node("x_1", "teleport"), ANSWER)
    found = codes(graph)
    assert ("x_1", None, "unknown_type") in found
    assert ("llm_1", "model", "missing_setting") in found
    assert ("llm_1", "prompt", "missing_setting") in found


def test_settings_of_the_wrong_kind_or_range_are_invalid():
    graph = chain(
        START,
        node("knowledge_1", "knowledge", knowledge_bases="kb", query="{{start.question}}", top_k=500),
        node("llm_1", "llm", model="chat", prompt="{{knowledge_1.output}}", temperature="hot"),
        ANSWER,
    )
    found = codes(graph)
    assert ("knowledge_1", "knowledge_bases", "invalid_setting") in found
    assert ("knowledge_1", "top_k", "invalid_setting") in found
    assert ("llm_1", "temperature", "invalid_setting") in found


def test_an_unconnected_input_and_no_path_to_an_answer():
    graph = chain(START, LLM)
    graph["nodes"].append(ANSWER)  # the answer hangs alone
    found = codes(graph)
    assert ("answer_1", None, "unconnected_input") in found
    assert ("start", None, "no_path") in found


def test_a_cycle_is_named_with_its_nodes():
    graph = chain(START, LLM, node("llm_2", "llm", model="chat", prompt="{{llm_1.output}}"), ANSWER)
    graph["edges"].append(edge("llm_2", "llm_1"))
    problems = [p for p in validate(graph) if p.code == "cycle"]
    assert len(problems) == 1 and "llm_1" in problems[0].message and "llm_2" in problems[0].message


def test_start_and_answer_are_required_once():
    assert (None, None, "missing_start") in codes({"nodes": [ANSWER], "edges": []})
    assert (None, None, "missing_answer") in codes(chain(START, LLM))
    second = copy.deepcopy(START) | {"id": "start_2"}
    graph = chain(START, LLM, ANSWER)
    graph["nodes"].append(second)
    assert ("start_2", None, "multiple_start") in codes(graph)


def test_references_must_name_an_upstream_node_and_one_of_its_outputs():
    graph = chain(
        START,
        node("llm_1", "llm", model="chat", prompt="{{start.question}} {{answer_1.output}} {{start.age}}"),
        node("answer_1", "answer", answer="{{llm_1.answer}} {{ghost.output}} {{sys.query}}"),
    )
    messages = {(p.node_id, p.message) for p in validate(graph) if p.code == "bad_reference"}
    assert messages == {
        ("llm_1", "'answer_1' does not run before this node."),
        ("llm_1", "'start' has no output 'age'."),
        ("answer_1", "'llm_1' has no output 'answer'."),
        ("answer_1", "'ghost' is not a node of this graph."),
    }


def test_branches_need_known_handles_and_every_branch_connected():
    condition = node("condition_1", "condition", variable="{{start.question}}", operator="contains", value="pain")
    classifier = node("classifier_1", "classifier", model="chat", input="{{start.question}}", classes=["a", "b"])
    graph = {
        "nodes": [START, condition, classifier, ANSWER | {"data": {"answer": "{{start.question}}"}}],
        "edges": [
            edge("start", "condition_1"),
            edge("condition_1", "classifier_1", "true"),
            edge("condition_1", "answer_1", "maybe"),
            edge("classifier_1", "answer_1", "a"),
        ],
    }
    found = codes(graph)
    assert ("condition_1", None, "unknown_handle") in found
    assert ("condition_1", None, "unconnected_output") in found  # "false" leads nowhere
    assert ("classifier_1", None, "unconnected_output") in found  # class "b" leads nowhere


@pytest.mark.parametrize("bad", [None, [], {"nodes": "x"}, {"nodes": [], "edges": {}}])
def test_a_malformed_graph_is_one_shape_problem(bad):
    assert [p.code for p in validate(bad)] == ["graph_shape"]


def test_node_ids_must_be_identifiers_for_references():
    graph = chain(START, LLM, node("answer-1", "answer", answer="x"))
    assert ("answer-1", None, "bad_id") in codes(graph)
    assert new_node_id("llm", {"start", "llm_1", "llm_2"}) == "llm_3"
    assert new_node_id("start", set()) == "start"


def test_templates_only_lack_what_the_user_picks():
    templates = {t.id: t for t in list_templates()}
    assert set(templates) == {"triage_assistant", "discharge_summary", "guideline_qa", "medical_qa_citations"}
    for template in templates.values():
        assert {p.code for p in validate(template.graph)} == {"missing_setting"}
        assert {p.field for p in validate(template.graph)} <= {"model", "knowledge_bases"}
    filled = template_graph("guideline_qa", model="chat", knowledge_base_ids=("kb1",))
    assert validate(filled.graph) == []
    assert validate(template_graph("triage_assistant", model="chat").graph) == []
