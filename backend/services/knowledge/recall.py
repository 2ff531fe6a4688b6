"""Recall testing: saved test queries with the documents they should find, and evaluation runs
(hit@k and MRR@k) kept as a history, so a change of settings shows its effect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from backend.errors import ErrorCode, MedAIError
from backend.models import KnowledgeBase, RecallQuery, RecallRun
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area
from backend.services.knowledge.bases import visible_knowledge_base
from backend.services.knowledge.index import KnowledgeIndex
from backend.services.knowledge.search import MAX_QUERY_CHARS, check_query, has_words, search

MAX_QUERIES = 500


@dataclass(frozen=True)
class Score:
    hit_rate: float  # share of queries with an expected document in the first k
    mrr: float  # mean of 1/rank of the first expected document (0 when not in the first k)


def first_hit(ranked_documents: list[str], expected: set[str]) -> int | None:
    """1-based rank of the first expected document, or None."""
    return next((n for n, name in enumerate(ranked_documents, start=1) if name in expected), None)


def score(ranks: list[int | None], k: int) -> Score:
    if not ranks:
        return Score(0.0, 0.0)
    hits = [r for r in ranks if r is not None and r <= k]
    return Score(len(hits) / len(ranks), sum(1.0 / r for r in hits) / len(ranks))


def _kb(session: Session, principal: Principal, kb_id: str, action: Action) -> KnowledgeBase:
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, action)
    return visible_knowledge_base(session, tenant_id, kb_id, principal)


def save_recall_query(
    session: Session, principal: Principal, knowledge_base_id: str, query: str, expected_documents: list[str]
) -> RecallQuery:
    kb = _kb(session, principal, knowledge_base_id, Action.UPDATE)
    query = check_query(query)  # the same rules as retrieve: words, at most MAX_QUERY_CHARS
    expected = sorted({name.strip() for name in expected_documents if name.strip()})
    if not expected:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            "A test query needs at least one expected document.",
            "Pick the documents that answer it.",
        )
    row = RecallQuery(
        tenant_id=kb.tenant_id,
        knowledge_base_id=kb.id,
        query=query,
        expected_documents=expected,
        created_by=principal.label,
    )
    session.add(row)
    audit.record_by(session, principal, "knowledge_recall_query.save", "knowledge_base", kb.id, query_id=row.id)
    return row


def list_recall_queries(session: Session, principal: Principal, knowledge_base_id: str) -> list[RecallQuery]:
    kb = _kb(session, principal, knowledge_base_id, Action.VIEW)
    query = select(RecallQuery).where(RecallQuery.knowledge_base_id == kb.id, RecallQuery.tenant_id == kb.tenant_id)
    return list(session.exec(query.order_by(RecallQuery.created_at)).all())


def delete_recall_query(session: Session, principal: Principal, knowledge_base_id: str, query_id: str) -> None:
    kb = _kb(session, principal, knowledge_base_id, Action.UPDATE)
    row = session.get(RecallQuery, query_id)
    if row is None or row.knowledge_base_id != kb.id:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such test query.", "Reload the recall tests.")
    session.delete(row)
    audit.record_by(session, principal, "knowledge_recall_query.delete", "knowledge_base", kb.id, query_id=query_id)


def _refuse_unsearchable(queries: Sequence[RecallQuery]) -> None:
    """A test query saved before the guardrails that retrieve would refuse stops the run by name."""
    for row in queries:
        if not has_words(row.query) or len(row.query.strip()) > MAX_QUERY_CHARS:
            raise MedAIError(
                ErrorCode.DATA_INVALID,
                f"The test query '{row.query[:40]}' is empty, has no letters or digits, or is longer than "
                f"{MAX_QUERY_CHARS} characters.",
                "Delete that test query and save a searchable one.",
            )


def evaluate_recall(
    session: Session, index: KnowledgeIndex, principal: Principal, knowledge_base_id: str, k: int = 5
) -> RecallRun:
    """Run every saved query with the knowledge base's current settings; record hit@k and MRR@k."""
    kb = _kb(session, principal, knowledge_base_id, Action.UPDATE)
    if not 1 <= k <= 50:
        raise MedAIError(ErrorCode.DATA_INVALID, "k must be 1 to 50.", "Choose a smaller k.")
    queries = session.exec(select(RecallQuery).where(RecallQuery.knowledge_base_id == kb.id).limit(MAX_QUERIES)).all()
    if not queries:
        raise MedAIError(ErrorCode.DATA_INVALID, "There are no saved test queries.", "Save a test query first.")
    _refuse_unsearchable(queries)
    details = []
    for row in queries:
        found = search(session, index, kb, row.query, top_k=k)
        rank = first_hit([chunk.document_name for chunk in found], set(row.expected_documents))
        details.append({"query_id": row.id, "query": row.query, "rank": rank})
    result = score([d["rank"] for d in details], k)
    run = RecallRun(
        tenant_id=kb.tenant_id,
        knowledge_base_id=kb.id,
        k=k,
        queries=len(details),
        hit_rate=result.hit_rate,
        mrr=result.mrr,
        settings={
            "retrieval_mode": kb.retrieval_mode,
            "score_threshold": kb.score_threshold,
            "chunk_mode": kb.chunk_mode,
            "chunk_size": kb.chunk_size,
            "chunk_overlap": kb.chunk_overlap,
            "embedding_model": kb.embedding_model,
        },
        details=details,
        created_by=principal.label,
    )
    session.add(run)
    audit.record_by(
        session, principal, "knowledge_recall.evaluate", "knowledge_base", kb.id, hit_rate=run.hit_rate, mrr=run.mrr
    )
    return run


def list_recall_runs(session: Session, principal: Principal, knowledge_base_id: str) -> list[RecallRun]:
    """The evaluation history, oldest first."""
    kb = _kb(session, principal, knowledge_base_id, Action.VIEW)
    query = select(RecallRun).where(RecallRun.knowledge_base_id == kb.id, RecallRun.tenant_id == kb.tenant_id)
    return list(session.exec(query.order_by(col(RecallRun.created_at))).all())
