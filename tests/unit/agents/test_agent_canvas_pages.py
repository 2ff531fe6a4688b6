"""The agent pages' own logic: run events folded into progress, answer, trace and citations;
the tool form as a tool spec; the slug of an installed copy; the embed snippet; the chat
agent's form built from the LLM and knowledge nodes' settings."""

import pytest

from backend.errors import ErrorCode, MedAIError
from backend.services.agents import chat as agent_chat
from backend.services.agents.runtime import RunEvent
from state.agent_builder import embed_snippet
from state.agent_graph import CHAT_BY_NAME, CHAT_SETTINGS, from_text, setting_fields
from state.agent_run import RunView, citation_row, trace_row
from state.agent_tools import FORM_DEFAULTS, tool_spec
from state.agents import install_slug


def _finished(answer: str = "少于5克。") -> RunEvent:
    return RunEvent(
        "run_finished",
        None,
        {
            "run_id": "r1",
            "conversation_id": "c1",
            "answer": answer,
            "citations": [
                {"document_name": "guide.txt", "chunk_id": "k9", "text": "每日食盐少于5克", "score": 0.81234}
            ],
            "error": "",
            "failed_node": "",
            "prompt_tokens": 30,
            "completion_tokens": 4,
            "trace": [
                {
                    "node_id": "llm_1",
                    "type": "llm",
                    "status": "succeeded",
                    "input": {"prompt": "q"},
                    "output": {"output": "少于5克。"},
                    "latency_ms": 12.4,
                    "prompt_tokens": 30,
                    "completion_tokens": 4,
                    "error": "",
                }
            ],
        },
    )


def test_run_events_become_progress_streamed_text_and_the_outcome():
    view = RunView()
    assert view.apply(RunEvent("run_started", None, {"run_id": "r1", "conversation_id": "c1"})) is None
    view.apply(RunEvent("node_started", "start"))
    view.apply(RunEvent("node_finished", "start", {}))
    view.apply(RunEvent("node_started", "llm_1"))
    view.apply(RunEvent("token", "llm_1", {"text": "少于"}))
    view.apply(RunEvent("token", "llm_1", {"text": "5克"}))
    view.apply(RunEvent("node_skipped", "tool_1", {}))
    assert view.progress == {"start": "succeeded", "llm_1": "running", "tool_1": "skipped"}
    assert view.answer == "少于5克" and view.conversation_id == "c1"
    ended = view.apply(_finished())
    assert ended["status"] == "succeeded" and ended["answer"] == "少于5克。" and ended["tokens"] == 34
    assert ended["trace"][0]["latency"] == "12 ms" and ended["trace"][0]["tokens"] == "34"
    assert '"prompt": "q"' in ended["trace"][0]["input"]
    assert ended["citations"] == [
        {"document": "guide.txt", "chunk": "k9", "text": "每日食盐少于5克", "score": "0.812", "href": ""}
    ]  # no knowledge base named: no link


def test_a_failed_run_names_the_node_and_keeps_no_partial_answer():
    view = RunView()
    view.apply(RunEvent("token", "llm_1", {"text": "partial"}))
    view.apply(RunEvent("node_failed", "code_1", {"error": "Timed out"}))
    failed = RunEvent(
        "run_failed", "code_1", {"error": "Node 'code_1' failed: Timed out", "failed_node": "code_1", "answer": ""}
    )
    ended = view.apply(failed)
    assert view.progress["code_1"] == "failed"
    assert (ended["status"], ended["failed_node"], ended["answer"]) == ("failed", "code_1", "")
    assert "code_1" in ended["error"] and ended["trace"] == [] and ended["citations"] == []


def test_trace_and_citation_rows_clip_long_values_and_tolerate_gaps():
    row = trace_row({"node_id": "k", "type": "knowledge", "status": "skipped"})
    assert row["input"] == row["output"] == row["latency"] == row["tokens"] == ""
    long = trace_row({"node_id": "k", "output": {"output": "x" * 5000}})
    assert len(long["output"]) < 1600 and long["output"].endswith("…")
    assert citation_row({"document_id": "d1", "chunk_id": "c"})["document"] == "d1"


def test_the_tool_form_becomes_a_spec_and_bad_json_is_named():
    form = {**FORM_DEFAULTS, "name": " icd ", "url": "https://codes.example/icd/{code}", "method": "POST"}
    form |= {"headers": '{"X-Org": "xy"}', "auth_header": "Authorization", "auth_secret": "s3", "timeout_s": "4"}
    spec = tool_spec(form)
    assert (spec.name, spec.method, spec.headers, spec.auth_secret, spec.timeout_s) == (
        "icd",
        "POST",
        {"X-Org": "xy"},
        "s3",
        4.0,
    )
    assert tool_spec({**form, "auth_secret": ""}).auth_secret is None  # empty keeps the stored secret
    with pytest.raises(MedAIError) as raised:
        tool_spec({**form, "parameters": "{not json"})
    assert raised.value.code is ErrorCode.DATA_INVALID and "Parameters" in raised.value.message
    with pytest.raises(MedAIError):
        tool_spec({**form, "headers": "[1]"})


def test_an_installed_copy_gets_a_valid_slug():
    assert install_slug("Triage Assistant", "AbCdEf123", "") == "triage-assistant-abcdef"
    assert install_slug("分诊助手", "abcdef123", "") == "agent-abcdef"
    assert install_slug("x", "abc", " mine ") == "mine"


def test_the_embed_snippet_points_at_the_agents_chat_page():
    snippet = embed_snippet("http://medai.example:3000/", "a1")
    assert 'src="http://medai.example:3000/agents/a1/chat"' in snippet and snippet.startswith("<iframe")


def test_the_chat_agent_form_covers_the_chat_config_and_parses_its_values():
    assert {s.name for s in CHAT_SETTINGS} == set(agent_chat.DEFAULTS)
    assert not CHAT_BY_NAME["knowledge_bases"].required and CHAT_BY_NAME["model"].required
    fields = setting_fields(CHAT_SETTINGS, dict(agent_chat.DEFAULTS), {"deployments": []}, {"model": "Required."})
    by_name = {f.name: f for f in fields}
    assert by_name["model"].problem == "Required." and by_name["max_tokens"].value == "512"
    assert from_text(CHAT_BY_NAME["history_turns"], "3") == 3
