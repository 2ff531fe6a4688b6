"""A knowledge base's own vocabulary: its words are one BM25 term in index and query, its synonym
groups expand queries beside the platform's, the stored fingerprint tells chunks of another
vocabulary apart; the service checks rights, tenant and input and audits; the background
re-index re-tokenises stale chunks with progress, bumps the index version and survives a save
during the run, a failure and a restart; the REST routes; and the grown platform vocabulary."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select, update

from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.errors import ErrorCode, MedAIError
from backend.models import AuditEvent, KnowledgeBase, KnowledgeChunk
from backend.models.base import utcnow
from backend.services.identity import api_keys
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import vocabulary as knowledge_vocabulary
from backend.services.knowledge.text_search import (
    VOCABULARY_DIR,
    Bm25Index,
    KbVocabulary,
    expand_query,
    index_terms,
    is_current,
    stored_terms,
    terms_format,
    tokenize,
)
from tests.unit.identity_world import add_tenant, add_user, sign

WARD = "心内一病区患者入院后需完成床旁心电图与心肌酶谱检查。"
SURGERY = "普通外科病房术后患者应早期下床活动，预防深静脉血栓。"
SUGAR = "新诊断患者可采用降糖三联方案，三个月后复查糖化血红蛋白。"
VOCAB = KbVocabulary(("心内一病区",), (("心内一病区", "CCU-1"), ("降糖三联", "triple oral therapy")))


def index_of(texts: dict[str, str], vocabulary: KbVocabulary | None) -> Bm25Index:
    return Bm25Index(list(texts), [stored_terms(index_terms(t, vocabulary), t, vocabulary) for t in texts.values()])


def found(index: Bm25Index, query: str, vocabulary: KbVocabulary | None) -> list[str]:
    return [hit.id for hit in index.search(expand_query(query, vocabulary).weights, 5)]


# text_search with a knowledge base's vocabulary ---------------------------------------------------


def test_a_kb_word_is_one_term_in_index_and_query():
    assert "心内一病区" not in tokenize(WARD)  # jieba alone cuts it up
    assert tokenize(WARD, VOCAB).count("心内一病区") == 1
    assert expand_query("心内一病区收治范围", VOCAB).weights["心内一病区"] == 1.0
    assert tokenize("高血压患者", KbVocabulary(("高血压",))) == tokenize("高血压患者")  # known words are not doubled
    latin = KbVocabulary(("PD-1 inhibitor",))
    assert "pd-1_inhibitor" in tokenize("A PD-1 inhibitor was started.", latin)
    assert "pd-1_inhibitor" not in tokenize("xpd-1 inhibitors", latin)  # whole words only
    index = index_of({"ward": WARD, "surgery": SURGERY, "sugar": SUGAR}, VOCAB)
    assert found(index, "心内一病区", VOCAB)[0] == "ward"


def test_kb_synonyms_expand_a_query_and_find_the_document_only_in_that_kb():
    texts = {"ward": WARD, "surgery": SURGERY, "sugar": SUGAR}
    mine, plain = index_of(texts, VOCAB), index_of(texts, None)
    assert expand_query("CCU-1 admission checks", VOCAB).expanded == ("心内一病区",)
    assert found(mine, "CCU-1 admission checks", VOCAB) == ["ward"]
    assert found(mine, "triple oral therapy", VOCAB)[0] == "sugar"  # English query, Chinese document
    assert "triple oral therapy" in expand_query("降糖三联", VOCAB).expanded
    assert expand_query("CCU-1", None).expanded == () and found(plain, "CCU-1", None) == []
    assert "COPD" in expand_query("慢阻肺", VOCAB).expanded  # the platform's groups still apply


def test_the_fingerprint_holds_the_kb_vocabulary():
    other = KbVocabulary(("心内二病区",))
    assert terms_format(VOCAB) != terms_format() and terms_format(VOCAB) != terms_format(other)
    assert terms_format(KbVocabulary()) == terms_format()  # no own vocabulary: the platform's fingerprint
    assert is_current(index_terms(WARD, VOCAB), VOCAB)
    assert not is_current(index_terms(WARD), VOCAB) and not is_current(index_terms(WARD, VOCAB))
    assert not is_current(index_terms(WARD, other), VOCAB)
    assert "心内一病区" in stored_terms(index_terms(WARD), WARD, VOCAB)  # stale: tokenised again
    assert KbVocabulary(("a", "b")).digest == KbVocabulary(("B", "a")).digest  # order and case do not matter
    latin_only = KbVocabulary(VOCAB.terms, (*VOCAB.synonyms, ("foo", "bar")))
    assert latin_only.digest == VOCAB.digest  # nothing stored changes with an English-only group
    kb = KnowledgeBase(
        name="x",
        tenant_id="t",
        owner_id="u",
        created_by="u",
        vocabulary_terms=[" 心内一病区 ", ""],
        vocabulary_synonyms=[["单"], ["心内一病区", "CCU-1"], ["降糖三联", "triple oral therapy"]],
    )
    assert KbVocabulary.of(kb) == VOCAB


def test_the_platform_vocabulary_is_grown_and_its_new_groups_work():
    lines = (VOCABULARY_DIR / "synonyms.tsv").read_text(encoding="utf-8").splitlines()
    groups = [line for line in lines if line.strip() and not line.startswith("#")]
    words = [line for line in (VOCABULARY_DIR / "medical_terms.txt").read_text(encoding="utf-8").splitlines()]
    assert len(groups) >= 150 and len([w for w in words if w.strip() and not w.startswith("#")]) >= 600
    assert "利伐沙班" in expand_query("Xarelto dosing").expanded
    assert "methylprednisolone" in expand_query("甲强龙冲击").expanded
    assert "慢性支气管炎" in expand_query("老慢支急性发作").expanded
    assert "eGFR" not in expand_query("甲强龙").expanded
    index = index_of({"doac": "利伐沙班用于非瓣膜性房颤的卒中预防。", "other": SURGERY}, None)
    assert found(index, "rivaroxaban stroke prevention", None)[0] == "doac"


# the service --------------------------------------------------------------------------------------


@pytest.fixture
def people(runtime):
    tenant = add_tenant(runtime, "vocab-hospital")
    owner = sign(runtime, add_user(runtime, "owner@vocab-hospital.cn", [(tenant, "tenant_owner")]))[1]
    clinician = sign(runtime, add_user(runtime, "doc@vocab-hospital.cn", [(tenant, "clinician")]))[1]
    other = add_tenant(runtime, "vocab-other")
    stranger = sign(runtime, add_user(runtime, "o@vocab-other.cn", [(other, "tenant_owner")]))[1]
    return {"owner": owner, "clinician": clinician, "stranger": stranger}


@pytest.fixture
def kb(runtime, people):
    with runtime.session() as session:
        spec = knowledge.KnowledgeBaseSpec("wards", chunk_size=60, chunk_overlap=0)
        kb = knowledge.create_knowledge_base(session, runtime.knowledge, people["owner"], spec)
    for name, text in (("ward.txt", WARD), ("surgery.txt", SURGERY), ("sugar.txt", SUGAR)):
        with runtime.session() as session:
            knowledge_documents.upload_document(
                session, runtime.knowledge, runtime.objects, people["owner"], kb.id, name, text.encode()
            )
    return kb


def save(runtime, principal, kb_id, terms, synonyms):
    with runtime.session() as session:
        return knowledge_vocabulary.update_vocabulary(session, runtime.knowledge, principal, kb_id, terms, synonyms)


def current(runtime, kb_id) -> KnowledgeBase:
    with runtime.session() as session:
        found = session.get(KnowledgeBase, kb_id)
        session.expunge(found)
        return found


def chunk_terms(runtime, kb_id) -> dict[str, str]:
    with runtime.session() as session:
        rows = session.exec(
            select(KnowledgeChunk.text, KnowledgeChunk.terms).where(
                KnowledgeChunk.knowledge_base_id == kb_id, KnowledgeChunk.kind == "chunk"
            )
        ).all()
    return dict(rows)


def audit_actions(runtime, kb_id) -> list[str]:
    with runtime.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.target_id == kb_id).order_by(AuditEvent.id)).all()
    return [row.action for row in rows]


def refused(code, call):
    with pytest.raises(MedAIError) as caught:
        call()
    assert caught.value.code is code
    return caught.value


def test_saving_checks_and_cleans_the_vocabulary_and_audits(runtime, people, kb):
    owner = people["owner"]
    shown = save(
        runtime, owner, kb.id, [" 心内一病区 ", "", "心内一病区", "PD-1  inhibitor"], [["CCU-1", "心内一病区", "ccu-1"]]
    )
    assert shown.terms == ("心内一病区", "PD-1 inhibitor")  # stripped, blanks and repeats dropped
    assert shown.synonyms == (("CCU-1", "心内一病区"),)
    assert (shown.text_index_status, shown.text_index_progress) == ("queued", 0.0)
    stored = current(runtime, kb.id)
    assert stored.vocabulary_terms == ["心内一病区", "PD-1 inhibitor"] and stored.text_index_status == "queued"
    assert audit_actions(runtime, kb.id)[-1] == "knowledge_base.vocabulary"
    error = refused(ErrorCode.DATA_INVALID, lambda: save(runtime, owner, kb.id, [], [["CCU-1", "ccu-1"]]))
    assert "only one" in error.message and "Add at least one more word" in error.remedy
    refused(ErrorCode.DATA_INVALID, lambda: save(runtime, owner, kb.id, ["x" * 65], []))
    refused(ErrorCode.DATA_INVALID, lambda: save(runtime, owner, kb.id, ["！？"], []))
    too_many = [f"词{n}" for n in range(knowledge_vocabulary.MAX_TERMS + 1)]
    error = refused(ErrorCode.DATA_INVALID, lambda: save(runtime, owner, kb.id, too_many, []))
    assert str(knowledge_vocabulary.MAX_TERMS) in error.message
    big_group = [[f"w{n}" for n in range(knowledge_vocabulary.MAX_MEMBERS + 1)]]
    refused(ErrorCode.DATA_INVALID, lambda: save(runtime, owner, kb.id, [], big_group))
    assert current(runtime, kb.id).vocabulary_terms == ["心内一病区", "PD-1 inhibitor"]  # refusals change nothing
    assert audit_actions(runtime, kb.id).count("knowledge_base.vocabulary") == 1
    save(runtime, owner, kb.id, ["心内一病区", "PD-1 inhibitor"], [["CCU-1", "心内一病区"]])  # the same again
    assert audit_actions(runtime, kb.id).count("knowledge_base.vocabulary") == 1


def test_only_editors_of_the_tenant_may_read_or_change_it(runtime, people, kb):
    with runtime.session() as session:
        assert knowledge_vocabulary.get_vocabulary(session, people["clinician"], kb.id).terms == ()
    refused(ErrorCode.FORBIDDEN, lambda: save(runtime, people["clinician"], kb.id, ["心内一病区"], []))
    refused(ErrorCode.NOT_FOUND, lambda: save(runtime, people["stranger"], kb.id, ["心内一病区"], []))
    with runtime.session() as session:
        refused(
            ErrorCode.NOT_FOUND,
            lambda: knowledge_vocabulary.get_vocabulary(session, people["stranger"], kb.id),
        )
    assert current(runtime, kb.id).vocabulary_terms == [] and current(runtime, kb.id).text_index_status == ""


def test_the_text_forms_of_the_page_parse_into_words_and_groups():
    assert knowledge_vocabulary.parse_terms(" 心内一病区 \n\n PD-1 \n") == ["心内一病区", "PD-1"]
    groups = knowledge_vocabulary.parse_synonyms("降压药, 抗高血压药，antihypertensive\n\nCCU-1\t心内一病区\n , \n")
    assert groups == [["降压药", "抗高血压药", "antihypertensive"], ["CCU-1", "心内一病区"]]
    assert knowledge_vocabulary.parse_synonyms(knowledge_vocabulary.format_synonyms(groups)) == groups


# the background re-index --------------------------------------------------------------------------


def test_the_reindex_retokenises_stale_chunks_reports_progress_and_bumps_the_version(runtime, people, kb, monkeypatch):
    before = current(runtime, kb.id)
    assert all(is_current(t) for t in chunk_terms(runtime, kb.id).values())  # platform-only terms so far
    save(runtime, people["owner"], kb.id, ["心内一病区"], [["降糖三联", "triple oral therapy"]])
    vocabulary = KbVocabulary.of(current(runtime, kb.id))
    monkeypatch.setattr(knowledge_vocabulary, "BATCH", 1)
    seen: list[tuple[str, float]] = []
    store = knowledge_vocabulary._store

    def watched(open_session, job, rows, fraction):
        stored = store(open_session, job, rows, fraction)
        kb_now = current(runtime, kb.id)
        seen.append((kb_now.text_index_status, kb_now.text_index_progress))
        return stored

    monkeypatch.setattr(knowledge_vocabulary, "_store", watched)
    assert knowledge_vocabulary.reindex_next(runtime.session, runtime.knowledge) == kb.id
    total = len(chunk_terms(runtime, kb.id))
    assert len(seen) == total >= 3 and all(status == "running" for status, _ in seen)
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and 0 < progress[0] < progress[-1] <= 0.99
    after = current(runtime, kb.id)
    assert (after.text_index_status, after.text_index_progress, after.text_index_reason) == ("done", 1.0, "")
    assert after.index_version == before.index_version + 1
    terms = chunk_terms(runtime, kb.id)
    assert all(is_current(t, vocabulary) for t in terms.values())
    assert "心内一病区" in terms[WARD].split() and "降糖三联" in terms[SUGAR].split()
    assert audit_actions(runtime, kb.id)[-2:] == ["knowledge_base.vocabulary", "knowledge_base.text_reindex_done"]
    assert knowledge_vocabulary.reindex_next(runtime.session, runtime.knowledge) is None  # nothing else waits


def test_a_save_during_the_run_wins_and_a_failure_says_why(runtime, people, kb, monkeypatch):
    save(runtime, people["owner"], kb.id, ["心内一病区"], [])
    monkeypatch.setattr(knowledge_vocabulary, "BATCH", 1)
    page = knowledge_vocabulary._page
    calls = []

    def saved_meanwhile(open_session, job, after):
        if not calls:
            save(runtime, people["owner"], kb.id, ["心内二病区"], [])  # a newer vocabulary
        calls.append(after)
        return page(open_session, job, after)

    monkeypatch.setattr(knowledge_vocabulary, "_page", saved_meanwhile)
    assert knowledge_vocabulary.reindex_next(runtime.session, runtime.knowledge) == kb.id
    assert current(runtime, kb.id).text_index_status == "queued"  # the old job stopped, the new one waits
    monkeypatch.setattr(knowledge_vocabulary, "_page", page)
    knowledge_vocabulary.reindex_next(runtime.session, runtime.knowledge)
    newer = KbVocabulary(("心内二病区",))
    assert current(runtime, kb.id).text_index_status == "done"
    assert all(is_current(t, newer) for t in chunk_terms(runtime, kb.id).values())

    save(runtime, people["owner"], kb.id, ["心内三病区"], [])

    def broken(text, vocabulary=None):
        raise RuntimeError("tokeniser crashed")

    monkeypatch.setattr(knowledge_vocabulary, "index_terms", broken)
    knowledge_vocabulary.reindex_next(runtime.session, runtime.knowledge)
    failed = current(runtime, kb.id)
    assert failed.text_index_status == "failed" and "RuntimeError" in failed.text_index_reason
    assert audit_actions(runtime, kb.id)[-1] == "knowledge_base.text_reindex_failed"
    assert all(is_current(t, newer) for t in chunk_terms(runtime, kb.id).values())  # nothing half-written
    monkeypatch.undo()
    shown = save(runtime, people["owner"], kb.id, ["心内三病区"], [])  # the same words: tried again after a failure
    assert shown.text_index_status == "queued"


def test_the_controller_runs_it_in_a_thread_and_resumes_a_job_left_by_a_dead_process(runtime, people, kb):
    index = runtime.knowledge
    assert knowledge_vocabulary.start_text_reindexing(runtime.session, index) is False  # nothing queued
    save(runtime, people["owner"], kb.id, ["心内一病区"], [])
    with runtime.session() as session:  # as a process that died mid-run leaves it
        session.exec(
            update(KnowledgeBase)
            .where(KnowledgeBase.id == kb.id)
            .values(text_index_status="running", text_index_progress=0.4, updated_at=utcnow() - timedelta(hours=1))
        )
    assert knowledge_vocabulary.start_text_reindexing(runtime.session, index) is True
    index.text_worker.join(timeout=60)
    assert current(runtime, kb.id).text_index_status == "done"
    vocabulary = KbVocabulary(("心内一病区",))
    assert all(is_current(t, vocabulary) for t in chunk_terms(runtime, kb.id).values())


# REST ---------------------------------------------------------------------------------------------


def test_rest_vocabulary_routes(runtime, people, kb):
    with runtime.session() as session:
        _, read = api_keys.create_api_key(
            session, people["owner"], kind="personal", name="r", scopes=["knowledge:read"]
        )
        _, write = api_keys.create_api_key(
            session, people["owner"], kind="personal", name="w", scopes=["knowledge:write"]
        )
        _, foreign = api_keys.create_api_key(
            session, people["stranger"], kind="personal", name="f", scopes=["knowledge:write"]
        )
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    client = TestClient(api)
    path = f"/api/knowledge-bases/{kb.id}/vocabulary"
    body = {"terms": ["心内一病区", " "], "synonyms": [["CCU-1", "心内一病区"]]}
    assert client.put(path, headers={"Authorization": f"Bearer {read}"}, json=body).status_code == 403
    assert client.put(path, headers={"Authorization": f"Bearer {foreign}"}, json=body).status_code == 404
    assert client.get(path, headers={"Authorization": f"Bearer {foreign}"}).status_code == 404
    saved = client.put(path, headers={"Authorization": f"Bearer {write}"}, json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["terms"] == ["心内一病区"] and saved.json()["text_index_status"] == "queued"
    bad = client.put(path, headers={"Authorization": f"Bearer {write}"}, json={"synonyms": [["CCU-1"]]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "DATA_INVALID" and bad.json()["error"]["remedy"]
    knowledge_vocabulary.reindex_next(runtime.session, runtime.knowledge)
    shown = client.get(path, headers={"Authorization": f"Bearer {read}"}).json()
    assert (shown["text_index_status"], shown["text_index_progress"]) == ("done", 1.0)
    assert shown["synonyms"] == [["CCU-1", "心内一病区"]]
    kb_json = client.get(f"/api/knowledge-bases/{kb.id}", headers={"Authorization": f"Bearer {read}"}).json()
    assert kb_json["vocabulary_terms"] == ["心内一病区"] and kb_json["text_index_status"] == "done"


# through retrieve: needs search.py to pass KbVocabulary.of(kb) (see the report to the lead) ---------


def test_retrieve_uses_the_kb_vocabulary_and_shows_its_synonyms(runtime, people, kb):
    save(runtime, people["owner"], kb.id, ["心内一病区"], [["心内一病区", "CCU-1"]])
    with runtime.session() as session:
        hits = knowledge.retrieve(session, runtime.knowledge, people["owner"], kb.id, "CCU-1", mode="text")
    assert hits and hits[0].document_name == "ward.txt" and "心内一病区" in hits[0].expanded_terms
    knowledge_vocabulary.reindex_next(runtime.session, runtime.knowledge)
    with runtime.session() as session:
        hits = knowledge.retrieve(session, runtime.knowledge, people["owner"], kb.id, "CCU-1", mode="text")
    assert hits[0].document_name == "ward.txt"
