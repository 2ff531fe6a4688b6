"""Retrieval quality mechanics (issue 21): calibrated scores that mean the same across queries,
hybrid that scores every candidate with both engines and follows the knowledge base's vector
weight, language-aware vector search (the other language searched alone when the nearest vectors
lack it), the rerank stage against a local stand-in server, and the calibration curves' shape."""

from __future__ import annotations

import numpy as np
import pytest

from backend.adapters.embeddings import E5, MINILM
from backend.adapters.rerank import HttpReranker
from backend.models import KnowledgeBase
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import calibration
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import search as knowledge_search
from backend.services.knowledge.languages import detect
from tests.rerank_server import rerank_server
from tests.unit.identity_world import add_tenant, add_user, sign

GUIDES = {
    "metformin.txt": "二甲双胍是2型糖尿病的一线口服降糖药，适合超重患者。常见不良反应是腹泻和恶心。",
    "hypertension.txt": "高血压患者应限制钠盐摄入，每日食盐不超过5克，并规律运动。",
    "copd.txt": "慢性阻塞性肺疾病急性加重时首选短效支气管扩张剂，必要时加用全身糖皮质激素。",
    "stroke.txt": "急性缺血性脑卒中发病4.5小时内可考虑静脉溶栓，溶栓前需排除颅内出血。",
    "gout.txt": "痛风急性发作可用秋水仙碱或非甾体抗炎药，降尿酸治疗应在发作缓解后开始。",
    "warfarin.txt": "Patients taking warfarin need regular INR checks; the usual target INR in atrial "
    "fibrillation is 2.0 to 3.0, and many foods and drugs change its effect.",
}


@pytest.fixture
def owner(runtime):
    tenant = add_tenant(runtime, "rq-hospital")
    return sign(runtime, add_user(runtime, "owner@rq-hospital.cn", [(tenant, "tenant_owner")]))[1]


@pytest.fixture
def kb(runtime, owner) -> KnowledgeBase:
    with runtime.session() as session:
        spec = knowledge.KnowledgeBaseSpec(name="Guides", chunk_size=200, chunk_overlap=0)
        made = knowledge.create_knowledge_base(session, runtime.knowledge, owner, spec)
    for name, text in GUIDES.items():
        with runtime.session() as session:
            knowledge_documents.upload_document(
                session, runtime.knowledge, runtime.objects, owner, made.id, name, text.encode(), inline=True
            )
    return made


def retrieve(runtime, owner, kb, query, **options):
    with runtime.session() as session:
        return knowledge.retrieve(session, runtime.knowledge, owner, kb.id, query, **options)


def settle(runtime, kb, **settings) -> None:
    with runtime.session() as session:
        row = session.get(KnowledgeBase, kb.id)
        for key, value in settings.items():
            setattr(row, key, value)
        row.index_version += 1
        session.add(row)


def test_languages_are_told_by_their_characters():
    assert detect("二甲双胍的副作用") == "zh"
    assert detect("二甲双胍 metformin 500 mg") == "zh"
    assert detect("Metformin (二甲双胍) is first-line in type 2 diabetes") == "en"
    assert detect("β2 500") == "other"  # neither script: calibrated as the same language as any chunk
    assert detect("500 123") == "other"


def test_the_vector_side_adds_the_synonyms_the_query_names_in_the_other_language():
    held = frozenset({"zh", "en"})
    named = ("慢性阻塞性肺疾病", "COPD", "chronic obstructive pulmonary disease")
    anchors = knowledge_search.vector_anchors(named, "zh", held)
    assert anchors == ["COPD", "chronic obstructive pulmonary disease"]
    assert knowledge_search.vector_anchors(named, "zh", frozenset({"zh"})) == []  # nothing in another language
    assert knowledge_search.vector_anchors(("华法林", "warfarin"), "en", held) == ["华法林"]
    assert len(knowledge_search.vector_anchors(tuple(f"term {n}" for n in range(9)), "zh", held)) == 4
    query, anchor = [1.0, 0.0], [[0.0, 1.0]]
    assert knowledge_search.anchored(query, []) == query
    assert knowledge_search.anchored(query, anchor) == pytest.approx([2**-0.5, 2**-0.5])


def test_a_language_background_is_the_mean_and_spread_of_a_query_s_cosines_to_its_chunks():
    rng = np.random.default_rng(4)
    chunks = rng.normal(size=(300, 16))
    chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
    query = rng.normal(size=16)
    query /= np.linalg.norm(query)
    mean, deviation = calibration.LanguageSpread.of(chunks).background(query)
    assert mean == pytest.approx(float((chunks @ query).mean()), abs=1e-5)
    assert deviation == pytest.approx(float((chunks @ query).std()), abs=1e-5)
    # a chunk far above its language's background is likely an answer, one at the background is not
    assert calibration.vector_probability(E5, mean + 4 * deviation, True, (mean, deviation)) > 0.8
    assert calibration.vector_probability(E5, mean, True, (mean, deviation)) < 0.01


def test_calibration_curves_rise_and_cross_lingual_cosines_count_for_more():
    for model in (E5, MINILM, "some/local-model"):
        low, high = (calibration.vector_probability(model, c, True) for c in (0.3, 0.95))
        assert 0.0 <= low < high <= 1.0
    # an answer in the other language scores lower cosines: the same cosine is more telling there
    assert calibration.vector_probability(E5, 0.84, False) > calibration.vector_probability(E5, 0.84, True)
    assert calibration.text_probability(0.0) == 0.0
    assert calibration.text_probability(0.2) < calibration.text_probability(1.0)
    assert calibration.fused(1.0, 0.0, 0.3) == pytest.approx(0.3)


def test_text_scores_are_absolute_not_relative_to_the_best_hit(runtime, owner, kb):
    full = retrieve(runtime, owner, kb, "二甲双胍 腹泻", mode="text")
    partial = retrieve(runtime, owner, kb, "二甲双胍 骨质疏松 维生素D 钙剂", mode="text")
    assert full[0].document_name == partial[0].document_name == "metformin.txt"
    # before, the best hit always scored 1.0; now a chunk that covers a quarter of the query scores less
    assert full[0].score > partial[0].score and partial[0].score < 0.9
    assert full[0].score == full[0].text_score and full[0].vector_score is None


def test_hybrid_scores_every_candidate_with_both_engines_and_follows_the_vector_weight(runtime, owner, kb):
    hybrid = retrieve(runtime, owner, kb, "二甲双胍的常见不良反应", top_k=6)
    assert hybrid[0].document_name == "metformin.txt"
    assert all(hit.vector_score is not None and hit.text_score is not None for hit in hybrid)
    assert hybrid == sorted(hybrid, key=lambda h: -h.score)
    for hit in hybrid:
        assert hit.score == pytest.approx(calibration.fused(hit.vector_score, hit.text_score, kb.vector_weight))
    settle(runtime, kb, vector_weight=0.0)
    text_only = retrieve(runtime, owner, kb, "二甲双胍的常见不良反应", top_k=6)
    assert all(hit.score == pytest.approx(hit.text_score) for hit in text_only)
    settle(runtime, kb, vector_weight=1.0)
    vector_only = retrieve(runtime, owner, kb, "二甲双胍的常见不良反应", top_k=6)
    assert all(hit.score == pytest.approx(hit.vector_score) for hit in vector_only)


def test_a_threshold_on_calibrated_scores_keeps_only_likely_answers(runtime, owner, kb):
    everything = retrieve(runtime, owner, kb, "华法林 INR 目标值", top_k=6, threshold=0.0)
    assert len(everything) == 6 and everything[0].document_name == "warfarin.txt"
    likely = retrieve(runtime, owner, kb, "华法林 INR 目标值", top_k=6, threshold=everything[0].score - 1e-6)
    assert [h.document_name for h in likely] == ["warfarin.txt"]


def test_hits_carry_language_and_a_chinese_question_reaches_the_english_answer(runtime, owner, kb):
    hits = retrieve(runtime, owner, kb, "华法林需要监测什么指标", top_k=3)
    assert "warfarin.txt" in [h.document_name for h in hits]
    languages = {h.document_name: h.language for h in retrieve(runtime, owner, kb, "华法林", top_k=6)}
    assert languages["warfarin.txt"] == "en" and languages["metformin.txt"] == "zh"


def test_the_other_language_is_searched_alone_when_the_nearest_vectors_lack_it(runtime, owner, kb, monkeypatch):
    monkeypatch.setattr(knowledge_search, "VECTOR_POOL", 1)
    asked: list[tuple[int, object]] = []
    real = runtime.knowledge.vectors.query

    def spy(collection, tenant_id, vector, k, where=None):  # the nearest vectors never hold the English one
        asked.append((k, where))
        return [hit for hit in real(collection, tenant_id, vector, k, where) if hit.metadata.get("_lang") != "en"]

    monkeypatch.setattr(runtime.knowledge.vectors, "query", spy)
    hits = retrieve(runtime, owner, kb, "痛风急性发作用什么药", mode="vector", top_k=1)
    assert hits[0].document_name == "gout.txt"
    # the pool held no English chunk: English (small) was searched exactly in memory, with no filter
    everything = retrieve(runtime, owner, kb, "痛风急性发作用什么药", mode="vector", top_k=20)
    assert "warfarin.txt" in [h.document_name for h in everything]
    assert all(not where for _k, where in asked) and len(asked) == 2
    asked.clear()  # a language too large to keep in memory is looked for in a wider pool instead
    monkeypatch.setattr(knowledge_search, "MINORITY_CHUNKS", 0)
    settle(runtime, kb, vector_weight=0.5)  # a new index version: the language vectors are made again
    wide = retrieve(runtime, owner, kb, "痛风急性发作用什么药", mode="vector", top_k=20)
    assert "warfarin.txt" not in [h.document_name for h in wide]  # (the stand-in pool hides it everywhere)
    assert [k for k, _where in asked] == [20 * 4, knowledge_search.WIDE_POOL]
    asked.clear()
    settle(runtime, kb, languages=["zh"])  # the knowledge base says it holds Chinese only
    retrieve(runtime, owner, kb, "痛风急性发作用什么药", mode="vector", top_k=1)
    assert len(asked) == 1


def test_the_rerank_stage_reorders_the_best_candidates_and_a_failing_server_leaves_the_fused_order(runtime, owner, kb):
    query = "二甲双胍 腹泻 恶心"
    fused = retrieve(runtime, owner, kb, query, top_k=3)
    settle(runtime, kb, rerank=True)
    with rerank_server() as url:
        runtime.knowledge.reranker = HttpReranker(url)
        reranked = retrieve(runtime, owner, kb, query, top_k=3)
    assert reranked[0].document_name == "metformin.txt"
    assert all(h.rerank_score is not None and h.score == h.rerank_score for h in reranked)
    assert reranked == sorted(reranked, key=lambda h: -h.score)
    with rerank_server(fail=True) as url:
        runtime.knowledge.reranker = HttpReranker(url)
        fallback = retrieve(runtime, owner, kb, query, top_k=3)
    assert [h.chunk_id for h in fallback] == [h.chunk_id for h in fused]
    assert all(h.rerank_score is None for h in fallback)
    runtime.knowledge.reranker = None
    assert all(h.rerank_score is None for h in retrieve(runtime, owner, kb, query, top_k=3))  # no server: off
