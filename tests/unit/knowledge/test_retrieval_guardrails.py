"""Guardrails for knowledge retrieval: a query that is empty or has no letters or digits, or is
longer than the one shared limit, is refused (422 with code and remedy) by retrieve and the recall
tests; an agent's knowledge node skips such a query (or cuts a long one) and says so in its trace."""

from __future__ import annotations

import io
import uuid

import pytest
from fastapi.testclient import TestClient

from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.models import KnowledgeBase, RecallQuery
from backend.services.agents import definitions as agents
from backend.services.agents import runs as agent_runs
from backend.services.agents.executors import knowledge_query
from backend.services.agents.runs import RunRequest
from backend.services.identity import api_keys
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge.search import MAX_QUERY_CHARS, has_words
from tests.unit.agent_world import START, chain, node
from tests.unit.identity_world import add_tenant, add_user, sign

GUIDE = "高血压患者应限制钠盐摄入，每日食盐不超过5克。\n\n沙丁胺醇是β2受体激动剂，500微克吸入。".encode()
WORDLESS = ["", "   ", "？！。", "😀😀", "\n\t", "___"]
TOO_LONG = "高" * (MAX_QUERY_CHARS + 1)


@pytest.fixture
def client(runtime):
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    return TestClient(api)


@pytest.fixture
def kb(runtime, client) -> tuple[str, dict[str, str]]:
    """A knowledge base holding GUIDE, and the headers of a write key of its tenant."""
    tenant = add_tenant(runtime, "guard")
    _, principal = sign(runtime, add_user(runtime, "dev@guard.cn", [(tenant, "developer")]))
    with runtime.session() as session:
        _, key = api_keys.create_api_key(session, principal, kind="personal", name="w", scopes=["knowledge:write"])
    headers = {"Authorization": f"Bearer {key}"}
    kb_id = client.post("/api/knowledge-bases", headers=headers, json={"name": "guide"}).json()["id"]
    doc = client.post(
        f"/api/knowledge-bases/{kb_id}/documents", headers=headers, files={"file": ("guide.txt", io.BytesIO(GUIDE))}
    )
    assert doc.status_code == 201, doc.text
    return kb_id, headers


def _refused(response, says: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "DATA_INVALID" and says in error["message"] and error["remedy"]


@pytest.mark.parametrize("query", WORDLESS)
def test_a_wordless_query_is_refused_by_retrieve_and_recall(client, kb, query):
    kb_id, headers = kb
    for mode in ("hybrid", "vector", "text"):
        found = client.post(
            f"/api/knowledge-bases/{kb_id}/retrieve", headers=headers, json={"query": query, "mode": mode}
        )
        _refused(found, "no letters or digits")
    saved = client.post(
        f"/api/knowledge-bases/{kb_id}/recall-queries",
        headers=headers,
        json={"query": query, "expected_documents": ["guide.txt"]},
    )
    _refused(saved, "no letters or digits")
    assert client.get(f"/api/knowledge-bases/{kb_id}/recall-queries", headers=headers).json() == []


def test_one_length_limit_for_retrieve_and_recall(client, kb):
    kb_id, headers = kb
    limit_message = f"is {MAX_QUERY_CHARS + 1} characters; the limit is {MAX_QUERY_CHARS}"
    found = client.post(f"/api/knowledge-bases/{kb_id}/retrieve", headers=headers, json={"query": TOO_LONG})
    _refused(found, limit_message)
    assert "shorten" in found.json()["error"]["remedy"].lower()
    saved = client.post(
        f"/api/knowledge-bases/{kb_id}/recall-queries",
        headers=headers,
        json={"query": TOO_LONG, "expected_documents": ["guide.txt"]},
    )
    _refused(saved, limit_message)
    at_limit = "高" * MAX_QUERY_CHARS
    assert (
        client.post(f"/api/knowledge-bases/{kb_id}/retrieve", headers=headers, json={"query": at_limit}).status_code
        == 200
    )
    padded = {"query": f"  {at_limit}  ", "expected_documents": ["guide.txt"]}  # surrounding spaces do not count
    assert client.post(f"/api/knowledge-bases/{kb_id}/recall-queries", headers=headers, json=padded).status_code == 201


@pytest.mark.parametrize("query", ["β2", "500", "β", "高血压？"])
def test_greek_letters_digits_and_chinese_are_words(client, kb, query):
    kb_id, headers = kb
    found = client.post(
        f"/api/knowledge-bases/{kb_id}/retrieve", headers=headers, json={"query": query, "mode": "text"}
    )
    assert found.status_code == 200, found.text
    saved = client.post(
        f"/api/knowledge-bases/{kb_id}/recall-queries",
        headers=headers,
        json={"query": query, "expected_documents": ["guide.txt"]},
    )
    assert saved.status_code == 201 and saved.json()["query"] == query
    run = client.post(f"/api/knowledge-bases/{kb_id}/recall-runs", headers=headers, json={"k": 3})
    assert run.status_code == 201, run.text


def test_a_recall_run_names_a_test_query_saved_before_the_guardrails(runtime, client, kb):
    kb_id, headers = kb
    with runtime.session() as session:
        tenant_id = session.get(KnowledgeBase, kb_id).tenant_id
        session.add(
            RecallQuery(
                tenant_id=tenant_id,
                knowledge_base_id=kb_id,
                query="？！",
                expected_documents=["x"],
                created_by="legacy",
            )
        )
    run = client.post(f"/api/knowledge-bases/{kb_id}/recall-runs", headers=headers, json={"k": 3})
    _refused(run, "'？！'")
    assert "Delete" in run.json()["error"]["remedy"]


def test_the_agent_query_rule_skips_wordless_and_cuts_long_queries():
    assert has_words("β2") and has_words("500") and has_words("高") and not has_words("？！。😀 _")
    assert knowledge_query("  hypertension  ") == ("hypertension", "")
    skipped, notice = knowledge_query("？？")
    assert skipped is None and "skipped" in notice
    assert knowledge_query("！" * MAX_QUERY_CHARS + "words after the limit")[0] is None  # nothing left to search
    cut, notice = knowledge_query("a" * (MAX_QUERY_CHARS + 500))
    assert len(cut) == MAX_QUERY_CHARS and f"{MAX_QUERY_CHARS + 500} characters" in notice


@pytest.fixture
def agent_lab(runtime):
    tenant = add_tenant(runtime, "guard-agents")
    _, dev = sign(runtime, add_user(runtime, "dev@guard-agents.cn", [(tenant, "developer")]))
    with runtime.session() as session:
        kb = knowledge.create_knowledge_base(session, runtime.knowledge, dev, knowledge.KnowledgeBaseSpec(name="htn"))
        session.flush()
        kb_id = kb.id
        knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, dev, kb_id, "htn.md", b"Blood pressure above 140/90 is high."
        )
    graph = chain(
        START,
        node("knowledge_1", "knowledge", knowledge_bases=[kb_id], query="{{start.question}}", top_k=2),
        node("answer_1", "answer", answer="Passages: {{knowledge_1.output}}"),
    )
    with runtime.session() as session:
        agent_id = agents.create_agent(
            session, dev, agents.AgentSpec("Flow", f"g-{uuid.uuid4().hex[:8]}", graph=graph)
        ).id
    return agent_runs.deps_from(runtime), dev, agent_id


def _run(agent_lab, question: str):
    deps, dev, agent_id = agent_lab
    events = list(agent_runs.start_run(deps, dev, agent_id, RunRequest(query=question, draft=True)).events)
    last = events[-1]
    assert last.type == "run_finished", last.data["error"]
    return last, {t["node_id"]: t for t in last.data["trace"]}


def test_an_agent_skips_retrieval_for_a_wordless_question_and_says_so_in_its_trace(agent_lab):
    last, trace = _run(agent_lab, "？？")
    step = trace["knowledge_1"]
    assert step["status"] == "succeeded" and step["input"]["query"] == "？？"
    assert "Retrieval skipped" in step["output"]["notice"] and step["output"]["citations"] == []
    assert last.data["citations"] == [] and last.data["answer"] == "Passages: "


def test_an_agent_cuts_a_long_question_to_the_limit_and_its_trace_says_so(agent_lab):
    last, trace = _run(agent_lab, "blood pressure " * 100)
    step = trace["knowledge_1"]
    assert f"only its first {MAX_QUERY_CHARS} were searched" in step["output"]["notice"]
    assert last.data["citations"] and last.data["citations"][0]["document_name"] == "htn.md"
    _, plain = _run(agent_lab, "blood pressure")
    assert "notice" not in plain["knowledge_1"]["output"]
