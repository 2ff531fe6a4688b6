"""Filling in the character offsets of chunks stored before chunks kept them, in the background.

Chunks ingested now carry ``[start_char, end_char)`` in their document's text
(``documents.document_text``). Older ones have None there. The controller's knowledge pass
(``start_filling_offsets``, in its own thread) takes one such document at a time, reads its stored
file from the object store and parses it as ingestion does, then finds each chunk in the text in
order: searching from just after the previous chunk's start (consecutive chunks overlap), then
from the beginning if it is not there (a chunk out of order). Parents are found the same way
among themselves.

A chunk that cannot be found (the file is gone or no longer parses, or the text differs) gets
``UNLOCATED`` (-1) in both columns, so it is never looked for again and the document is done with;
readers treat a negative offset as unknown (``search.known_span``). The pass sets an empty language too,
and gives the document's vectors (which predate ``_lang`` as well) their language: the same
vectors stored again with ``_lang`` in their metadata, nothing embedded again. It leaves the
vectors of a knowledge base being re-embedded alone: the re-embed writes the language itself.
Once a pass finds nothing left it is settled for the life of the process: every chunk written
since carries its offsets, so the controller stops looking.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from sqlmodel import Session, col, select

from backend.adapters.objectstore import ObjectStore
from backend.models import KnowledgeBase, KnowledgeChunk, KnowledgeDocument
from backend.services.knowledge.bases import REEMBED_ACTIVE
from backend.services.knowledge.documents import document_text, read_stored, vector_metadata
from backend.services.knowledge.index import KnowledgeIndex, collection_of
from backend.services.knowledge.languages import detect

logger = logging.getLogger(__name__)

OpenSession = Callable[[], AbstractContextManager[Session]]
UNLOCATED = -1  # looked for and not found: never looked for again
TAG_BATCH = 256  # vectors read and stored again at a time


def locate(text: str, chunks: Sequence[str]) -> list[tuple[int, int] | None]:
    """Where each of ``chunks`` (in document order, consecutive ones possibly overlapping) sits in
    ``text``; None for one that is not in it."""
    found: list[tuple[int, int] | None] = []
    cursor = 0
    for chunk in chunks:
        if not chunk:
            found.append(None)
            continue
        start = text.find(chunk, cursor)
        if start < 0:
            start = text.find(chunk)  # out of order: anywhere in the text
        if start < 0:
            found.append(None)
            continue
        found.append((start, start + len(chunk)))
        cursor = start + 1  # the next chunk starts after this one's start, inside it when they overlap
    return found


def _pending_document(open_session: OpenSession) -> str | None:
    with open_session() as session:
        return session.exec(
            select(KnowledgeChunk.document_id).where(col(KnowledgeChunk.start_char).is_(None)).limit(1)
        ).first()


def _document_text(open_session: OpenSession, objects: ObjectStore, document_id: str) -> str | None:
    """The document's text as ingestion saw it; None when there is none to read any more."""
    with open_session() as session:
        doc = session.get(KnowledgeDocument, document_id)
        if doc is not None:
            session.expunge(doc)
    if doc is None or not doc.object_key:
        return None
    try:
        return document_text(read_stored(objects, doc))
    except Exception:  # gone from the store, or no longer readable: its chunks cannot be placed
        logger.warning("knowledge document %s could not be read again to place its chunks", document_id)
        return None


def _tag_vectors(
    open_session: OpenSession, index: KnowledgeIndex, document_id: str, chunks: list[KnowledgeChunk]
) -> None:
    """Store the chunks' vectors again, unchanged, with their language (``_lang``) in the metadata."""
    with open_session() as session:
        doc = session.get(KnowledgeDocument, document_id)
        kb = session.get(KnowledgeBase, doc.knowledge_base_id) if doc is not None else None
        if kb is None or kb.reembed_status in REEMBED_ACTIVE:
            return
        collection, tenant_id = collection_of(kb), kb.tenant_id
    for start in range(0, len(chunks), TAG_BATCH):
        batch = chunks[start : start + TAG_BATCH]
        stored = index.vectors.vectors(collection, tenant_id, [c.id for c in batch])
        kept = [c for c in batch if c.id in stored]
        metadatas = [vector_metadata(c) for c in kept]
        index.vectors.upsert(collection, tenant_id, [c.id for c in kept], [stored[c.id] for c in kept], metadatas)


def fill_document(
    open_session: OpenSession, index: KnowledgeIndex, objects: ObjectStore, document_id: str
) -> tuple[int, int]:
    """Place the document's chunks that have no offsets and tag their vectors with their language;
    returns (placed, not found)."""
    text = _document_text(open_session, objects, document_id)
    placed = missed = 0
    with open_session() as session:
        rows = session.exec(
            select(KnowledgeChunk)
            .where(KnowledgeChunk.document_id == document_id, col(KnowledgeChunk.start_char).is_(None))
            .order_by(KnowledgeChunk.kind, KnowledgeChunk.ordinal)
        ).all()
        for kind in ("parent", "chunk"):
            group = [row for row in rows if row.kind == kind]
            spans = locate(text, [row.text for row in group]) if text is not None else [None] * len(group)
            for row, span in zip(group, spans, strict=True):
                row.start_char, row.end_char = span if span is not None else (UNLOCATED, UNLOCATED)
                row.language = row.language or detect(row.text)
                session.add(row)
                placed, missed = (placed + 1, missed) if span is not None else (placed, missed + 1)
        session.flush()
        chunks = [row for row in rows if row.kind == "chunk"]
        session.expunge_all()
    if missed:
        logger.info("knowledge document %s: %d chunks placed, %d not found", document_id, placed, missed)
    try:
        _tag_vectors(open_session, index, document_id, chunks)
    except Exception:  # the offsets stand; a re-embed gives the vectors their language
        logger.exception("tagging the vectors of knowledge document %s with their language failed", document_id)
    return placed, missed


def fill_next(open_session: OpenSession, index: KnowledgeIndex, objects: ObjectStore) -> str | None:
    """Place the chunks of one document that has some without offsets; its id, or None when none has."""
    document_id = _pending_document(open_session)
    if document_id is not None:
        fill_document(open_session, index, objects, document_id)
    return document_id


class OffsetsWorker(threading.Thread):
    """The background pass; ``settled`` once it has found every chunk placed or given up on."""

    def __init__(self, open_session: OpenSession, index: KnowledgeIndex, objects: ObjectStore) -> None:
        super().__init__(name="medai-knowledge-offsets", daemon=True)
        self._open_session, self._index, self._objects = open_session, index, objects
        self.settled = False  # its run found nothing left to place

    def run(self) -> None:
        while fill_next(self._open_session, self._index, self._objects) is not None:
            pass
        self.settled = True


def start_filling_offsets(open_session: OpenSession, index: KnowledgeIndex, objects: ObjectStore) -> bool:
    """The controller's reconciler: place chunks stored without offsets in a worker thread.
    Returns whether a worker was started."""
    with index.lock:
        worker = index.offsets_worker
        if worker is not None and (worker.is_alive() or getattr(worker, "settled", False)):
            return False
        if _pending_document(open_session) is None:
            done = OffsetsWorker(open_session, index, objects)  # never started: it records that nothing is left
            done.settled = True
            index.offsets_worker = done
            return False
        index.offsets_worker = OffsetsWorker(open_session, index, objects)
        index.offsets_worker.start()
        return True
