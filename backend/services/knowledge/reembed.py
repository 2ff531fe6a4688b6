"""Re-embedding a knowledge base with another embedding model, in the background.

``request_reembed`` (a person, with knowledge update rights) marks the knowledge base
``reembed_status = "queued"`` with the target model. The controller's knowledge pass
(``start_reembedding``, in its own thread) claims it (``running``) and fills the next collection
generation (``kb-<id>-g<n+1>``) document by document, chunk batch by chunk batch, from the
chunk rows already stored (nothing is parsed again), committing the progress as it goes. The
old generation keeps answering every query meanwhile. When every ready document is in the new
generation, one transaction switches the knowledge base's ``embedding_model`` and
``collection_generation`` together; then the old collection is dropped.

Documents that change meanwhile: one that becomes ready during the job is embedded before the
switch (the job looks again at the ready documents before it switches); one deleted or replaced
has its vectors removed from the new generation at the switch; one still being ingested when the
switch lands is queued again by the ingestion (knowledge_documents.ingest_next), so it is
embedded with the new model. A failure drops the new generation and leaves the old index and
model in place, with the reason on the knowledge base (``reembed_reason``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlmodel import Session, col, func, select, update

from backend.errors import ErrorCode, MedAIError
from backend.models import KnowledgeBase, KnowledgeChunk, KnowledgeDocument
from backend.models.base import utcnow
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area
from backend.services.knowledge import claims
from backend.services.knowledge.bases import REEMBED_ACTIVE, visible_knowledge_base
from backend.services.knowledge.documents import vector_metadata
from backend.services.knowledge.index import KnowledgeIndex, collection_name

logger = logging.getLogger(__name__)

OpenSession = Callable[[], AbstractContextManager[Session]]
BATCH = 64  # chunks embedded and stored at a time; the progress is committed after each


def request_reembed(
    session: Session, index: KnowledgeIndex, principal: Principal, kb_id: str, model: str
) -> KnowledgeBase:
    """Queue a re-embed of the knowledge base with ``model``; the current index keeps answering
    until the new one is ready. CONFLICT while one is already queued or running."""
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.UPDATE)
    kb = visible_knowledge_base(session, tenant_id, kb_id, principal)
    target = index.check_model(model)
    if kb.reembed_status in REEMBED_ACTIVE:
        raise MedAIError(
            ErrorCode.CONFLICT,
            f"This knowledge base is already being re-embedded with {kb.reembed_model}.",
            "Wait for it to finish; its progress shows on the knowledge base.",
        )
    if target == kb.embedding_model:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"This knowledge base already uses {target}.",
            "Choose another embedding model.",
        )
    kb.reembed_model, kb.reembed_status, kb.reembed_progress, kb.reembed_reason = target, "queued", 0.0, ""
    kb.reembed_by, kb.reembed_updated_at = principal.label, utcnow()
    session.add(kb)
    audit.record_by(
        session,
        principal,
        "knowledge_base.reembed",
        "knowledge_base",
        kb.id,
        name=kb.name,
        model_from=kb.embedding_model,
        model_to=target,
    )
    return kb


# the controller's part -------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    kb_id: str
    tenant_id: str
    model: str  # the target model
    generation: int  # the one being filled
    by: str

    @property
    def collection(self) -> str:
        return collection_name(self.kb_id, self.generation)


def _claim(open_session: OpenSession) -> Job | None:
    """Take the oldest queued re-embed (see claims.claim)."""
    return claims.claim(
        open_session,
        KnowledgeBase.reembed_status,
        KnowledgeBase.reembed_progress,
        KnowledgeBase.reembed_updated_at,
        lambda kb: Job(kb.id, kb.tenant_id, kb.reembed_model, kb.collection_generation + 1, kb.reembed_by),
    )


def _ready_documents(open_session: OpenSession, job: Job) -> set[str]:
    with open_session() as session:
        return set(
            session.exec(
                select(KnowledgeDocument.id).where(
                    KnowledgeDocument.knowledge_base_id == job.kb_id, KnowledgeDocument.status == "ready"
                )
            ).all()
        )


def _chunk_total(open_session: OpenSession, job: Job) -> int:
    with open_session() as session:
        return int(
            session.exec(
                select(func.count()).where(
                    KnowledgeChunk.knowledge_base_id == job.kb_id, KnowledgeChunk.kind == "chunk"
                )
            ).one()
        )


def _batches(open_session: OpenSession, job: Job, document_id: str) -> Iterator[list[KnowledgeChunk]]:
    with open_session() as session:
        rows = list(
            session.exec(
                select(KnowledgeChunk)
                .where(
                    KnowledgeChunk.document_id == document_id,
                    KnowledgeChunk.knowledge_base_id == job.kb_id,
                    KnowledgeChunk.kind == "chunk",
                )
                .order_by(KnowledgeChunk.ordinal)
            ).all()
        )
        session.expunge_all()
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _report(open_session: OpenSession, job: Job, fraction: float) -> bool:
    """Commit the progress; False when the job was taken away (knowledge base deleted)."""
    with open_session() as session:
        moved = session.exec(
            update(KnowledgeBase)
            .where(KnowledgeBase.id == job.kb_id, KnowledgeBase.reembed_status == "running")
            .values(reembed_progress=round(min(fraction, 0.99), 3), reembed_updated_at=utcnow())
        )
    return moved.rowcount == 1  # type: ignore[attr-defined]


class KnowledgeBaseGoneError(Exception):
    """The knowledge base went away during the job: nothing to switch, nothing to report."""


def _fill(open_session: OpenSession, index: KnowledgeIndex, job: Job, documents: set[str], done: int) -> int:
    """Embed the chunks of ``documents`` into the new generation; returns the chunks done so far."""
    total = max(_chunk_total(open_session, job), 1)
    for document_id in sorted(documents):
        for batch in _batches(open_session, job, document_id):
            vectors = index.embed(job.model, [c.text for c in batch])  # passages
            metadatas = [vector_metadata(c) for c in batch]  # with the chunk's language (_lang)
            index.vectors.upsert(job.collection, job.tenant_id, [c.id for c in batch], vectors, metadatas)
            done += len(batch)
            if not _report(open_session, job, done / total):
                raise KnowledgeBaseGoneError
    return done


def _switch(open_session: OpenSession, index: KnowledgeIndex, job: Job, embedded: set[str]) -> bool:
    """Point the knowledge base at the new generation and model, in one transaction, when every
    ready document is in it; False (nothing changed) when some are not yet."""
    with open_session() as session:
        kb = session.get(KnowledgeBase, job.kb_id)
        if kb is None or kb.reembed_status != "running":
            raise KnowledgeBaseGoneError
        ready = set(
            session.exec(
                select(KnowledgeDocument.id).where(
                    KnowledgeDocument.knowledge_base_id == kb.id, KnowledgeDocument.status == "ready"
                )
            ).all()
        )
        if ready - embedded:
            return False
        for gone in sorted(embedded - ready):  # deleted or replaced during the job
            index.vectors.delete(job.collection, job.tenant_id, {"document_id": gone})
        old_model, old = kb.embedding_model, collection_name(kb.id, kb.collection_generation)
        kb.embedding_model, kb.collection_generation = job.model, job.generation
        kb.reembed_status, kb.reembed_progress, kb.reembed_reason = "done", 1.0, ""
        kb.reembed_updated_at = kb.updated_at = utcnow()
        kb.index_version += 1
        session.add(kb)
        audit.record_by(
            session,
            None,
            "knowledge_base.reembed_done",
            "knowledge_base",
            kb.id,
            tenant_id=kb.tenant_id,
            name=kb.name,
            model_from=old_model,
            model_to=job.model,
            documents=len(ready),
        )
    index.vectors.drop(old, job.tenant_id)  # after the commit: nothing answers from it any more
    return True


def _fail(open_session: OpenSession, index: KnowledgeIndex, job: Job, reason: str) -> None:
    """Drop the new generation; the old index and model stay, with the reason shown."""
    index.vectors.drop(job.collection, job.tenant_id)
    with open_session() as session:
        kb = session.get(KnowledgeBase, job.kb_id)
        if kb is None:
            return
        kb.reembed_status, kb.reembed_reason, kb.reembed_updated_at = "failed", reason[:1000], utcnow()
        session.add(kb)
        audit.record_by(
            session,
            None,
            "knowledge_base.reembed_failed",
            "knowledge_base",
            kb.id,
            tenant_id=kb.tenant_id,
            outcome="failed",
            name=kb.name,
            model_to=job.model,
            reason=reason[:200],
        )


def _run(open_session: OpenSession, index: KnowledgeIndex, job: Job) -> None:
    index.vectors.drop(job.collection, job.tenant_id)  # what a process that died on this job left
    embedded: set[str] = set()
    done = 0
    while True:
        todo = _ready_documents(open_session, job) - embedded
        if not todo and _switch(open_session, index, job, embedded):
            return
        done = _fill(open_session, index, job, todo, done)
        embedded |= todo


def reembed_next(open_session: OpenSession, index: KnowledgeIndex) -> str | None:
    """Run one queued re-embed to its switch or its failure; its knowledge base id, or None when none waits."""
    job = _claim(open_session)
    if job is None:
        return None
    try:
        _run(open_session, index, job)
    except KnowledgeBaseGoneError:
        index.vectors.drop(job.collection, job.tenant_id)
    except MedAIError as error:
        _fail(open_session, index, job, f"{error.message} {error.remedy}")
    except Exception as exc:  # logged with its stack; the person sees the kind of failure
        logger.exception("re-embedding knowledge base %s failed", job.kb_id)
        _fail(open_session, index, job, f"Re-embedding failed ({type(exc).__name__}). Try again.")
    return job.kb_id


def start_reembedding(open_session: OpenSession, index: KnowledgeIndex) -> bool:
    """The controller's reconciler: run queued re-embeds in a worker thread, so a long one never
    holds up the other reconcilers or document ingestion. Returns whether a worker was started."""
    with index.lock:
        if index.reembed_worker is not None and index.reembed_worker.is_alive():
            return False
        with open_session() as session:
            waiting = session.exec(
                select(KnowledgeBase.id).where(col(KnowledgeBase.reembed_status).in_(REEMBED_ACTIVE))
            ).first()
        if waiting is None:
            return False

        def work() -> None:
            while reembed_next(open_session, index) is not None:
                pass

        index.reembed_worker = threading.Thread(target=work, name="medai-knowledge-reembed", daemon=True)
        index.reembed_worker.start()
        return True
