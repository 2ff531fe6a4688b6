"""Ranking chunks of one knowledge base for a query: vector (Chroma), full text (BM25 over
jieba tokens) or both fused with reciprocal-rank fusion; the threshold applies after fusion.

Scores: hybrid is RRF (k=60) scaled so that a chunk ranked first by both retrievers scores
1.0; vector mode is the cosine similarity; text mode is BM25 relative to the best hit.
The callers (knowledge.retrieve, recall evaluation) have already checked access to ``kb``.

Guardrails: a query must hold a word character (a letter or digit of any script, so "β2" and
"500" pass; only punctuation, emoji or whitespace does not) and at most MAX_QUERY_CHARS
characters after stripping; otherwise ``search`` refuses it (DATA_INVALID, 422). The limit is
shared by retrieve, recall tests and agents (an agent's knowledge node cuts a longer query).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlmodel import Session, col, select

from backend.errors import ErrorCode, MedAIError
from backend.models import KnowledgeBase, KnowledgeChunk, KnowledgeDocument
from backend.services.knowledge.index import KnowledgeIndex, collection_of
from backend.services.knowledge.text_search import Bm25Index, expand_query, is_current, stored_terms

MODES = ("hybrid", "vector", "text")
RRF_K = 60
MAX_TOP_K = 50
MAX_QUERY_CHARS = 1000  # one limit for retrieve, recall test queries and agents' knowledge nodes
_WORD_CHARACTER = re.compile(r"[^\W_]")  # a letter or digit of any script ("_" is punctuation here)


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: str
    document_id: str
    document_name: str
    text: str
    score: float  # what the threshold applies to (see the module docstring)
    vector_score: float | None
    text_score: float | None
    rank: int  # 1-based
    expanded_terms: tuple[str, ...] = ()  # synonyms the text query was expanded with (text and hybrid modes)

    def with_expansion(self, expanded: tuple[str, ...]) -> RetrievedChunk:
        return replace(self, expanded_terms=expanded)


def fuse(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal-rank fusion of ranked id lists, scaled to 1.0 for an id first in every list."""
    if not rankings:
        return {}
    best = len(rankings) / (k + 1)
    fused: dict[str, float] = {}
    for ranking in rankings:
        for position, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + position)
    return {item: value / best for item, value in fused.items()}


def text_index(session: Session, index: KnowledgeIndex, kb: KnowledgeBase) -> Bm25Index:
    """The knowledge base's BM25 index, from the cache while its index_version is unchanged."""

    def build() -> Bm25Index:
        rows = session.exec(
            select(KnowledgeChunk.id, KnowledgeChunk.terms, KnowledgeChunk.meta).where(
                KnowledgeChunk.knowledge_base_id == kb.id,
                KnowledgeChunk.tenant_id == kb.tenant_id,
                KnowledgeChunk.kind == "chunk",
            )
        ).all()
        texts = _stale_texts(session, [r[0] for r in rows if not is_current(r[1])])
        terms = [stored_terms(r[1], texts.get(r[0], "")) for r in rows]
        return Bm25Index([r[0] for r in rows], terms, [r[2] or {} for r in rows])

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
    vector_scores: dict[str, float] = {}
    text_scores: dict[str, float] = {}
    expanded: tuple[str, ...] = ()
    if mode in ("hybrid", "vector"):
        vector = index.embed(kb.embedding_model, [query], query=True)[0]
        for hit in index.vectors.query(collection_of(kb), kb.tenant_id, vector, wanted, where):
            vector_scores[hit.id] = hit.similarity
    if mode in ("hybrid", "text"):
        terms = expand_query(query)  # medical synonyms and abbreviations, weighted below the query's own words
        expanded = terms.expanded
        for text_hit in text_index(session, index, kb).search(terms.weights, wanted, where):
            text_scores[text_hit.id] = text_hit.score
    if mode == "hybrid":
        scores = fuse([list(vector_scores), list(text_scores)])
    elif mode == "vector":
        scores = dict(vector_scores)
    else:
        top = max(text_scores.values(), default=1.0) or 1.0
        scores = {item: value / top for item, value in text_scores.items()}
    found = _load(session, kb, list(scores))
    ordered = sorted((i for i in scores if i in found and scores[i] >= threshold), key=lambda i: -scores[i])
    results: list[RetrievedChunk] = []
    seen_parents: set[str] = set()
    for item in ordered:
        chunk, name, text = found[item]
        if chunk.parent_id:
            if chunk.parent_id in seen_parents:
                continue  # one context per parent: its best child stands for it
            seen_parents.add(chunk.parent_id)
        results.append(
            RetrievedChunk(
                item, chunk.document_id, name, text, scores[item], vector_scores.get(item), text_scores.get(item), 0
            ).with_expansion(expanded)
        )
        if len(results) == top_k:
            break
    return [replace(r, rank=n) for n, r in enumerate(results, start=1)]
