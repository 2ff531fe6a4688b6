"""Ranking chunks of one knowledge base for a query: vector (Chroma), full text (BM25 over
jieba tokens with the medical vocabulary) or both, then an optional rerank stage.

Scores are calibrated (``calibration``): each engine's raw score becomes an estimated probability
that the chunk answers the query, the same scale for every query, so the threshold means one
thing. Hybrid mixes the two with the knowledge base's vector weight, after scoring every
candidate of either engine with both (a chunk found by one engine alone is not pushed down for
lacking the other's rank). With rerank on (``kb.rerank`` and MEDAI_RERANK_URL), the best
RERANK_DEPTH candidates are scored again by the cross-encoder and that score is final (when the
rerank server fails, the fused ranking answers and the hits carry no rerank score).

Language-aware: the query's language is detected (``languages.detect``); the vector side embeds
the query together with the synonyms it names in the knowledge base's other language (``anchored``); a
chunk's cosine is calibrated against its own language's background (cross-lingual cosines run
lower: ``calibration.LanguageSpread``); and when the knowledge base holds both languages (as
declared, or as found in its chunks) and the nearest vectors hold fewer than PER_LANGUAGE chunks
of the other language, that language is searched on its own (``LanguageVectors``), so a good
answer in the other language is not buried under same-language chunks.

The callers (knowledge.retrieve, recall evaluation) have already checked access to ``kb``.

Guardrails: a query must hold a word character (a letter or digit of any script, so "β2" and
"500" pass; only punctuation, emoji or whitespace does not) and at most MAX_QUERY_CHARS
characters after stripping; otherwise ``search`` refuses it (DATA_INVALID, 422). The limit is
shared by retrieve, recall tests and agents (an agent's knowledge node cuts a longer query).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

import numpy as np
from sqlmodel import Session, col, select

from backend.adapters.rerank import Reranker
from backend.errors import ErrorCode, MedAIError
from backend.models import KnowledgeBase, KnowledgeChunk, KnowledgeDocument
from backend.services.knowledge import calibration
from backend.services.knowledge.calibration import LanguageSpread
from backend.services.knowledge.index import KnowledgeIndex, collection_of
from backend.services.knowledge.languages import LANGUAGES, OTHER, detect
from backend.services.knowledge.text_search import Bm25Index, KbVocabulary, expand_query, is_current, stored_terms

log = logging.getLogger(__name__)
MODES = ("hybrid", "vector", "text")
MAX_TOP_K = 50
VECTOR_POOL = 50  # nearest vectors fetched at least (more when top_k asks for more)
PER_LANGUAGE = 5  # other-language chunks the pool should hold before the other language is searched alone
RERANK_DEPTH = 20  # candidates the rerank stage reads (at least 2 x top_k)
SPREAD_SAMPLE = 2000  # chunks per language whose vectors make its background (calibration.LanguageSpread)
MINORITY_CHUNKS = 20_000  # a language this small keeps its vectors in memory for an exact search of its own
WIDE_POOL = 200  # nearest vectors read for a larger language the first pool lacks
MAX_ANCHORS = 4  # other-language synonyms whose vectors join the query's, at most
LANGUAGE_KEY = "_lang"  # the chunk's language in vector and text-index metadata (platform-reserved name)
MAX_QUERY_CHARS = 1000  # one limit for retrieve, recall test queries and agents' knowledge nodes
_WORD_CHARACTER = re.compile(r"[^\W_]")  # a letter or digit of any script ("_" is punctuation here)


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: str
    document_id: str
    document_name: str
    text: str
    score: float  # what the threshold applies to (see the module docstring)
    vector_score: float | None  # the calibrated vector score (None in text mode)
    text_score: float | None  # the calibrated full-text score (None in vector mode)
    rank: int  # 1-based
    expanded_terms: tuple[str, ...] = ()  # synonyms the text query was expanded with (text and hybrid modes)
    language: str = ""  # the chunk's (zh | en | other)
    start_char: int | None = None  # where the chunk sits in its document's parsed text (None: not known yet)
    end_char: int | None = None
    rerank_score: float | None = None  # the cross-encoder's, when the rerank stage ran

    def with_expansion(self, expanded: tuple[str, ...]) -> RetrievedChunk:
        return replace(self, expanded_terms=expanded)


def text_index(session: Session, index: KnowledgeIndex, kb: KnowledgeBase) -> Bm25Index:
    """The knowledge base's BM25 index, from the cache while its index_version is unchanged."""

    def build() -> Bm25Index:
        rows = session.exec(
            select(KnowledgeChunk.id, KnowledgeChunk.terms, KnowledgeChunk.meta, KnowledgeChunk.language).where(
                KnowledgeChunk.knowledge_base_id == kb.id,
                KnowledgeChunk.tenant_id == kb.tenant_id,
                KnowledgeChunk.kind == "chunk",
            )
        ).all()
        vocabulary = KbVocabulary.of(kb)
        texts = _stale_texts(session, [r[0] for r in rows if not is_current(r[1], vocabulary)])
        terms = [stored_terms(r[1], texts.get(r[0], ""), vocabulary) for r in rows]
        metadatas = [{**(r[2] or {}), LANGUAGE_KEY: r[3] or OTHER} for r in rows]
        return Bm25Index([r[0] for r in rows], terms, metadatas)

    return index.text_indexes.get(kb.id, kb.index_version, build)


def _stale_texts(session: Session, ids: list[str]) -> dict[str, str]:
    """The text of chunks whose stored terms predate the current vocabulary (re-tokenised at build)."""
    texts: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        rows = session.exec(select(KnowledgeChunk.id, KnowledgeChunk.text).where(col(KnowledgeChunk.id).in_(batch)))
        texts.update(rows.all())
    return texts


FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def check_fields(fields: dict[str, str] | None) -> dict[str, str]:
    """Metadata fields (filters, or what an upload declares) as strings, with plain names only."""
    found = {str(key).strip(): str(value)[:256] for key, value in (fields or {}).items()}
    bad = sorted(key for key in found if not FIELD_NAME.match(key))
    if bad:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"'{bad[0][:64]}' is not a metadata field name.",
            "Use letters, digits, '_', '.' and '-', starting with a letter.",
        )
    return found


def has_words(query: str) -> bool:
    """Whether ``query`` holds a letter or digit (of any script) to search for."""
    return _WORD_CHARACTER.search(query) is not None


def check_query(query: str) -> str:
    """The query without surrounding whitespace; DATA_INVALID when empty, wordless or too long."""
    query = query.strip()
    if not has_words(query):
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            "The query is empty or has no letters or digits (only punctuation, symbols or emoji).",
            "Type a question or keywords to search for.",
        )
    if len(query) > MAX_QUERY_CHARS:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"The query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}.",
            f"Shorten it to {MAX_QUERY_CHARS} characters or fewer.",
        )
    return query


def _checked(kb: KnowledgeBase, top_k: int | None, threshold: float | None, mode: str | None) -> tuple[int, float, str]:
    mode = mode or kb.retrieval_mode
    if mode not in MODES:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown retrieval mode '{mode}'.", "Use hybrid, vector or text.")
    top_k = kb.top_k if top_k is None else top_k
    if not 1 <= top_k <= MAX_TOP_K:
        raise MedAIError(ErrorCode.DATA_INVALID, f"top_k must be 1 to {MAX_TOP_K}.", "Choose a smaller top_k.")
    return top_k, kb.score_threshold if threshold is None else threshold, mode


def _load(session: Session, kb: KnowledgeBase, ids: list[str]) -> dict[str, tuple[KnowledgeChunk, str, str]]:
    """chunk id -> (chunk, document name, text to show: the parent's in parent-child mode)."""
    # by primary key only, then checked here: with the knowledge base in the WHERE clause SQLite
    # walks that index (every chunk of the base, ~50 ms at 100k) instead of the few ids
    found = session.exec(select(KnowledgeChunk).where(col(KnowledgeChunk.id).in_(ids))).all()
    chunks = [c for c in found if c.knowledge_base_id == kb.id and c.tenant_id == kb.tenant_id]
    doc_ids = {c.document_id for c in chunks}
    documents = session.exec(
        select(KnowledgeDocument.id, KnowledgeDocument.name, KnowledgeDocument.status).where(
            col(KnowledgeDocument.id).in_(doc_ids)
        )
    ).all()
    names = {doc_id: name for doc_id, name, status in documents if status == "ready"}
    parent_ids = {c.parent_id for c in chunks if c.parent_id}
    parents = {}
    if parent_ids:
        parents = dict(
            session.exec(
                select(KnowledgeChunk.id, KnowledgeChunk.text).where(col(KnowledgeChunk.id).in_(parent_ids))
            ).all()
        )
    return {
        c.id: (c, names[c.document_id], parents.get(c.parent_id or "", c.text))
        for c in chunks
        if c.document_id in names
    }


def known_span(start: int | None, end: int | None) -> tuple[int | None, int | None]:
    """The offsets as readers take them: None for unknown (not yet filled in, or not found)."""
    if start is None or end is None or start < 0 or end < start:
        return None, None
    return start, end


def held_languages(kb: KnowledgeBase, text: Bm25Index) -> frozenset[str]:
    """The languages the knowledge base holds: as it declares, else as found in its chunks."""
    return frozenset(kb.languages) if kb.languages else text.distinct(LANGUAGE_KEY) & frozenset(LANGUAGES)


def _language_of(text: Bm25Index, chunk_id: str) -> str:
    position = text.position(chunk_id)
    return OTHER if position is None else str(text.metadatas[position].get(LANGUAGE_KEY, OTHER))


def vector_anchors(expansions: tuple[str, ...], language: str, held: frozenset[str]) -> list[str]:
    """The synonyms a query names in the knowledge base's other language (慢阻肺 -> COPD, chronic
    obstructive pulmonary disease), at most MAX_ANCHORS; none when the knowledge base holds no
    other language. Their vectors join the query's (``anchored``) and pull it towards answers
    written in the other language."""
    others = held - {language}
    if language == OTHER or not others:
        return []
    return [term for term in expansions if detect(term) in others][:MAX_ANCHORS]


def anchored(query: list[float], anchors: list[list[float]]) -> list[float]:
    """The query's vector plus the mean of its anchors' vectors, unit length again (an anchor is a
    vocabulary term, so its vector comes from the embedding cache after its first use)."""
    if not anchors:
        return query
    mixed = np.asarray(query, dtype=np.float32) + np.mean(np.asarray(anchors, dtype=np.float32), axis=0)
    return (mixed / (np.linalg.norm(mixed) or 1.0)).tolist()


@dataclass(frozen=True)
class LanguageVectors:
    """One language's part of a knowledge base's vectors: its background for the calibration
    (None with fewer than MIN_SPREAD_SAMPLE chunks) and, for a language of at most MINORITY_CHUNKS
    chunks, all its vectors (unit rows), searched exactly when the nearest vectors lack it. A
    filtered Chroma query would do the same but scans the metadata: 75-300 ms at 100k chunks."""

    spread: LanguageSpread | None
    ids: tuple[str, ...] = ()
    matrix: np.ndarray | None = None

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        if self.matrix is None or not self.ids:
            return []
        scores = self.matrix @ query
        best = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
        return [(self.ids[i], float(scores[i])) for i in best[np.argsort(-scores[best], kind="stable")]]


def language_vectors(index: KnowledgeIndex, kb: KnowledgeBase, text: Bm25Index) -> dict[str, LanguageVectors]:
    """Each held language's LanguageVectors, kept until the chunks, the model or the index change."""

    def build() -> dict[str, LanguageVectors]:
        found: dict[str, LanguageVectors] = {}
        collection = collection_of(kb)
        for language in sorted(held_languages(kb, text)):
            ids = [i for i, meta in zip(text.ids, text.metadatas, strict=True) if meta.get(LANGUAGE_KEY) == language]
            small = len(ids) <= MINORITY_CHUNKS
            wanted = ids if small else ids[:: max(1, len(ids) // SPREAD_SAMPLE)][:SPREAD_SAMPLE]
            stored = index.vectors.vectors(collection, kb.tenant_id, wanted)
            kept = [i for i in wanted if i in stored]
            matrix = np.asarray([stored[i] for i in kept], dtype=np.float32).reshape(len(kept), -1)
            matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
            spread = LanguageSpread.of(matrix) if len(kept) >= calibration.MIN_SPREAD_SAMPLE else None
            found[language] = LanguageVectors(spread, tuple(kept), matrix) if small else LanguageVectors(spread)
        return found

    version = (kb.index_version, kb.collection_generation, kb.embedding_model, tuple(kb.languages))
    return index.language_vectors.get(kb.id, version, build)


def language_spreads(index: KnowledgeIndex, kb: KnowledgeBase, text: Bm25Index) -> dict[str, LanguageSpread]:
    """Each held language's background for the vector calibration (``calibration.LanguageSpread``)."""
    return {
        language: own.spread for language, own in language_vectors(index, kb, text).items() if own.spread is not None
    }


def _matches(text: Bm25Index, chunk_id: str, where: dict[str, str]) -> bool:
    position = text.position(chunk_id)
    return position is not None and all(text.metadatas[position].get(k) == v for k, v in where.items())


def _nearest(
    index: KnowledgeIndex,
    kb: KnowledgeBase,
    text: Bm25Index,
    vector: list[float],
    wanted: int,
    where: dict[str, str],
    language: str,
) -> dict[str, float]:
    """Cosine similarity of the nearest chunks; another language the pool lacks is searched alone:
    exactly in memory when it is small (LanguageVectors), else in a wider pool."""
    collection = collection_of(kb)
    hits = index.vectors.query(collection, kb.tenant_id, vector, max(wanted, VECTOR_POOL), where)
    found = {hit.id: hit.similarity for hit in hits}
    own_vectors = language_vectors(index, kb, text)
    query = np.asarray(vector, dtype=np.float32)
    for other in sorted(held_languages(kb, text) - {language}):
        if sum(_language_of(text, hit.id) == other for hit in hits) >= PER_LANGUAGE:
            continue
        own = own_vectors.get(other)
        if own is not None and own.matrix is not None:
            nearest = [(i, sim) for i, sim in own.nearest(query, wanted * 4) if _matches(text, i, where)][:wanted]
        else:
            wider = index.vectors.query(collection, kb.tenant_id, vector, WIDE_POOL, where)
            nearest = [(hit.id, hit.similarity) for hit in wider if _language_of(text, hit.id) == other]
        for item, similarity in nearest:
            found.setdefault(item, similarity)
    return found


def _similarities(index: KnowledgeIndex, kb: KnowledgeBase, vector: list[float], ids: list[str]) -> dict[str, float]:
    """Exact cosine similarity of the query to chunks the vector search did not bring."""
    if not ids:
        return {}
    stored = index.vectors.vectors(collection_of(kb), kb.tenant_id, ids)
    query = np.asarray(vector, dtype=np.float32)
    query /= np.linalg.norm(query) or 1.0
    found: dict[str, float] = {}
    for chunk_id, values in stored.items():
        array = np.asarray(values, dtype=np.float32)
        found[chunk_id] = float(array @ query / (np.linalg.norm(array) or 1.0))
    return found


def _rerank(reranker: Reranker, query: str, ordered: list[str], texts: dict[str, str], top_k: int) -> dict[str, float]:
    """The cross-encoder's scores for the best candidates (the rest drop out)."""
    head = ordered[: max(RERANK_DEPTH, 2 * top_k)]
    return dict(zip(head, reranker.rerank(query, [texts[item] for item in head]), strict=True))


def _vector_scores(
    index: KnowledgeIndex,
    kb: KnowledgeBase,
    text: Bm25Index,
    vector: list[float],
    similarity: dict[str, float],
    language: str,
) -> dict[str, float]:
    """The calibrated vector score of each candidate, against its own language's background."""
    if not similarity:
        return {}
    query = np.asarray(vector, dtype=np.float32)
    backgrounds = {name: spread.background(query) for name, spread in language_spreads(index, kb, text).items()}
    scores: dict[str, float] = {}
    for item, value in similarity.items():
        chunk_language = _language_of(text, item)
        same = language == OTHER or chunk_language in (language, OTHER)
        scores[item] = calibration.vector_probability(kb.embedding_model, value, same, backgrounds.get(chunk_language))
    return scores


def search(
    session: Session,
    index: KnowledgeIndex,
    kb: KnowledgeBase,
    query: str,
    top_k: int | None = None,
    threshold: float | None = None,
    filters: dict[str, str] | None = None,
    mode: str | None = None,
) -> list[RetrievedChunk]:
    query = check_query(query)
    top_k, threshold, mode = _checked(kb, top_k, threshold, mode)
    where, wanted = check_fields(filters), max(top_k * 4, 20)
    text = text_index(session, index, kb)
    language = detect(query)
    similarity: dict[str, float] = {}
    coverage: dict[str, float] = {}
    expanded: tuple[str, ...] = ()
    vector: list[float] = []
    terms = expand_query(query, KbVocabulary.of(kb))  # synonyms and abbreviations, across zh and en
    if mode != "text":
        anchors = vector_anchors(terms.expanded, language, held_languages(kb, text))
        embedded = index.embed(kb.embedding_model, [query, *anchors], query=True)
        vector = anchored(embedded[0], embedded[1:])
        similarity = _nearest(index, kb, text, vector, wanted, where, language)
    if mode != "vector":
        expanded = terms.expanded
        bm25, ideal = text.scores(terms.weights), text.ideal(terms.weights) or 1.0
        coverage = {hit.id: hit.score / ideal for hit in text.top(bm25, wanted, where)}
        if mode == "hybrid":  # every candidate is scored by both engines
            similarity.update(_similarities(index, kb, vector, [i for i in coverage if i not in similarity]))
            for item in similarity:
                position = text.position(item)
                coverage.setdefault(item, 0.0 if position is None else float(bm25[position]) / ideal)
    vector_scores = _vector_scores(index, kb, text, vector, similarity, language)
    text_scores = {item: calibration.text_probability(value) for item, value in coverage.items()}
    if mode == "hybrid":
        scores = {
            item: calibration.fused(vector_scores.get(item, 0.0), text_scores.get(item, 0.0), kb.vector_weight)
            for item in vector_scores.keys() | text_scores.keys()
        }
    else:
        scores = vector_scores if mode == "vector" else text_scores
    ranked = sorted(scores, key=lambda i: -scores[i])
    # rows only for the best: enough for top_k after chunks of unready documents (and, in
    # parent-child mode, siblings of one parent) drop out, and for the rerank stage
    depth = len(ranked) if kb.chunk_mode == "parent_child" else max(RERANK_DEPTH, 3 * top_k)
    found: dict[str, tuple[KnowledgeChunk, str, str]] = {}
    read = 0
    while read < len(ranked) and len(found) < depth:
        found.update(_load(session, kb, ranked[read : read + depth]))
        read += depth
    ordered = [i for i in ranked[:read] if i in found]
    reranked: dict[str, float] = {}
    if kb.rerank and index.reranker is not None and ordered:
        try:
            reranked = _rerank(index.reranker, query, ordered, {i: found[i][0].text for i in ordered}, top_k)
        except MedAIError as exc:  # the fused ranking still answers; the hits say rerank did not run
            log.warning("rerank skipped for knowledge base %s: %s", kb.id, exc.message)
        else:
            scores, ordered = reranked, sorted(reranked, key=lambda i: -reranked[i])
    results: list[RetrievedChunk] = []
    seen_parents: set[str] = set()
    for item in ordered:
        if scores[item] < threshold:
            break
        chunk, name, shown = found[item]
        if chunk.parent_id:
            if chunk.parent_id in seen_parents:
                continue  # one context per parent: its best child stands for it
            seen_parents.add(chunk.parent_id)
        results.append(
            RetrievedChunk(
                item,
                chunk.document_id,
                name,
                shown,
                scores[item],
                vector_scores.get(item),
                text_scores.get(item),
                0,
                expanded,
                chunk.language,
                *known_span(chunk.start_char, chunk.end_char),
                reranked.get(item),
            )
        )
        if len(results) == top_k:
            break
    return [replace(r, rank=n) for n, r in enumerate(results, start=1)]
