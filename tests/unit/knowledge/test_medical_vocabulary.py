"""Medical vocabulary for full-text search: the jieba user dictionary, synonyms and abbreviations
across zh and en applied at query time, stop words, Greek letters, chunks stored under an older
tokeniser, and the expansion the recall test shows."""

from __future__ import annotations

import jieba
from sqlmodel import select

from backend.models import KnowledgeChunk
from backend.services.knowledge.text_search import (
    Bm25Index,
    expand_query,
    index_terms,
    is_current,
    stored_terms,
    tokenize,
)
from tests.unit.knowledge.test_knowledge import make_kb, owner, retrieve, upload  # noqa: F401 (owner is a fixture)

CHUNKS = {
    "copd": "慢性阻塞性肺疾病患者应长期规律使用支气管扩张剂，并每年接种流感疫苗。",
    "epi": "For anaphylaxis give intramuscular epinephrine 0.5 mg into the mid-outer thigh.",
    "sugar": "二甲双胍是2型糖尿病患者首选的口服降糖药物。",
}


def index_of(texts: dict[str, str]) -> Bm25Index:
    return Bm25Index(list(texts), [stored_terms(index_terms(t), t) for t in texts.values()])


def found(index: Bm25Index, query: str) -> list[str]:
    return [hit.id for hit in index.search(expand_query(query).weights, 5)]


def test_drug_names_stay_one_word_without_touching_jiebas_default_tokenizer():
    assert "二甲双胍" in tokenize("二甲双胍片每日两次")
    assert "慢性阻塞性肺疾病" in tokenize("慢性阻塞性肺疾病急性加重")
    assert "二甲双胍" not in jieba.lcut("二甲双胍")  # the global default is left as it was


def test_synonyms_and_abbreviations_find_chunks_in_either_language():
    index = index_of(CHUNKS)
    assert found(index, "慢阻肺")[0] == "copd"
    assert found(index, "COPD")[0] == "copd"
    assert found(index, "copd vaccination")[0] == "copd"  # case-insensitive
    assert found(index, "adrenaline")[0] == "epi"
    assert found(index, "肾上腺素")[0] == "epi"
    assert found(index, "T2DM")[0] == "sugar"
    assert found(index, "吸烟") == []


def test_expansion_weighs_less_than_the_query_words_and_matches_english_phrases():
    terms = expand_query("COPD 急性加重")
    assert terms.weights["copd"] == 1.0 and terms.weights["慢性阻塞性肺疾病"] == 0.5
    assert "慢阻肺" in terms.expanded and "COPD" not in terms.expanded
    assert "幽门螺杆菌" in expand_query("H. pylori eradication").expanded  # a phrase across a dot
    assert "幽门螺杆菌" in expand_query("Hp阳性").expanded
    assert "幽门螺杆菌" not in expand_query("php server").expanded  # whole words only
    assert expand_query("中风险人群").expanded == ()  # 中风 inside 中风险 is not a stroke


def test_stop_words_alone_match_nothing():
    index = index_of({**CHUNKS, "plain": "The dose of the drug and the route are what it is."})
    assert tokenize("的 了 是") == [] and tokenize("the of and") == []
    assert found(index, "的 了 是") == [] and found(index, "the of and") == []


def test_greek_letters_and_digits_are_kept():
    words = tokenize("β2受体激动剂，剂量500 mg")
    assert "β2" in words and "β" in words and "500" in words
    index = index_of({"saba": "短效β2受体激动剂可快速缓解哮喘症状。", "other": "2型糖尿病患者的血糖管理。"})
    assert found(index, "β2")[0] == "saba"


def test_terms_stored_before_the_vocabulary_are_tokenised_again():
    old = "二甲 双 胍 2 受体"  # no format marker: made by the tokeniser before this vocabulary
    assert not is_current(old) and is_current(index_terms("二甲双胍"))
    assert "二甲双胍" in stored_terms(old, "二甲双胍")


def test_old_chunks_and_the_recall_test_show_the_expansion(runtime, owner):  # noqa: F811
    kb = make_kb(runtime, owner, chunk_size=200, chunk_overlap=0)
    upload(runtime, owner, kb, "copd.txt", CHUNKS["copd"].encode())
    upload(runtime, owner, kb, "epi.txt", CHUNKS["epi"].encode())
    with runtime.session() as session:  # as a chunk indexed before this vocabulary would be stored
        for chunk in session.exec(select(KnowledgeChunk).where(KnowledgeChunk.knowledge_base_id == kb.id)).all():
            chunk.terms = " ".join(jieba.lcut_for_search(chunk.text.lower()))
            session.add(chunk)
        session.commit()
    runtime.knowledge.text_indexes.forget(kb.id)
    hits = retrieve(runtime, owner, kb, "慢阻肺", mode="text")
    assert hits[0].document_name == "copd.txt"
    assert "慢性阻塞性肺疾病" in hits[0].expanded_terms and "COPD" in hits[0].expanded_terms
    assert retrieve(runtime, owner, kb, "adrenaline", mode="text")[0].document_name == "epi.txt"
    assert retrieve(runtime, owner, kb, "the of and", mode="text") == []
    assert retrieve(runtime, owner, kb, "anaphylaxis", mode="vector")[0].expanded_terms == ()
