"""Retrieval settings of a knowledge base (issue 21): the languages it holds, the vector weight of
hybrid fusion and the rerank switch, checked in the service (rerank refused without a rerank
server), changed alone through update_retrieval_settings, over REST, and as the page shows and
sends them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from backend.adapters.rerank import HttpReranker
from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.errors import ErrorCode, MedAIError
from backend.models import AuditEvent, KnowledgeBase
from backend.services.identity import api_keys
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import views as knowledge_views
from backend.services.knowledge.calibration import DEFAULT_VECTOR_WEIGHT
from tests.unit.identity_world import add_tenant, add_user, sign


@pytest.fixture
def owner(runtime):
    tenant = add_tenant(runtime, "settings-hospital")
    return sign(runtime, add_user(runtime, "owner@settings-hospital.cn", [(tenant, "tenant_owner")]))[1]


def create(runtime, principal, **settings):
    with runtime.session() as session:
        spec = knowledge.KnowledgeBaseSpec(settings.pop("name", "guide"), **settings)
        return knowledge.create_knowledge_base(session, runtime.knowledge, principal, spec)


def change(runtime, principal, kb_id, **settings):
    with runtime.session() as session:
        return knowledge.update_retrieval_settings(session, runtime.knowledge, principal, kb_id, **settings)


def stored(runtime, kb_id) -> KnowledgeBase:
    with runtime.session() as session:
        found = session.get(KnowledgeBase, kb_id)
        session.expunge(found)
        return found


def refused(call) -> MedAIError:
    with pytest.raises(MedAIError) as caught:
        call()
    assert caught.value.code is ErrorCode.DATA_INVALID
    return caught.value


def test_defaults_and_what_a_spec_may_say(runtime, owner):
    kb = stored(runtime, create(runtime, owner).id)
    assert (kb.languages, kb.vector_weight, kb.rerank) == ([], DEFAULT_VECTOR_WEIGHT, False)
    both = stored(runtime, create(runtime, owner, name="both", languages=("en", "zh"), vector_weight=0.3).id)
    assert (both.languages, both.vector_weight) == (["zh", "en"], 0.3)  # kept in one order
    error = refused(lambda: create(runtime, owner, name="fr", languages=("fr",)))
    assert "fr" in error.message and "zh, en or both" in error.remedy
    refused(lambda: create(runtime, owner, name="twice", languages=("zh", "zh")))
    error = refused(lambda: create(runtime, owner, name="heavy", vector_weight=1.5))
    assert "0 for full text only" in error.remedy
    error = refused(lambda: create(runtime, owner, name="rr", rerank=True))
    assert "MEDAI_RERANK_URL" in error.remedy
    with runtime.session() as session:
        names = session.exec(select(KnowledgeBase.name).where(KnowledgeBase.tenant_id == owner.tenant_id)).all()
    assert sorted(names) == ["both", "guide"]  # nothing made by the refused ones


def test_retrieval_settings_change_alone_and_rerank_needs_a_server(runtime, owner):
    kb = create(runtime, owner, top_k=7, languages=("zh",))
    change(runtime, owner, kb.id, vector_weight=0.8)
    after = stored(runtime, kb.id)
    assert (after.vector_weight, after.top_k, after.languages, after.retrieval_mode) == (0.8, 7, ["zh"], "hybrid")
    change(runtime, owner, kb.id, retrieval_mode="text", top_k=3, score_threshold=0.2, languages=[])
    after = stored(runtime, kb.id)
    assert (after.retrieval_mode, after.top_k, after.score_threshold, after.languages) == ("text", 3, 0.2, [])
    assert after.vector_weight == 0.8
    refused(lambda: change(runtime, owner, kb.id, rerank=True))
    assert stored(runtime, kb.id).rerank is False
    runtime.knowledge.reranker = HttpReranker("http://127.0.0.1:9")  # configured; not called by a settings change
    change(runtime, owner, kb.id, rerank=True)
    assert stored(runtime, kb.id).rerank is True
    runtime.knowledge.reranker = None  # the server is taken away: the setting stays, other edits still work
    change(runtime, owner, kb.id, top_k=4)
    assert (stored(runtime, kb.id).rerank, stored(runtime, kb.id).top_k) == (True, 4)
    change(runtime, owner, kb.id, rerank=False)
    assert stored(runtime, kb.id).rerank is False
    with runtime.session() as session:
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.target_id == kb.id)).all()
    assert actions.count("knowledge_base.update") == 5


def test_another_tenant_cannot_change_them(runtime, owner):
    kb = create(runtime, owner)
    other = add_tenant(runtime, "settings-other")
    stranger = sign(runtime, add_user(runtime, "o@settings-other.cn", [(other, "tenant_owner")]))[1]
    with pytest.raises(MedAIError) as caught:
        change(runtime, stranger, kb.id, vector_weight=0.9)
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert stored(runtime, kb.id).vector_weight == DEFAULT_VECTOR_WEIGHT


def test_the_page_shows_and_sends_them(runtime, owner):
    from state.knowledge import SETTINGS_KEYS, kb_row, languages_choice, settings_changes

    kb = create(runtime, owner, languages=("zh", "en"), vector_weight=0.25)
    with runtime.session() as session:
        found = knowledge_views.knowledge_base_detail(session, owner, kb.id, runtime.knowledge)
    assert found.rerank_available is False
    row = kb_row(found.kb)
    assert (row["languages"], row["vector_weight"], row["rerank"]) == ("both", "0.25", "")
    assert [languages_choice(x) for x in ((), ("zh",), ("en",), ("en", "zh"))] == ["auto", "zh", "en", "both"]
    form = {key: row[key] for key in SETTINGS_KEYS}
    sent = settings_changes({**form, "languages": "en", "vector_weight": "0.6", "rerank": "on"})
    assert (sent["languages"], sent["vector_weight"], sent["rerank"], sent["top_k"]) == (("en",), 0.6, True, 5)
    with pytest.raises(MedAIError):
        settings_changes({**form, "vector_weight": "heavy"})
    runtime.knowledge.reranker = HttpReranker("http://127.0.0.1:9")
    with runtime.session() as session:
        assert knowledge_views.knowledge_base_detail(session, owner, kb.id, runtime.knowledge).rerank_available


def test_rest_create_update_and_retrieval_settings(runtime, owner):
    with runtime.session() as session:
        _, write = api_keys.create_api_key(session, owner, kind="personal", name="w", scopes=["knowledge:write"])
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    client = TestClient(api)
    key = {"Authorization": f"Bearer {write}"}
    created = client.post(
        "/api/knowledge-bases", headers=key, json={"name": "api", "languages": ["en"], "vector_weight": 0.7}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["languages"], body["vector_weight"], body["rerank"]) == (["en"], 0.7, False)
    assert (body["vocabulary_terms"], body["text_index_status"]) == ([], "")
    kb_id = body["id"]
    path = f"/api/knowledge-bases/{kb_id}/retrieval-settings"
    moved = client.put(path, headers=key, json={"vector_weight": 0.2, "top_k": 9})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["vector_weight"], moved.json()["top_k"], moved.json()["languages"]) == (0.2, 9, ["en"])
    no_server = client.put(path, headers=key, json={"rerank": True})
    assert no_server.status_code == 422 and "MEDAI_RERANK_URL" in no_server.json()["error"]["remedy"]
    bad = client.put(path, headers=key, json={"languages": ["de"]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "DATA_INVALID"
    replaced = client.put(f"/api/knowledge-bases/{kb_id}", headers=key, json={"name": "api", "languages": ["zh", "en"]})
    assert replaced.status_code == 200 and replaced.json()["languages"] == ["zh", "en"]
    assert replaced.json()["vector_weight"] == DEFAULT_VECTOR_WEIGHT  # PUT replaces: left out is the default
