"""Agents over HTTP: the REST API (build, validate, publish, run with SSE node events, logs and
feedback, tools, hosts, market, templates) and /v1/chat/completions with model "agent:<slug>"
called with the official openai client, streaming and not, citations included."""

from __future__ import annotations

import json

import openai
import pytest
from fastapi.testclient import TestClient

from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.services.identity import api_keys
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from tests.unit.agent_world import START, add_model_service, chain, node, start_fake_openai
from tests.unit.identity_world import add_tenant, add_user, sign


@pytest.fixture(scope="module")
def fake_llm():
    server = start_fake_openai()
    yield server
    server.stop()


@pytest.fixture
def site(runtime, fake_llm):
    tenant = add_tenant(runtime, "huaxi")
    dev_token, dev = sign(runtime, add_user(runtime, "dev@huaxi.cn", [(tenant, "developer")]))
    _, doctor = sign(runtime, add_user(runtime, "doctor@huaxi.cn", [(tenant, "clinician")]))
    add_model_service(runtime, dev, "chat", fake_llm.url)
    with runtime.session() as session:
        _, invoke = api_keys.create_api_key(session, doctor, kind="personal", name="ward app", scopes=["agents:invoke"])
        _, models_only = api_keys.create_api_key(session, dev, kind="personal", name="m", scopes=["models:invoke"])
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    client = TestClient(api)
    return runtime, client, dev, {"dev": dev_token, "invoke": invoke, "models": models_only}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def build_and_publish(client, token, slug, graph) -> str:
    created = client.post("/api/agents", json={"name": slug.title(), "slug": slug, "graph": graph}, headers=auth(token))
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]
    published = client.post(f"/api/agents/{agent_id}/publish", json={"note": "v1"}, headers=auth(token))
    assert published.status_code == 201, published.text
    return agent_id


ECHO = chain(
    START,
    node("llm_1", "llm", model="chat", prompt="{{start.question}}"),
    node("answer_1", "answer", answer="{{llm_1.output}}"),
)


def sse_events(text: str) -> list[tuple[str, dict]]:
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def test_the_canvas_contract_is_served_and_drafts_report_problems(site):
    _rt, client, _dev, tokens = site
    catalogue = client.get("/api/agent-nodes", headers=auth(tokens["dev"])).json()
    assert [n["type"] for n in catalogue][:2] == ["start", "llm"]
    agent = client.post("/api/agents", json={"name": "A", "slug": "a"}, headers=auth(tokens["dev"])).json()
    broken = {"nodes": [START], "edges": []}
    saved = client.put(f"/api/agents/{agent['id']}/draft", json={"graph": broken}, headers=auth(tokens["dev"]))
    assert saved.status_code == 200 and saved.json()["problems"] == [
        {"node_id": None, "field": None, "code": "missing_answer", "message": "The graph needs an Answer node."}
    ]
    refused = client.post(f"/api/agents/{agent['id']}/publish", json={}, headers=auth(tokens["dev"]))
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "DATA_INVALID"
    templates = client.get("/api/agent-templates", headers=auth(tokens["dev"])).json()
    assert {t["id"] for t in templates} == {
        "triage_assistant",
        "discharge_summary",
        "guideline_qa",
        "medical_qa_citations",
    }


def test_runs_stream_node_events_over_sse_and_are_logged_with_feedback(site):
    _rt, client, _dev, tokens = site
    agent_id = build_and_publish(client, tokens["dev"], "echo", ECHO)
    response = client.post(
        f"/api/agents/{agent_id}/runs",
        json={"query": "cough for a week", "stream": True},
        headers=auth(tokens["invoke"]),
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("node_started") == 3 and kinds.count("node_finished") == 3 and "token" in kinds
    assert [d["node_id"] for k, d in events if k == "node_finished"] == ["start", "llm_1", "answer_1"]
    final = events[-1][1]
    assert final["answer"] == "Echo: cough for a week"
    conversation = final["conversation_id"]
    again = client.post(
        f"/api/agents/{agent_id}/runs",
        json={"query": "and a fever", "conversation_id": conversation},
        headers=auth(tokens["invoke"]),
    )
    assert again.status_code == 200 and again.json()["conversation_id"] == conversation
    runs = client.get(f"/api/agents/{agent_id}/runs", headers=auth(tokens["dev"])).json()
    assert [r["query"] for r in runs] == ["and a fever", "cough for a week"]
    assert runs[1]["trace"][1]["node_id"] == "llm_1" and runs[1]["trace"][1]["completion_tokens"] == 5
    rated = client.post(
        f"/api/agent-runs/{runs[1]['id']}/feedback",
        json={"rating": -1, "annotation": "too vague"},
        headers=auth(tokens["invoke"]),
    )
    assert rated.status_code == 200
    feedback = client.get(f"/api/agents/{agent_id}/feedback", headers=auth(tokens["dev"])).json()
    assert [(f["rating"], f["annotation"]) for f in feedback] == [(-1, "too vague")]


def test_a_failing_run_answers_with_the_node_named(site):
    _rt, client, _dev, tokens = site
    graph = chain(
        START,
        node("code_1", "code", code="def main(inputs):\n    return 1 / 0", inputs={}),
        node("answer_1", "answer", answer="{{code_1.output}}"),
    )
    agent_id = build_and_publish(client, tokens["dev"], "broken", graph)
    response = client.post(f"/api/agents/{agent_id}/runs", json={"query": "x"}, headers=auth(tokens["invoke"]))
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "TASK_FAILED" and "code_1" in error["message"] and "ZeroDivisionError" in error["message"]


def test_the_openai_client_calls_a_published_agent_streaming_and_not(site):
    _rt, client, _dev, tokens = site
    build_and_publish(client, tokens["dev"], "echo", ECHO)
    ai = openai.OpenAI(base_url="http://testserver/v1", api_key=tokens["invoke"], http_client=client)
    reply = ai.chat.completions.create(
        model="agent:echo",
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "Echo: first"},
            {"role": "user", "content": "is my potassium of 5.9 high"},
        ],
    )
    assert reply.choices[0].message.content == "Echo: is my potassium of 5.9 high"
    assert reply.usage.completion_tokens == 7
    stream = ai.chat.completions.create(
        model="agent:echo", messages=[{"role": "user", "content": "streamed please"}], stream=True
    )
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == "Echo: streamed please"  # token by token from the LLM node
    with pytest.raises(openai.PermissionDeniedError):  # a key without agents:invoke
        openai.OpenAI(
            base_url="http://testserver/v1", api_key=tokens["models"], http_client=client
        ).chat.completions.create(model="agent:echo", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        ai.chat.completions.create(model="agent:nobody", messages=[{"role": "user", "content": "x"}])
    build = client.post(
        "/api/agents", json={"name": "Draft", "slug": "draft", "graph": ECHO}, headers=auth(tokens["dev"])
    )
    assert build.status_code == 201  # never published: not offered as a model
    assert [m.id for m in ai.models.list().data] == ["agent:echo"]  # agents:invoke opens agents, not services
    models_key = openai.OpenAI(base_url="http://testserver/v1", api_key=tokens["models"], http_client=client)
    listed = {m.id: m.model_extra["kind"] for m in models_key.models.list().data}
    assert listed == {"chat": "chat", "multilingual-e5-small": "embedding", "all-minilm-l6-v2": "embedding"}


def test_an_answer_no_single_llm_writes_streams_when_complete_and_failures_stream_as_errors(site):
    _rt, client, _dev, tokens = site
    graph = chain(
        START,
        node("template_1", "template", template="Triage: {{ start.question | upper }}"),
        node("answer_1", "answer", answer="{{template_1.output}}"),
    )
    build_and_publish(client, tokens["dev"], "shout", graph)
    ai = openai.OpenAI(base_url="http://testserver/v1", api_key=tokens["invoke"], http_client=client)
    chunks = list(
        ai.chat.completions.create(model="agent:shout", messages=[{"role": "user", "content": "rash"}], stream=True)
    )
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert contents == ["Triage: RASH"] and chunks[-1].choices[0].finish_reason == "stop"
    failing = chain(
        START,
        node("code_1", "code", code="def main(inputs):\n    return 1 / 0", inputs={}),
        node("answer_1", "answer", answer="{{code_1.output}}"),
    )
    build_and_publish(client, tokens["dev"], "fails", failing)
    with pytest.raises(openai.APIError) as caught:
        list(ai.chat.completions.create(model="agent:fails", messages=[{"role": "user", "content": "x"}], stream=True))
    assert "code_1" in str(caught.value)


def test_a_grounded_agent_answers_with_citations_through_v1(site):
    rt, client, dev, tokens = site
    with rt.session() as session:
        kb = knowledge.create_knowledge_base(session, rt.knowledge, dev, knowledge.KnowledgeBaseSpec(name="Guidelines"))
        session.flush()
        kb_id = kb.id
        knowledge_documents.upload_document(
            session,
            rt.knowledge,
            rt.objects,
            dev,
            kb_id,
            "sepsis.md",
            b"Give broad-spectrum antibiotics within one hour of recognising sepsis.",
        )
    installed = client.post(
        "/api/agent-templates/guideline_qa/install",
        json={"name": "Guideline Q&A", "slug": "guidelines", "model": "chat", "knowledge_base_ids": [kb_id]},
        headers=auth(tokens["dev"]),
    )
    assert installed.status_code == 201, installed.text
    assert (
        client.post(f"/api/agents/{installed.json()['id']}/publish", json={}, headers=auth(tokens["dev"])).status_code
        == 201
    )
    ai = openai.OpenAI(base_url="http://testserver/v1", api_key=tokens["invoke"], http_client=client)
    reply = ai.chat.completions.create(
        model="agent:guidelines", messages=[{"role": "user", "content": "when to give antibiotics in sepsis"}]
    )
    message = reply.choices[0].message
    citations = message.model_extra["citations"]
    assert citations[0]["document_name"] == "sepsis.md" and citations[0]["chunk_id"]
    assert "[1]" in message.content and "Sources:\n[1] sepsis.md" in message.content
    stream = ai.chat.completions.create(
        model="agent:guidelines", messages=[{"role": "user", "content": "sepsis antibiotics"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.endswith(f"[1] sepsis.md (chunk {citations[0]['chunk_id'][:12]})")
    assert chunks[-1].choices[0].delta.model_extra["citations"][0]["document_name"] == "sepsis.md"


def test_tools_hosts_and_the_market_over_rest(site):
    _rt, client, _dev, tokens = site
    created = client.post(
        "/api/agent-tools",
        json={"name": "lab", "url": "http://127.0.0.1:9/labs", "auth_header": "X-Key", "auth_secret": "k-123"},
        headers=auth(tokens["dev"]),
    )
    assert created.status_code == 201 and "auth_secret" not in created.json() and "k-123" not in created.text
    listed = client.get("/api/agent-tools", headers=auth(tokens["dev"])).json()
    assert [t["ref"] for t in listed][:2] == ["builtin:icd10_lookup", "builtin:unit_convert"]
    tested = client.post(
        "/api/agent-tools/test", json={"ref": created.json()["id"], "arguments": {}}, headers=auth(tokens["dev"])
    )
    assert tested.status_code == 403 and "has not registered that host" in tested.json()["error"]["message"]
    converted = client.post(
        "/api/agent-tools/test",
        json={"ref": "builtin:unit_convert", "arguments": {"value": 100, "from_unit": "kg", "to_unit": "lb"}},
        headers=auth(tokens["dev"]),
    )
    assert converted.json()["result"]["value"] == 220.4623
    assert client.post("/api/agent-hosts", json={"host": "127.0.0.1"}, headers=auth(tokens["dev"])).status_code == 403
    agent_id = build_and_publish(client, tokens["dev"], "echo", ECHO)
    listing = client.post(f"/api/agents/{agent_id}/listings", json={"scope": "tenant"}, headers=auth(tokens["dev"]))
    assert listing.status_code == 201
    copy = client.post(
        f"/api/agent-market/{listing.json()['id']}/install", json={"slug": "echo-copy"}, headers=auth(tokens["dev"])
    )
    assert copy.status_code == 201 and copy.json()["graph"] == ECHO and copy.json()["active_version_id"] is None
