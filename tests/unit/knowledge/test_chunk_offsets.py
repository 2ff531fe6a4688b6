"""Chunk offsets and languages: every chunk (and parent) points exactly at its text in the
document's text, in general, parent-child and Q&A modes, Chinese with overlap included; stored
chunks keep their language and offsets, vectors carry ``_lang`` (after a re-embed too); the
background pass places chunks stored without offsets and gives up, once, on those it cannot find."""

from __future__ import annotations

import pytest
from sqlmodel import select, update

from backend.adapters.embeddings import MINILM
from backend.models import KnowledgeChunk, KnowledgeDocument
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import offsets
from backend.services.knowledge import reembed as knowledge_reembed
from backend.services.knowledge.chunking import ChunkSettings, chunk_pairs, chunk_prose, pairs_text
from backend.services.knowledge.index import collection_name, collection_of
from backend.services.knowledge.search import known_span
from tests.unit.identity_world import add_tenant, add_user, sign

ZH = (
    "高血压患者应限制钠盐摄入，每日食盐不超过5克。规律运动有助于降低血压，每周至少150分钟。\n\n"
    "2型糖尿病患者应监测空腹血糖，目标范围为4.4至7.0毫摩尔每升。二甲双胍是首选口服药物，"
    "应从小剂量开始，逐渐加量以减少胃肠道反应。\n\n"
    "慢性阻塞性肺疾病（慢阻肺）患者应戒烟；吸入支气管扩张剂是稳定期治疗的基础。"
)
EN = (
    "Aspirin is used for secondary prevention after myocardial infarction.\n\n"
    "Warfarin requires regular INR monitoring; the usual target range is 2.0 to 3.0. "
    "Patients should keep their vitamin K intake steady."
)


def assert_exact(text: str, pieces) -> None:
    for piece in pieces:
        assert piece.start is not None and piece.end is not None
        assert text[piece.start : piece.end] == piece.text, piece


# pure --------------------------------------------------------------------------------------------


def test_general_chunks_point_exactly_into_chinese_text_with_overlap():
    text = "  " + ZH + "\n\n" + EN + "\n"  # leading and trailing whitespace is not in any chunk
    chunked = chunk_prose(text, ChunkSettings("general", size=40, overlap=12))
    assert len(chunked.pieces) > 6
    assert_exact(text, chunked.pieces)
    starts = [p.start for p in chunked.pieces]
    assert starts == sorted(starts)
    pairs = list(zip(chunked.pieces, chunked.pieces[1:], strict=False))
    assert any(nxt.start < cur.end for cur, nxt in pairs)  # overlapping chunks share characters
    covered = set()
    for piece in chunked.pieces:
        covered.update(range(piece.start, piece.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())  # nothing is left out


def test_parent_child_chunks_and_parents_point_exactly_into_the_text():
    chunked = chunk_prose(ZH * 3, ChunkSettings("parent_child", size=30, overlap=8, parent_size=120))
    text = ZH * 3
    assert len(chunked.parents) >= 3 and len(chunked.parent_spans) == len(chunked.parents)
    for (start, end), parent in zip(chunked.parent_spans, chunked.parents, strict=True):
        assert text[start:end] == parent
    assert_exact(text, chunked.pieces)
    for piece in chunked.pieces:
        start, end = chunked.parent_spans[piece.parent]
        assert start <= piece.start < piece.end <= end  # a child sits inside its parent


def test_qa_chunks_point_at_their_block_in_the_pairs_text():
    pairs = [("高血压每日食盐上限？", "不超过5克。"), ("What is the INR target on warfarin?", "2.0 to 3.0.")]
    chunked = chunk_pairs(pairs)
    text = pairs_text(pairs)
    assert_exact(text, chunked.pieces)
    assert [p.text.splitlines()[0] for p in chunked.pieces] == [
        "Q: 高血压每日食盐上限？",
        "Q: What is the INR target on warfarin?",
    ]


def test_locate_follows_overlapping_chunks_in_order_and_misses_unknown_ones():
    text = "abcabcabc-xyz"
    assert offsets.locate(text, ["abca", "cabc", "abc-x", "nope", "xyz"]) == [(0, 4), (2, 6), (6, 11), None, (10, 13)]
    assert offsets.locate(text, ["xyz", "abc"]) == [(10, 13), (0, 3)]  # out of order: found anywhere
    assert known_span(-1, -1) == (None, None) and known_span(3, 9) == (3, 9)
    assert known_span(None, 4) == (None, None)


# stored ------------------------------------------------------------------------------------------


@pytest.fixture
def owner(runtime):
    tenant = add_tenant(runtime, "offsets-hospital")
    return sign(runtime, add_user(runtime, "owner@offsets-hospital.cn", [(tenant, "tenant_owner")]))[1]


def make_kb(runtime, principal, **settings):
    settings = {"embedding_model": MINILM, "chunk_size": 60, "chunk_overlap": 15, **settings}
    with runtime.session() as session:
        spec = knowledge.KnowledgeBaseSpec(name=settings.pop("name", "Guides"), **settings)
        return knowledge.create_knowledge_base(session, runtime.knowledge, principal, spec)


def upload(runtime, principal, kb, name, data: bytes, **kwargs):
    with runtime.session() as session:
        return knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, principal, kb.id, name, data, **kwargs
        )


def stored_text(runtime, document_id: str) -> str:
    with runtime.session() as session:
        doc = session.get(KnowledgeDocument, document_id)
        return knowledge_documents.document_text(knowledge_documents.read_stored(runtime.objects, doc))


def chunks_of(runtime, document_id: str) -> list[KnowledgeChunk]:
    with runtime.session() as session:
        rows = session.exec(
            select(KnowledgeChunk)
            .where(KnowledgeChunk.document_id == document_id)
            .order_by(KnowledgeChunk.kind, KnowledgeChunk.ordinal)
        ).all()
        session.expunge_all()
        return list(rows)


def assert_rows_exact(runtime, document_id: str) -> list[KnowledgeChunk]:
    text, rows = stored_text(runtime, document_id), chunks_of(runtime, document_id)
    assert rows
    for row in rows:
        assert row.start_char is not None and row.start_char >= 0
        assert text[row.start_char : row.end_char] == row.text
    return rows


def test_ingested_chunks_keep_their_language_and_exact_offsets(runtime, owner):
    kb = make_kb(runtime, owner)
    zh = upload(runtime, owner, kb, "zh.md", ZH.encode())
    en = upload(runtime, owner, kb, "en.txt", EN.encode())
    assert {row.language for row in assert_rows_exact(runtime, zh.id)} == {"zh"}
    assert {row.language for row in assert_rows_exact(runtime, en.id)} == {"en"}
    parents = make_kb(runtime, owner, name="Parents", chunk_mode="parent_child", parent_chunk_size=150)
    doc = upload(runtime, owner, parents, "zh.txt", (ZH * 2).encode())
    rows = assert_rows_exact(runtime, doc.id)
    assert {row.kind for row in rows} == {"chunk", "parent"} and all(row.language == "zh" for row in rows)


def test_qa_documents_point_into_their_pairs_text(runtime, owner):
    kb = make_kb(runtime, owner, name="QA", chunk_mode="qa")
    data = "question,answer\n高血压每日食盐上限？,不超过5克。\nINR target on warfarin?,2.0 to 3.0.\n".encode()
    doc = upload(runtime, owner, kb, "faq.csv", data)
    rows = assert_rows_exact(runtime, doc.id)
    assert [row.language for row in rows] == ["zh", "en"]
    assert stored_text(runtime, doc.id).startswith("Q: 高血压每日食盐上限？\nA: 不超过5克。\n\nQ: INR")


def test_masked_documents_point_into_the_masked_text(runtime, owner):
    kb = make_kb(runtime, owner, name="Masked", mask_phi=True)
    doc = upload(runtime, owner, kb, "note.txt", ("患者电话13812345678。" + ZH).encode())
    assert_rows_exact(runtime, doc.id)
    assert "13812345678" not in stored_text(runtime, doc.id)


def test_vectors_carry_the_chunk_language_and_an_upload_cannot_claim_it(runtime, owner):
    kb = make_kb(runtime, owner)
    upload(runtime, owner, kb, "zh.txt", ZH.encode(), metadata={"_lang": "en", "dept": "ICU"})
    upload(runtime, owner, kb, "en.txt", EN.encode())
    vectors, vector = runtime.knowledge.vectors, runtime.knowledge.embed(MINILM, ["blood pressure"], query=True)[0]
    english = vectors.query(collection_name(kb.id), kb.tenant_id, vector, 50, {"_lang": "en"})
    chinese = vectors.query(collection_name(kb.id), kb.tenant_id, vector, 50, {"_lang": "zh"})
    assert english and chinese
    assert {hit.metadata["document_name"] for hit in english} == {"en.txt"}
    assert {hit.metadata["document_name"] for hit in chinese} == {"zh.txt"}
    assert {hit.metadata.get("dept") for hit in chinese} == {"ICU"}  # the upload's own fields stay
    with runtime.session() as session:
        doc = session.exec(select(KnowledgeDocument).where(KnowledgeDocument.name == "zh.txt")).one()
        assert doc.meta == {"dept": "ICU"}  # "_lang" is the platform's


def test_a_reembed_keeps_the_language_on_the_new_vectors(runtime, owner):
    kb = make_kb(runtime, owner)
    upload(runtime, owner, kb, "zh.txt", ZH.encode())
    upload(runtime, owner, kb, "en.txt", EN.encode())
    with runtime.session() as session:
        knowledge_reembed.request_reembed(session, runtime.knowledge, owner, kb.id, "multilingual-e5-small")
    assert knowledge_reembed.reembed_next(runtime.session, runtime.knowledge) == kb.id
    with runtime.session() as session:
        now = session.get(knowledge.KnowledgeBase, kb.id)
        collection, model = collection_of(now), now.embedding_model
    assert collection != collection_name(kb.id)
    vector = runtime.knowledge.embed(model, ["warfarin"], query=True)[0]
    hits = runtime.knowledge.vectors.query(collection, kb.tenant_id, vector, 50, {"_lang": "en"})
    assert hits and {hit.metadata["document_name"] for hit in hits} == {"en.txt"}


# the background pass -----------------------------------------------------------------------------


def forget_offsets(runtime, **where) -> None:
    """What chunks stored before offsets existed look like."""
    with runtime.session() as session:
        query = update(KnowledgeChunk).values(start_char=None, end_char=None, language="")
        for name, value in where.items():
            query = query.where(getattr(KnowledgeChunk, name) == value)
        session.exec(query)


def untag_vectors(runtime, kb) -> None:
    """Vectors stored before they carried ``_lang``: the same vectors, without it."""
    with runtime.session() as session:
        ids = session.exec(
            select(KnowledgeChunk.id).where(KnowledgeChunk.knowledge_base_id == kb.id, KnowledgeChunk.kind == "chunk")
        ).all()
    vectors = runtime.knowledge.vectors
    stored = vectors.vectors(collection_name(kb.id), kb.tenant_id, ids)
    hits = vectors.query(collection_name(kb.id), kb.tenant_id, next(iter(stored.values())), len(ids))
    old = {hit.id: {k: v for k, v in hit.metadata.items() if k != "_lang"} for hit in hits}
    vectors.delete(collection_name(kb.id), kb.tenant_id, {"knowledge_base_id": kb.id})
    vectors.upsert(collection_name(kb.id), kb.tenant_id, list(old), [stored[i] for i in old], list(old.values()))


def english_vectors(runtime, kb) -> set[str]:
    vector = runtime.knowledge.embed(MINILM, ["warfarin"], query=True)[0]
    hits = runtime.knowledge.vectors.query(collection_name(kb.id), kb.tenant_id, vector, 50, {"_lang": "en"})
    return {hit.metadata["document_name"] for hit in hits}


def test_the_background_pass_fills_old_chunks_exactly(runtime, owner):
    kb = make_kb(runtime, owner)
    parents = make_kb(runtime, owner, name="Parents", chunk_mode="parent_child", parent_chunk_size=150)
    qa = make_kb(runtime, owner, name="QA", chunk_mode="qa")
    docs = [
        upload(runtime, owner, kb, "zh.txt", (ZH * 2).encode()),
        upload(runtime, owner, kb, "en.txt", EN.encode()),
        upload(runtime, owner, parents, "p.txt", (ZH * 2).encode()),
        upload(runtime, owner, qa, "faq.jsonl", '{"question": "食盐上限？", "answer": "5克"}\n'.encode()),
    ]
    before = {
        doc.id: [(r.id, r.start_char, r.end_char, r.language) for r in chunks_of(runtime, doc.id)] for doc in docs
    }
    forget_offsets(runtime)
    assert all(r.start_char is None for doc in docs for r in chunks_of(runtime, doc.id))
    untag_vectors(runtime, kb)
    assert english_vectors(runtime, kb) == set()
    assert offsets.start_filling_offsets(runtime.session, runtime.knowledge, runtime.objects) is True
    runtime.knowledge.offsets_worker.join(timeout=60)
    for doc in docs:
        assert [(r.id, r.start_char, r.end_char, r.language) for r in chunks_of(runtime, doc.id)] == before[doc.id]
    assert english_vectors(runtime, kb) == {"en.txt"}  # the old vectors got their language, not re-embedded
    # settled: the controller does not look again, and a pass finds nothing to do
    assert offsets.start_filling_offsets(runtime.session, runtime.knowledge, runtime.objects) is False
    assert offsets.fill_next(runtime.session, runtime.knowledge, runtime.objects) is None


def test_chunks_that_cannot_be_found_are_given_up_once(runtime, owner):
    kb = make_kb(runtime, owner)
    changed = upload(runtime, owner, kb, "changed.txt", (ZH * 2).encode())
    gone = upload(runtime, owner, kb, "gone.txt", EN.encode())
    rows = chunks_of(runtime, changed.id)
    forget_offsets(runtime)
    with runtime.session() as session:  # one chunk no longer matches its document's text
        session.exec(update(KnowledgeChunk).where(KnowledgeChunk.id == rows[1].id).values(text="不在文档里的文字"))
    runtime.objects.delete(gone.object_key)  # and one document's file is gone
    done = {offsets.fill_next(runtime.session, runtime.knowledge, runtime.objects) for _ in range(2)}
    assert done == {changed.id, gone.id}
    assert offsets.fill_next(runtime.session, runtime.knowledge, runtime.objects) is None  # nothing is tried again
    placed = chunks_of(runtime, changed.id)
    assert [(r.start_char, r.end_char) for r in placed if r.id == rows[1].id] == [(-1, -1)]
    text = stored_text(runtime, changed.id)
    assert all(text[r.start_char : r.end_char] == r.text for r in placed if r.id != rows[1].id)
    assert {(r.start_char, r.end_char) for r in chunks_of(runtime, gone.id)} == {(-1, -1)}
    assert all(r.language for r in chunks_of(runtime, gone.id))  # the language is filled in all the same
