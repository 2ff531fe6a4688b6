"""Knowledge bases: every format imports, unreadable files leave nothing behind, BM25 finds Chinese,
fusion and threshold, Q&A and parent-child chunking, ingestion jobs, re-import, delete, PHI masking,
recall evaluation, and collections that stay inside their tenant."""

from __future__ import annotations

import io
import json

import pytest
from docx import Document
from fpdf import FPDF
from sqlmodel import select

from backend.errors import ErrorCode, MedAIError
from backend.models import KnowledgeChunk, KnowledgeDocument
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import recall as knowledge_recall
from backend.services.knowledge.chunking import ChunkSettings, chunk_prose, split_text
from backend.services.knowledge.index import collection_name
from backend.services.knowledge.text_search import Bm25Index, tokenize
from tests.unit.identity_world import add_tenant, add_user, sign

CHINESE = (
    "高血压患者应限制钠盐摄入，每日食盐不超过5克。规律运动有助于降低血压。\n\n"
    "2型糖尿病患者应监测空腹血糖，目标范围为4.4至7.0毫摩尔每升。二甲双胍是首选口服药物。"
)
ENGLISH = (
    "Aspirin is used for secondary prevention after myocardial infarction.\n\n"
    "Warfarin requires regular INR monitoring; the usual target range is 2.0 to 3.0."
)


def pdf_bytes(text: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def docx_bytes(*paragraphs: str) -> bytes:
    document = Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def owner(runtime):
    tenant = add_tenant(runtime, "kb-hospital")
    user = add_user(runtime, "owner@kb-hospital.cn", [(tenant, "tenant_owner")])
    return sign(runtime, user)[1]


def make_kb(runtime, principal, **settings):
    with runtime.session() as session:
        spec = knowledge.KnowledgeBaseSpec(name=settings.pop("name", "Guidelines"), **settings)
        return knowledge.create_knowledge_base(session, runtime.knowledge, principal, spec)


def upload(runtime, principal, kb, name, data, **kwargs):
    with runtime.session() as session:
        return knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, principal, kb.id, name, data, **kwargs
        )


def retrieve(runtime, principal, kb, query, **kwargs):
    with runtime.session() as session:
        return knowledge.retrieve(session, runtime.knowledge, principal, kb.id, query, **kwargs)


def leftovers(runtime, kb) -> tuple[int, int, int, int]:
    """Documents, chunks, vectors and files the knowledge base holds."""
    with runtime.session() as session:
        docs = len(session.exec(select(KnowledgeDocument).where(KnowledgeDocument.knowledge_base_id == kb.id)).all())
        chunks = len(session.exec(select(KnowledgeChunk).where(KnowledgeChunk.knowledge_base_id == kb.id)).all())
    vectors = runtime.knowledge.vectors.count(collection_name(kb.id), kb.tenant_id)
    files = len(runtime.objects.list(knowledge.knowledge_prefix(kb.tenant_id, kb.id)))
    return docs, chunks, vectors, files


# chunking and ranking, pure ----------------------------------------------------------------------


def test_recursive_split_cuts_at_chinese_sentence_ends_with_overlap():
    text = "".join(f"第{n}句话讲的是一个医学事实。" for n in range(40))
    chunks = split_text(text, size=60, overlap=15)
    assert len(chunks) > 5
    assert all(len(c) <= 60 for c in chunks)
    assert all(c.endswith("。") for c in chunks)  # never cut inside a sentence when a boundary exists
    last_sentence = chunks[0].split("。")[-2] + "。"
    assert chunks[1].startswith(last_sentence)  # the overlap is whole sentences from the previous chunk
    assert "第0句" in chunks[0] and "第39句" in chunks[-1]


def test_split_falls_back_to_characters_for_text_without_boundaries():
    chunks = split_text("x" * 250, size=100, overlap=0)
    assert [len(c) for c in chunks] == [100, 100, 50]


def test_parent_child_pieces_point_into_larger_parents():
    chunked = chunk_prose(CHINESE * 4, ChunkSettings("parent_child", size=60, overlap=0, parent_size=200))
    assert len(chunked.parents) >= 2
    assert all(len(p) <= 200 for p in chunked.parents)
    for piece in chunked.pieces:
        assert piece.text in chunked.parents[piece.parent]


def test_bm25_finds_chinese_words_and_filters_by_metadata():
    texts = ["高血压患者应限制钠盐摄入", "糖尿病患者监测空腹血糖", "Aspirin prevents infarction"]
    index = Bm25Index(["a", "b", "c"], [tokenize(t) for t in texts], [{"d": "1"}, {"d": "2"}, {"d": "2"}])
    assert [h.id for h in index.search(tokenize("血糖监测"), 3)] == ["b"]
    assert [h.id for h in index.search(tokenize("aspirin"), 3)] == ["c"]
    assert index.search(tokenize("血糖"), 3, where={"d": "1"}) == []


# import, every format ------------------------------------------------------------------------------


FORMATS = {
    "notes.txt": (CHINESE.encode(), "空腹血糖"),
    "notes.md": (f"# 指南\n\n{CHINESE}".encode(), "二甲双胍"),
    "guide.pdf": (pdf_bytes(ENGLISH), "warfarin INR"),
    "guide.docx": (docx_bytes("心房颤动患者需评估卒中风险。", "华法林需要定期监测INR。"), "华法林"),
    "page.html": (
        f"<html><head><style>p{{}}</style><script>var x=1</script></head><body><p>{ENGLISH}</p></body></html>".encode(),
        "aspirin",
    ),
    "faq.csv": ("问题,答案\n高血压饮食注意什么？,少盐少油。\n糖尿病如何监测？,测空腹血糖。\n".encode(), "高血压"),
    "faq.jsonl": (
        "\n".join(
            json.dumps(row, ensure_ascii=False)
            for row in (
                {"question": "What is the INR target?", "answer": "2.0 to 3.0"},
                {"q": "Aspirin dose?", "a": "75 mg"},
            )
        ).encode(),
        "INR target",
    ),
}


@pytest.mark.parametrize("filename", sorted(FORMATS))
def test_each_format_imports_and_is_found(runtime, owner, filename):
    data, query = FORMATS[filename]
    kb = make_kb(runtime, owner, chunk_size=120, chunk_overlap=10)
    doc = upload(runtime, owner, kb, filename, data)
    assert doc.status == "ready" and doc.progress == 1.0 and doc.chunk_count >= 1
    found = retrieve(runtime, owner, kb, query)
    assert found and found[0].document_name == filename and found[0].rank == 1
    assert "<script>" not in found[0].text and "var x" not in found[0].text
    _, chunks, vectors, files = leftovers(runtime, kb)
    assert chunks == vectors == doc.chunk_count and files == 1


def test_qa_pairs_become_one_chunk_each(runtime, owner):
    kb = make_kb(runtime, owner, chunk_mode="qa")
    doc = upload(runtime, owner, kb, "faq.csv", FORMATS["faq.csv"][0])
    assert doc.chunk_count == 2
    top = retrieve(runtime, owner, kb, "糖尿病如何监测", mode="text")[0]
    assert top.text == "Q: 糖尿病如何监测？\nA: 测空腹血糖。"
    with pytest.raises(MedAIError) as caught:  # Q&A mode refuses prose, before anything is stored
        upload(runtime, owner, kb, "notes.txt", CHINESE.encode())
    assert caught.value.code is ErrorCode.DATA_INVALID
    assert leftovers(runtime, kb)[0] == 1


@pytest.mark.parametrize(
    ("filename", "data", "says"),
    [
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref", "PDF"),
        ("scan.pdf", b"", "PDF"),
        ("empty.docx", docx_bytes(), "no text"),
        ("fake.docx", b"PK\x03\x04 not really a zip", "DOCX"),
    ],
)
def test_unreadable_files_fail_cleanly_and_leave_nothing(runtime, owner, filename, data, says):
    kb = make_kb(runtime, owner)
    with pytest.raises(MedAIError) as caught:
        upload(runtime, owner, kb, filename, data)
    assert caught.value.code is ErrorCode.DATA_INVALID
    assert says in caught.value.message and caught.value.remedy
    assert leftovers(runtime, kb) == (0, 0, 0, 0)


# retrieval -------------------------------------------------------------------------------------------


def test_chinese_query_finds_the_chinese_chunk_through_bm25(runtime, owner):
    kb = make_kb(runtime, owner, chunk_size=60, chunk_overlap=0)
    upload(runtime, owner, kb, "zh.txt", CHINESE.encode())
    upload(runtime, owner, kb, "en.txt", ENGLISH.encode())
    found = retrieve(runtime, owner, kb, "二甲双胍", mode="text")
    assert found[0].document_name == "zh.txt" and "二甲双胍" in found[0].text
    assert found[0].text_score > 0 and found[0].vector_score is None
    hybrid = retrieve(runtime, owner, kb, "二甲双胍")
    assert hybrid[0].chunk_id == found[0].chunk_id
    assert hybrid[0].vector_score is not None and hybrid[0].text_score is not None
    assert hybrid == sorted(hybrid, key=lambda c: -c.score)


def test_threshold_applies_after_fusion_and_top_k_caps(runtime, owner):
    kb = make_kb(runtime, owner, chunk_size=60, chunk_overlap=0)
    upload(runtime, owner, kb, "zh.txt", (CHINESE * 3).encode())
    everything = retrieve(runtime, owner, kb, "血糖", top_k=10, threshold=0.0)
    assert len(everything) > 2
    assert len(retrieve(runtime, owner, kb, "血糖", top_k=2, threshold=0.0)) == 2
    cut = everything[1].score
    kept = retrieve(runtime, owner, kb, "血糖", top_k=10, threshold=cut)
    assert kept and all(c.score >= cut for c in kept) and len(kept) < len(everything)


def test_metadata_filters_narrow_both_retrievers(runtime, owner):
    kb = make_kb(runtime, owner)
    upload(runtime, owner, kb, "a.txt", CHINESE.encode(), metadata={"department": "endocrine"})
    upload(runtime, owner, kb, "b.txt", CHINESE.encode(), metadata={"department": "cardiology"})
    for mode in ("hybrid", "vector", "text"):
        found = retrieve(runtime, owner, kb, "血糖", mode=mode, filters={"department": "cardiology"})
        assert found and {c.document_name for c in found} == {"b.txt"}, mode
    with pytest.raises(MedAIError) as caught:  # operators are not field names
        retrieve(runtime, owner, kb, "血糖", filters={"$or": "x"})
    assert caught.value.code is ErrorCode.DATA_INVALID
    forged = upload(runtime, owner, kb, "c.txt", CHINESE.encode(), metadata={"document_id": "someone-elses"})
    found = retrieve(runtime, owner, kb, "血糖", filters={"document_id": forged.id}, mode="vector")
    assert found and {c.document_id for c in found} == {forged.id}  # reserved fields cannot be overridden


def test_parent_child_returns_the_parent_context(runtime, owner):
    kb = make_kb(runtime, owner, chunk_mode="parent_child", chunk_size=60, chunk_overlap=0, parent_chunk_size=400)
    upload(runtime, owner, kb, "zh.txt", CHINESE.encode())
    top = retrieve(runtime, owner, kb, "二甲双胍", mode="text")[0]
    assert "二甲双胍" in top.text and "高血压" in top.text  # the whole parent, not just the matching child


# ingestion lifecycle ---------------------------------------------------------------------------------


def test_large_documents_are_queued_and_ingested_by_the_controller_with_progress(runtime, owner):
    kb = make_kb(runtime, owner, chunk_size=100, chunk_overlap=0)
    doc = upload(runtime, owner, kb, "big.txt", (CHINESE * 10).encode(), inline=False)
    assert doc.status == "queued" and leftovers(runtime, kb) == (1, 0, 0, 1)
    seen: list[tuple[str, float]] = []
    original = knowledge_documents._progress

    def spy(open_session, doc_id):
        report = original(open_session, doc_id)
        return lambda status, fraction: (seen.append((status, fraction)), report(status, fraction))

    knowledge_documents._progress = spy
    try:
        assert knowledge_documents.reconcile(runtime.session, runtime.knowledge, runtime.objects) == 1
    finally:
        knowledge_documents._progress = original
    assert [s for s, _ in seen][:3] == ["parsing", "chunking", "embedding"]
    assert [f for _, f in seen] == sorted(f for _, f in seen) and seen[-1][1] == pytest.approx(1.0)
    with runtime.session() as session:
        ready = session.get(KnowledgeDocument, doc.id)
    assert ready.status == "ready" and ready.chunk_count > 1
    assert retrieve(runtime, owner, kb, "二甲双胍")[0].document_id == doc.id
    assert knowledge_documents.reconcile(runtime.session, runtime.knowledge, runtime.objects) == 0


def test_a_job_that_fails_keeps_the_reason_and_nothing_else(runtime, owner, monkeypatch):
    kb = make_kb(runtime, owner, chunk_size=60, chunk_overlap=0)
    upload(runtime, owner, kb, "big.txt", (CHINESE * 5).encode(), inline=False)
    calls = {"n": 0}
    real = runtime.knowledge.embed

    def flaky(model, texts):
        calls["n"] += 1
        if calls["n"] > 1:  # the first batch reached the vector store, then the model broke
            raise MedAIError(ErrorCode.UPSTREAM_FAILED, "embedding model crashed", "Retry.")
        return real(model, texts)

    monkeypatch.setattr(knowledge_documents, "EMBED_BATCH", 2)
    monkeypatch.setattr(runtime.knowledge, "embed", flaky)
    knowledge_documents.reconcile(runtime.session, runtime.knowledge, runtime.objects)
    with runtime.session() as session:
        doc = session.exec(select(KnowledgeDocument)).one()
    assert doc.status == "failed" and "embedding model crashed" in doc.reason
    assert leftovers(runtime, kb) == (1, 0, 0, 0)  # the row with its reason; no chunks, vectors or file


def test_reimport_replaces_and_delete_removes_everything(runtime, owner):
    kb = make_kb(runtime, owner)
    first = upload(runtime, owner, kb, "guide.txt", CHINESE.encode())
    second = upload(runtime, owner, kb, "guide.txt", ENGLISH.encode())
    with runtime.session() as session:
        docs = knowledge_documents.list_documents(session, owner, kb.id)
    assert [d.id for d in docs] == [second.id] and first.id != second.id
    assert leftovers(runtime, kb) == (1, second.chunk_count, second.chunk_count, 1)
    assert retrieve(runtime, owner, kb, "二甲双胍", mode="text") == []  # the old text is gone from BM25 too
    with runtime.session() as session:
        knowledge_documents.delete_document(session, runtime.knowledge, runtime.objects, owner, kb.id, second.id)
    assert leftovers(runtime, kb) == (0, 0, 0, 0)
    assert retrieve(runtime, owner, kb, "aspirin") == []


def test_phi_is_masked_before_storage(runtime, owner):
    kb = make_kb(runtime, owner, mask_phi=True)
    doc = upload(runtime, owner, kb, "note.txt", "患者张三，电话13812345678，诊断为高血压。".encode())
    stored = b"".join(runtime.objects.open(doc.object_key)).decode()
    assert "13812345678" not in stored and "张三" not in stored
    with runtime.session() as session:
        texts = [c.text for c in knowledge_documents.list_chunks(session, owner, kb.id, doc.id)]
    assert texts and all("13812345678" not in t for t in texts) and "高血压" in texts[0]


def test_preview_shows_chunks_without_writing(runtime, owner):
    kb = make_kb(runtime, owner)
    with runtime.session() as session:
        preview = knowledge_documents.preview_chunks(
            session, owner, kb.id, "zh.txt", (CHINESE * 3).encode(), ChunkSettings(size=80, overlap=0)
        )
    assert len(preview) > 2 and all(p.chars <= 80 for p in preview)
    assert leftovers(runtime, kb) == (0, 0, 0, 0)


# recall testing ----------------------------------------------------------------------------------------


def test_recall_evaluation_records_hit_rate_and_mrr_history(runtime, owner):
    kb = make_kb(runtime, owner, chunk_size=80, chunk_overlap=0)
    upload(runtime, owner, kb, "zh.txt", CHINESE.encode())
    upload(runtime, owner, kb, "en.txt", ENGLISH.encode())
    with runtime.session() as session:
        knowledge_recall.save_recall_query(session, owner, kb.id, "二甲双胍", ["zh.txt"])
        knowledge_recall.save_recall_query(session, owner, kb.id, "warfarin INR", ["en.txt"])
        knowledge_recall.save_recall_query(session, owner, kb.id, "胰岛素泵", ["missing.txt"])
    with runtime.session() as session:
        run = knowledge_recall.evaluate_recall(session, runtime.knowledge, owner, kb.id, k=3)
    assert run.queries == 3
    assert run.hit_rate == pytest.approx(2 / 3) and run.mrr == pytest.approx(2 / 3)  # two found first, one never
    assert run.settings["retrieval_mode"] == "hybrid"
    with runtime.session() as session:
        assert [r.id for r in knowledge_recall.list_recall_runs(session, owner, kb.id)] == [run.id]


def test_score_counts_hits_within_k_only():
    result = knowledge_recall.score([1, 2, None, 6], k=5)
    assert result.hit_rate == pytest.approx(0.5) and result.mrr == pytest.approx((1 + 0.5) / 4)


# isolation and visibility ------------------------------------------------------------------------------


def test_collections_stay_inside_their_tenant(runtime, owner):
    kb = make_kb(runtime, owner)
    upload(runtime, owner, kb, "zh.txt", CHINESE.encode())
    vectors, name = runtime.knowledge.vectors, collection_name(kb.id)
    probe = runtime.knowledge.embed(kb.embedding_model, ["血糖"], query=True)[0]
    assert vectors.query(name, kb.tenant_id, probe, 5)
    with pytest.raises(MedAIError) as caught:
        vectors.query(name, "another-tenant", probe, 5)
    assert caught.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(MedAIError):
        vectors.delete(name, "another-tenant", {"document_name": "zh.txt"})
    assert vectors.count(name, kb.tenant_id) >= 1
    other = add_tenant(runtime, "other-clinic")
    stranger = sign(runtime, add_user(runtime, "o@other-clinic.cn", [(other, "tenant_owner")]))[1]
    with pytest.raises(MedAIError) as caught:
        retrieve(runtime, stranger, kb, "血糖")
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_only_me_hides_a_knowledge_base_from_other_developers(runtime, owner):
    tenant_id = owner.tenant_id
    with runtime.session() as session:
        from backend.models import Tenant

        tenant = session.get(Tenant, tenant_id)
    dev_a = sign(runtime, add_user(runtime, "a@kb-hospital.cn", [(tenant, "developer")]))[1]
    dev_b = sign(runtime, add_user(runtime, "b@kb-hospital.cn", [(tenant, "developer")]))[1]
    private = make_kb(runtime, dev_a, name="Mine", visibility="only_me")
    shared = make_kb(runtime, dev_a, name="Ours", visibility="members", member_ids=(dev_b.user_id,))
    with runtime.session() as session:
        assert {k.name for k in knowledge.list_knowledge_bases(session, dev_b)} == {"Ours"}
        assert {k.name for k in knowledge.list_knowledge_bases(session, owner)} == {"Mine", "Ours"}
    with pytest.raises(MedAIError) as caught:
        retrieve(runtime, dev_b, private, "x")
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert retrieve(runtime, dev_b, shared, "x") == []


def test_chosen_members_visibility_needs_members_and_the_page_lists_whom_to_choose(runtime, owner):
    from backend.services.knowledge.views import knowledge_listing
    from state.knowledge import create_spec

    with runtime.session() as session:
        from backend.models import Tenant

        tenant = session.get(Tenant, owner.tenant_id)
    dev = sign(runtime, add_user(runtime, "c@kb-hospital.cn", [(tenant, "developer")]))[1]
    with pytest.raises(MedAIError) as caught:
        make_kb(runtime, dev, name="Nobody", visibility="members")
    assert caught.value.code is ErrorCode.DATA_INVALID and "only_me" in caught.value.remedy
    with runtime.session() as session:
        choices = knowledge_listing(session, dev).members
    assert owner.user_id in {m.user_id for m in choices} and dev.user_id not in {m.user_id for m in choices}
    form = {"name": "Ward notes", "visibility": "members"}
    assert create_spec(form, [owner.user_id]).member_ids == (owner.user_id,)
    assert create_spec({**form, "visibility": "tenant"}, [owner.user_id]).member_ids == ()  # a stale tick is dropped
    assert create_spec(form).embedding_model == "multilingual-e5-small"  # the default
    assert create_spec({**form, "embedding_model": " remote:bge-m3 "}).embedding_model == "remote:bge-m3"
    kb = make_kb(runtime, dev, name="Ward notes", visibility="members", member_ids=(owner.user_id,))
    assert kb.member_ids == [owner.user_id]


def test_the_controller_ingests_in_a_worker_thread_and_does_not_wait_for_it(runtime, owner):
    kb = make_kb(runtime, owner, chunk_size=100, chunk_overlap=0)
    assert knowledge_documents.start_ingestion(runtime.session, runtime.knowledge, runtime.objects) is False
    doc = upload(runtime, owner, kb, "big.txt", (CHINESE * 4).encode(), inline=False)
    assert knowledge_documents.start_ingestion(runtime.session, runtime.knowledge, runtime.objects) is True
    runtime.knowledge.worker.join(timeout=120)
    with runtime.session() as session:
        assert session.get(KnowledgeDocument, doc.id).status == "ready"
