"""Citations to the passage: a retrieve hit (service and REST) and an agent's citation carry the
chunk's offsets, which index the document text the document page shows; the page's use case
checks tenant and visibility, marks the passage and cuts long documents around it; citation rows
link to the page at the passage."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import update

from backend.adapters.embeddings import MINILM
from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.errors import ErrorCode, MedAIError
from backend.models import KnowledgeChunk
from backend.services.agents.executors import citation
from backend.services.identity import api_keys
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import views as knowledge_views
from state.agent_run import citation_row
from state.knowledge_document import document_href
from tests.unit.identity_world import add_tenant, add_user, sign

GUIDE = (
    "高血压患者应限制钠盐摄入，每日食盐不超过5克。规律运动有助于降低血压。\n\n"
    "2型糖尿病患者应监测空腹血糖。二甲双胍是首选口服药物，应从小剂量开始。\n\n"
    "Warfarin requires regular INR monitoring; the usual target range is 2.0 to 3.0."
)


@pytest.fixture
def world(runtime):
    tenant = add_tenant(runtime, "view-hospital")
    owner = sign(runtime, add_user(runtime, "owner@view-hospital.cn", [(tenant, "tenant_owner")]))[1]
    with runtime.session() as session:
        spec = knowledge.KnowledgeBaseSpec("guide", embedding_model=MINILM, chunk_size=50, chunk_overlap=10)
        kb = knowledge.create_knowledge_base(session, runtime.knowledge, owner, spec)
        doc = knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, owner, kb.id, "guide.md", GUIDE.encode()
        )
    return tenant, owner, kb, doc


def page(runtime, principal, kb_id, doc_id, start=None, end=None, **kwargs):
    with runtime.session() as session:
        return knowledge_views.document_page(session, runtime.objects, principal, kb_id, doc_id, start, end, **kwargs)


def test_a_hit_opens_its_document_at_the_passage(runtime, world):
    _tenant, owner, kb, doc = world
    with runtime.session() as session:
        hit = knowledge.retrieve(session, runtime.knowledge, owner, kb.id, "二甲双胍", mode="text")[0]
    assert "二甲双胍" in hit.text and hit.start_char is not None
    shown = page(runtime, owner, kb.id, doc.id, hit.start_char, hit.end_char)
    assert shown.passage == hit.text and shown.before + shown.passage + shown.after == GUIDE
    assert (shown.name, shown.knowledge_base_name, shown.chars, shown.clipped_before) == (
        "guide.md",
        "guide",
        len(GUIDE),
        False,
    )
    plain = page(runtime, owner, kb.id, doc.id)  # no passage asked for: the whole text
    assert (plain.before, plain.passage, plain.after) == (GUIDE, "", "")
    wrong = page(runtime, owner, kb.id, doc.id, 10, len(GUIDE) + 5)  # offsets that do not fit: nothing marked
    assert wrong.passage == "" and wrong.before == GUIDE

    cited = citation(1, kb.id, hit)
    assert (cited["knowledge_base_id"], cited["document_id"]) == (kb.id, doc.id)
    assert GUIDE[cited["start_char"] : cited["end_char"]] == hit.text
    href = citation_row(cited)["href"]
    assert href == f"/knowledge/{kb.id}/documents/{doc.id}?from={hit.start_char}&to={hit.end_char}"


def test_offsets_not_found_by_the_background_pass_are_not_passed_on(runtime, world):
    _tenant, owner, kb, doc = world
    with runtime.session() as session:
        session.exec(
            update(KnowledgeChunk).where(KnowledgeChunk.document_id == doc.id).values(start_char=-1, end_char=-1)
        )
    with runtime.session() as session:
        hit = knowledge.retrieve(session, runtime.knowledge, owner, kb.id, "二甲双胍", mode="text")[0]
    cited = citation(1, kb.id, hit)
    assert (cited["start_char"], cited["end_char"]) == (None, None)
    assert citation_row(cited)["href"] == f"/knowledge/{kb.id}/documents/{doc.id}"  # the document, unmarked
    assert citation_row({"document_id": doc.id, "chunk_id": "c"})["href"] == ""  # recorded before: no knowledge base
    assert document_href(kb.id, doc.id, 5, 5) == f"/knowledge/{kb.id}/documents/{doc.id}"


def test_a_long_document_is_cut_around_the_passage(runtime, world):
    _tenant, owner, kb, doc = world
    start, end = GUIDE.index("二甲双胍"), GUIDE.index("二甲双胍") + 4
    shown = page(runtime, owner, kb.id, doc.id, start, end, limit=30)
    assert shown.passage == "二甲双胍" and shown.clipped_before and shown.clipped_after
    assert len(shown.before + shown.passage + shown.after) == 30
    assert GUIDE[shown.shown_from : shown.shown_from + 30] == shown.before + shown.passage + shown.after
    first = page(runtime, owner, kb.id, doc.id, limit=30)  # no passage: the beginning
    assert first.before == GUIDE[:30] and not first.clipped_before and first.clipped_after


def test_the_document_page_checks_tenant_visibility_and_the_document(runtime, world):
    tenant, owner, kb, doc = world
    outsider_tenant = add_tenant(runtime, "other-hospital")
    outsider = sign(runtime, add_user(runtime, "dev@other-hospital.cn", [(outsider_tenant, "tenant_owner")]))[1]
    colleague = sign(runtime, add_user(runtime, "dev@view-hospital.cn", [(tenant, "developer")]))[1]
    assert page(runtime, colleague, kb.id, doc.id).before == GUIDE  # the tenant's knowledge base
    with runtime.session() as session:
        spec = knowledge.KnowledgeBaseSpec("private", embedding_model=MINILM, visibility="only_me")
        private = knowledge.create_knowledge_base(session, runtime.knowledge, owner, spec)
        secret = knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, owner, private.id, "secret.txt", "仅本人可见的记录。".encode()
        )
    assert page(runtime, owner, private.id, secret.id).before == "仅本人可见的记录。"
    for who, kb_id, doc_id in (
        (outsider, kb.id, doc.id),  # another tenant
        (colleague, private.id, secret.id),  # not shared with this member
        (owner, kb.id, secret.id),  # a document of another knowledge base
        (owner, kb.id, "nope"),
    ):
        with pytest.raises(MedAIError) as caught:
            page(runtime, who, kb_id, doc_id)
        assert caught.value.code is ErrorCode.NOT_FOUND, (who.user_id, kb_id, doc_id)


def test_rest_hits_carry_offsets_and_the_text_route_returns_what_they_index(runtime, world):
    _tenant, owner, kb, doc = world
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    client = TestClient(api)
    with runtime.session() as session:
        _, reader = api_keys.create_api_key(session, owner, kind="personal", name="r", scopes=["knowledge:read"])
    key = {"Authorization": f"Bearer {reader}"}
    hits = client.post(
        f"/api/knowledge-bases/{kb.id}/retrieve", headers=key, json={"query": "INR monitoring", "mode": "text"}
    ).json()
    assert hits and hits[0]["knowledge_base_id"] == kb.id and hits[0]["document_id"] == doc.id
    text = client.get(f"/api/knowledge-bases/{kb.id}/documents/{doc.id}/text", headers=key)
    assert text.status_code == 200 and text.json()["text"] == GUIDE and text.json()["name"] == "guide.md"
    for hit in hits:
        assert GUIDE[hit["start_char"] : hit["end_char"]] == hit["text"]
    missing = client.get(f"/api/knowledge-bases/{kb.id}/documents/nope/text", headers=key)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
