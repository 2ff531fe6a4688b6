"""Re-embedding a knowledge base with another model: the old index answers while the new
generation fills, the model and generation switch together, a document that arrives meanwhile
is carried over, a failure keeps the old index with the reason, every request is audited, and
another tenant cannot start one (service and REST)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select, update

from backend.adapters.embeddings import E5, MINILM
from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.errors import ErrorCode, MedAIError
from backend.models import AuditEvent, KnowledgeBase, KnowledgeChunk, KnowledgeDocument
from backend.services.identity import api_keys
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import reembed as knowledge_reembed
from backend.services.knowledge.index import collection_name
from tests.unit.identity_world import add_tenant, add_user, sign

SALT = "高血压患者应限制钠盐摄入，每日食盐不超过5克。规律运动有助于降低血压。"
METFORMIN = "二甲双胍是2型糖尿病患者的首选口服降糖药物，应从小剂量开始。"
WARFARIN = "Warfarin requires regular INR monitoring; the usual target range is 2.0 to 3.0."


@pytest.fixture
def owner(runtime):
    tenant = add_tenant(runtime, "reembed-hospital")
    return sign(runtime, add_user(runtime, "owner@reembed-hospital.cn", [(tenant, "tenant_owner")]))[1]


@pytest.fixture
def kb(runtime, owner):
    """An existing MiniLM knowledge base with two documents (it keeps its model until re-embedded)."""
    with runtime.session() as session:
        spec = knowledge.KnowledgeBaseSpec("guide", embedding_model=MINILM, chunk_size=60, chunk_overlap=0)
        kb = knowledge.create_knowledge_base(session, runtime.knowledge, owner, spec)
    for name, text in (("salt.txt", SALT), ("metformin.txt", METFORMIN)):
        upload(runtime, owner, kb, name, text)
    return kb


def upload(runtime, principal, kb, name, text, **kwargs):
    with runtime.session() as session:
        return knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, principal, kb.id, name, text.encode(), **kwargs
        )


def current(runtime, kb_id) -> KnowledgeBase:
    with runtime.session() as session:
        found = session.get(KnowledgeBase, kb_id)
        session.expunge(found)
        return found


def chunk_count(runtime, kb_id) -> int:
    with runtime.session() as session:
        rows = session.exec(
            select(KnowledgeChunk).where(KnowledgeChunk.knowledge_base_id == kb_id, KnowledgeChunk.kind == "chunk")
        ).all()
        return len(rows)


def vector_hits(runtime, principal, kb_id, query):
    with runtime.session() as session:
        found = knowledge.retrieve(session, runtime.knowledge, principal, kb_id, query, top_k=3, mode="vector")
    return [c.document_name for c in found]


def request(runtime, principal, kb_id, model=E5):
    with runtime.session() as session:
        return knowledge_reembed.request_reembed(session, runtime.knowledge, principal, kb_id, model)


def audit_actions(runtime, kb_id) -> list[str]:
    with runtime.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.target_id == kb_id).order_by(AuditEvent.id)).all()
    return [row.action for row in rows]


def test_the_old_index_answers_until_the_new_one_switches_in(runtime, owner, kb, monkeypatch):
    before = chunk_count(runtime, kb.id)
    assert request(runtime, owner, kb.id).reembed_status == "queued"
    assert current(runtime, kb.id).embedding_model == MINILM
    seen: list[tuple] = []
    e5_embed = runtime.knowledge.e5.embed

    def watched(texts, *, query=False):
        if not seen:  # the first batch of the job: ask the knowledge base, and add a document
            during = current(runtime, kb.id)
            hits = vector_hits(runtime, owner, kb.id, "二甲双胍")
            seen.append((during.embedding_model, during.reembed_status, during.collection_generation, hits))
            upload(runtime, owner, kb, "warfarin.txt", WARFARIN)  # queued: a re-embed is running
            knowledge_documents.reconcile(runtime.session, runtime.knowledge, runtime.objects)
        return e5_embed(texts, query=query)

    monkeypatch.setattr(runtime.knowledge.e5, "embed", watched)
    assert knowledge_reembed.reembed_next(runtime.session, runtime.knowledge) == kb.id
    (model, status, generation, hits) = seen[0]
    assert (model, status, generation) == (MINILM, "running", 0) and hits  # the old index still answers
    after = current(runtime, kb.id)
    assert (after.embedding_model, after.collection_generation) == (E5, 1)
    assert (after.reembed_status, after.reembed_progress, after.reembed_reason) == ("done", 1.0, "")
    vectors = runtime.knowledge.vectors
    assert vectors.count(collection_name(kb.id, 0), kb.tenant_id) == 0  # the old collection is dropped
    total = chunk_count(runtime, kb.id)
    assert total > before and vectors.count(collection_name(kb.id, 1), kb.tenant_id) == total
    assert vector_hits(runtime, owner, kb.id, "二甲双胍")[0] == "metformin.txt"
    assert vector_hits(runtime, owner, kb.id, "华法林需要监测什么指标")[0] == "warfarin.txt"  # arrived meanwhile
    assert audit_actions(runtime, kb.id)[-2:] == ["knowledge_base.reembed", "knowledge_base.reembed_done"]
    assert knowledge_reembed.reembed_next(runtime.session, runtime.knowledge) is None  # nothing else waits


def test_a_failed_reembed_keeps_the_old_index_and_says_why(runtime, owner, kb, monkeypatch):
    request(runtime, owner, kb.id)
    calls = []

    def broken(texts, *, query=False):
        calls.append(len(texts))
        raise RuntimeError("engine crashed")

    monkeypatch.setattr(runtime.knowledge.e5, "embed", broken)
    knowledge_reembed.reembed_next(runtime.session, runtime.knowledge)
    after = current(runtime, kb.id)
    assert calls and (after.embedding_model, after.collection_generation) == (MINILM, 0)
    assert after.reembed_status == "failed" and "RuntimeError" in after.reembed_reason
    vectors = runtime.knowledge.vectors
    assert vectors.count(collection_name(kb.id, 0), kb.tenant_id) == chunk_count(runtime, kb.id)
    assert vectors.count(collection_name(kb.id, 1), kb.tenant_id) == 0
    assert vector_hits(runtime, owner, kb.id, "二甲双胍")  # still answered by the old index
    assert audit_actions(runtime, kb.id)[-1] == "knowledge_base.reembed_failed"
    monkeypatch.undo()
    assert request(runtime, owner, kb.id).reembed_status == "queued"  # it may be tried again


def test_requests_are_checked_and_another_tenant_cannot_reembed(runtime, owner, kb):
    with pytest.raises(MedAIError) as caught:
        request(runtime, owner, kb.id, "All-MiniLM-L6-v2")  # the model it already has, in any case
    assert caught.value.code is ErrorCode.DATA_INVALID
    with pytest.raises(MedAIError) as caught:
        request(runtime, owner, kb.id, "bge-m3")
    assert caught.value.code is ErrorCode.DATA_INVALID
    other = add_tenant(runtime, "other-clinic")
    stranger = sign(runtime, add_user(runtime, "o@other-clinic.cn", [(other, "tenant_owner")]))[1]
    with pytest.raises(MedAIError) as caught:
        request(runtime, stranger, kb.id)
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert current(runtime, kb.id).reembed_status == ""
    request(runtime, owner, kb.id)
    with pytest.raises(MedAIError) as caught:
        request(runtime, owner, kb.id, MINILM)
    assert caught.value.code is ErrorCode.CONFLICT
    with runtime.session() as session:  # nor does a settings change swap the model under it
        spec = knowledge.KnowledgeBaseSpec("guide", embedding_model=E5, chunk_size=60, chunk_overlap=0)
        with pytest.raises(MedAIError) as caught:
            knowledge.update_knowledge_base(session, runtime.knowledge, owner, kb.id, spec)
    assert caught.value.code is ErrorCode.CONFLICT and "Re-embed" in caught.value.remedy
    assert audit_actions(runtime, kb.id).count("knowledge_base.reembed") == 1


def test_a_document_ingested_across_the_switch_is_queued_again(runtime, owner, kb, monkeypatch):
    doc = upload(runtime, owner, kb, "late.txt", WARFARIN, inline=False)
    prepare = knowledge_documents._prepare

    def switched_meanwhile(index, objects, base, document, progress):
        chunks = prepare(index, objects, base, document, progress)
        request(runtime, owner, kb.id)
        knowledge_reembed.reembed_next(runtime.session, runtime.knowledge)  # the switch lands now
        return chunks

    monkeypatch.setattr(knowledge_documents, "_prepare", switched_meanwhile)
    assert knowledge_documents.ingest_next(runtime.session, runtime.knowledge, runtime.objects) == doc.id
    monkeypatch.undo()
    with runtime.session() as session:
        assert session.get(KnowledgeDocument, doc.id).status == "queued"
    assert current(runtime, kb.id).embedding_model == E5
    knowledge_documents.reconcile(runtime.session, runtime.knowledge, runtime.objects)
    assert vector_hits(runtime, owner, kb.id, "华法林需要监测什么指标")[0] == "late.txt"  # embedded with e5


def test_the_controller_runs_it_in_a_worker_thread(runtime, owner, kb):
    assert knowledge_reembed.start_reembedding(runtime.session, runtime.knowledge) is False
    request(runtime, owner, kb.id)
    assert knowledge_reembed.start_reembedding(runtime.session, runtime.knowledge) is True
    runtime.knowledge.reembed_worker.join(timeout=120)
    assert current(runtime, kb.id).reembed_status == "done"


def test_rest_reembed_needs_knowledge_write_and_shows_progress_on_the_knowledge_base(runtime, owner, kb):
    with runtime.session() as session:
        _, read = api_keys.create_api_key(session, owner, kind="personal", name="r", scopes=["knowledge:read"])
        _, write = api_keys.create_api_key(session, owner, kind="personal", name="w", scopes=["knowledge:write"])
    other = add_tenant(runtime, "rest-other")
    stranger = sign(runtime, add_user(runtime, "o@rest-other.cn", [(other, "tenant_owner")]))[1]
    with runtime.session() as session:
        _, foreign = api_keys.create_api_key(session, stranger, kind="personal", name="f", scopes=["knowledge:write"])
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    client = TestClient(api)
    path, body = f"/api/knowledge-bases/{kb.id}/reembed", {"embedding_model": "Multilingual-E5-Small"}
    assert client.post(path, headers={"Authorization": f"Bearer {read}"}, json=body).status_code == 403
    assert client.post(path, headers={"Authorization": f"Bearer {foreign}"}, json=body).status_code == 404
    started = client.post(path, headers={"Authorization": f"Bearer {write}"}, json=body)
    assert started.status_code == 202, started.text
    assert (started.json()["reembed_status"], started.json()["reembed_model"]) == ("queued", E5)
    knowledge_reembed.reembed_next(runtime.session, runtime.knowledge)
    shown = client.get(f"/api/knowledge-bases/{kb.id}", headers={"Authorization": f"Bearer {read}"}).json()
    assert (shown["embedding_model"], shown["reembed_status"], shown["reembed_progress"]) == (E5, "done", 1.0)
    assert shown["collection_generation"] == 1


def test_the_pages_offer_e5_first_and_show_the_reembed_progress(runtime, owner, kb):
    from backend.services.knowledge.views import KnowledgeBaseView
    from state.knowledge import CREATE_DEFAULTS, EMBEDDING_CHOICES, create_spec, embedding_choice, kb_row

    assert EMBEDDING_CHOICES[0] == E5 and MINILM in EMBEDDING_CHOICES
    assert create_spec({**CREATE_DEFAULTS, "name": "x"}).embedding_model == E5
    chosen = {**CREATE_DEFAULTS, "name": "x", **embedding_choice(MINILM)}
    assert create_spec(chosen).embedding_model == MINILM
    other = {**CREATE_DEFAULTS, "name": "x", **embedding_choice("other"), "embedding_model": "remote:bge-m3"}
    assert create_spec(other).embedding_model == "remote:bge-m3"
    request(runtime, owner, kb.id)
    with runtime.session() as session:
        moving = {"reembed_status": "running", "reembed_progress": 0.42}
        session.exec(update(KnowledgeBase).where(KnowledgeBase.id == kb.id).values(**moving))
    row = kb_row(KnowledgeBaseView.of(current(runtime, kb.id)))
    assert (row["embedding_model"], row["reembed_model"], row["reembed_status"], row["reembed_progress"]) == (
        MINILM,
        E5,
        "running",
        "42",
    )
