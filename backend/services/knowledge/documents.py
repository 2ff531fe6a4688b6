"""Documents of a knowledge base: upload, preview, ingestion (parse -> chunk -> embed -> ready)
and deletion.

An upload is parsed at once, so an unreadable file is refused with DATA_INVALID before
anything is written. A readable one is stored and gets a document row ``queued``; small
documents are ingested in the same request, larger ones by the controller (``reconcile``),
which commits each step and the progress so the page can follow it. Chunks, vectors and the
BM25 index change only when a document becomes ready; a document that fails on the way
keeps its row with the reason and nothing else (its vectors and file are removed). A new
upload under an existing name replaces the old document once it is ready.

Every chunk row keeps its language (``languages.detect``) and its character offsets
``[start_char, end_char)`` in the document's text (``document_text``: what parsing the stored
file gives, the same text the document page shows); each vector's metadata carries the
language as ``_lang`` so that retrieval can keep to one language.

Chunks are embedded as passages. While the knowledge base is being re-embedded with another
model, uploads are queued rather than ingested inline, and a document whose knowledge base
switched to the new index while it was being ingested is queued again (knowledge_reembed).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from sqlmodel import Session, col, delete, select, update

from backend.adapters.objectstore import ObjectStore
from backend.errors import ErrorCode, MedAIError
from backend.models import KnowledgeBase, KnowledgeChunk, KnowledgeDocument
from backend.models.base import utcnow
from backend.models.identity import new_id
from backend.services.assets import phi
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area
from backend.services.knowledge.bases import REEMBED_ACTIVE, knowledge_prefix, visible_knowledge_base
from backend.services.knowledge.chunking import Chunked, ChunkSettings, chunk_pairs, chunk_prose, pairs_text
from backend.services.knowledge.index import KnowledgeIndex, collection_of
from backend.services.knowledge.languages import detect
from backend.services.knowledge.parsing import Parsed, parse
from backend.services.knowledge.search import LANGUAGE_KEY, check_fields
from backend.services.knowledge.text_search import KbVocabulary, index_terms

logger = logging.getLogger(__name__)

INLINE_CHARS = 20_000  # documents up to this size are ingested in the request that uploads them
EMBED_BATCH = 64
STALE_AFTER = timedelta(minutes=10)  # a step this old was left by a process that died
IN_PROGRESS = ("parsing", "chunking", "embedding")
PREVIEW_LIMIT = 50
RESERVED_FIELDS = frozenset({"document_id", "document_name", "tenant_id", "knowledge_base_id"})


OpenSession = Callable[[], AbstractContextManager[Session]]
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class PreviewChunk:
    ordinal: int
    text: str
    chars: int
    parent: int | None


def _settings(kb: KnowledgeBase) -> ChunkSettings:
    return ChunkSettings(kb.chunk_mode, kb.chunk_size, kb.chunk_overlap, kb.parent_chunk_size)


def _chunk(kb: KnowledgeBase, parsed: Parsed, settings: ChunkSettings | None = None) -> Chunked:
    settings = settings or _settings(kb)
    if parsed.pairs:
        return chunk_pairs(parsed.pairs)
    if settings.mode == "qa":
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            "Q&A mode takes question-answer pairs.",
            "Upload CSV or JSONL with question and answer columns, or switch the knowledge base to general chunking.",
        )
    return chunk_prose(parsed.text, settings)


def document_text(parsed: Parsed) -> str:
    """The text chunk offsets point into: the prose, or a Q&A document's pairs written out
    (``chunking.pairs_text``)."""
    return pairs_text(parsed.pairs) if parsed.pairs else parsed.text


def read_stored(objects: ObjectStore, doc: KnowledgeDocument) -> Parsed:
    """The document's stored file parsed as ingestion parses it (masked text when PHI masking was on)."""
    return parse(PurePosixPath(doc.object_key).name, b"".join(objects.open(doc.object_key)))


def upload_fields(metadata: dict[str, str] | None) -> dict[str, str]:
    """The fields an upload may declare: not the platform's own (reserved names, or a leading "_")."""
    return {k: v for k, v in check_fields(metadata).items() if k not in RESERVED_FIELDS and not k.startswith("_")}


def _masked(parsed: Parsed) -> Parsed:
    if parsed.pairs:
        return Parsed(parsed.file_format, pairs=tuple((phi.mask(q), phi.mask(a)) for q, a in parsed.pairs))
    return Parsed(parsed.file_format, text=phi.mask(parsed.text))


def _stored(name: str, data: bytes, parsed: Parsed, mask: bool) -> tuple[str, bytes]:
    """The file name and bytes kept in the object store: the upload, or with PHI masking on,
    only the masked text (the original never reaches storage)."""
    stem = f"original{PurePosixPath(name).suffix.lower()}"  # the name shown stays on the row
    if not mask:
        return stem, data
    masked = _masked(parsed)
    if masked.pairs:
        lines = (json.dumps({"question": q, "answer": a}, ensure_ascii=False) for q, a in masked.pairs)
        return f"{stem}.masked.jsonl", "\n".join(lines).encode()
    return f"{stem}.masked.txt", masked.text.encode()


def _clean_name(filename: str) -> str:
    name = PurePosixPath(filename.replace("\\", "/")).name.strip()
    if not name or len(name) > 200:
        raise MedAIError(ErrorCode.DATA_INVALID, "A document needs a file name of 1 to 200 characters.", "Rename it.")
    return name


def _audit(
    session: Session, principal: Principal | None, action: str, doc: KnowledgeDocument, **detail: object
) -> None:
    audit.record_by(
        session, principal, action, "knowledge_document", doc.id, tenant_id=doc.tenant_id, name=doc.name, **detail
    )


def preview_chunks(
    session: Session,
    principal: Principal,
    knowledge_base_id: str,
    filename: str,
    data: bytes,
    settings: ChunkSettings | None = None,
) -> list[PreviewChunk]:
    """How a document would be cut with the knowledge base's (or the given) settings; writes nothing."""
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.VIEW)
    kb = visible_knowledge_base(session, tenant_id, knowledge_base_id, principal)
    parsed = parse(_clean_name(filename), data)
    if kb.mask_phi:
        parsed = _masked(parsed)
    chunked = _chunk(kb, parsed, settings)
    return [
        PreviewChunk(n, piece.text, len(piece.text), piece.parent)
        for n, piece in enumerate(chunked.pieces[:PREVIEW_LIMIT])
    ]


def upload_document(
    session: Session,
    index: KnowledgeIndex,
    objects: ObjectStore,
    principal: Principal,
    knowledge_base_id: str,
    filename: str,
    data: bytes,
    metadata: dict[str, str] | None = None,
    inline: bool | None = None,
) -> KnowledgeDocument:
    """Import a document. Refused (nothing written) when it cannot be read; ingested now when small
    or ``inline``, otherwise queued for the controller."""
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.CREATE)
    kb = visible_knowledge_base(session, tenant_id, knowledge_base_id, principal)
    name = _clean_name(filename)
    parsed = parse(name, data)
    _chunk(kb, parsed)  # settings that cannot apply to this document are refused now, not later
    meta = upload_fields(metadata)
    stored_name, stored = _stored(name, data, parsed, kb.mask_phi)
    doc = KnowledgeDocument(
        tenant_id=kb.tenant_id,
        knowledge_base_id=kb.id,
        name=name,
        file_format=parsed.file_format,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        char_count=parsed.char_count,
        meta=meta,
        created_by=principal.label,
        created_by_id=principal.user_id,
    )
    doc.object_key = f"{knowledge_prefix(kb.tenant_id, kb.id)}{doc.id}/{stored_name}"
    objects.put(doc.object_key, io.BytesIO(stored))
    try:
        session.add(doc)
        _audit(session, principal, "knowledge_document.upload", doc, size=len(data), masked=kb.mask_phi)
        session.flush()
        if kb.reembed_status in REEMBED_ACTIVE:
            inline = False  # the controller ingests it; the re-embed then picks it up before it switches
        if inline if inline is not None else parsed.char_count <= INLINE_CHARS:
            _ingest_inline(session, index, objects, kb, doc)
    except BaseException:
        objects.delete(doc.object_key)  # the caller's rollback removes the rows
        raise
    return doc


def _ingest_inline(
    session: Session, index: KnowledgeIndex, objects: ObjectStore, kb: KnowledgeBase, doc: KnowledgeDocument
) -> None:
    def progress(status: str, fraction: float) -> None:
        doc.status, doc.progress = status, fraction

    try:
        chunks = _prepare(index, objects, kb, doc, progress)
    except BaseException:
        index.vectors.delete(collection_of(kb), kb.tenant_id, {"document_id": doc.id})
        raise
    _finish(session, index, objects, kb, doc, chunks)


def _prepare(
    index: KnowledgeIndex, objects: ObjectStore, kb: KnowledgeBase, doc: KnowledgeDocument, progress: Progress
) -> list[KnowledgeChunk]:
    """Parse, chunk and embed ``doc`` (vectors go to the store now); the chunk rows to add when it is ready."""
    progress("parsing", 0.02)
    parsed = read_stored(objects, doc)
    progress("chunking", 0.05)
    chunked = _chunk(kb, parsed)
    base = {**doc.meta, "document_id": doc.id, "document_name": doc.name}
    parents = [
        KnowledgeChunk(
            tenant_id=kb.tenant_id,
            knowledge_base_id=kb.id,
            document_id=doc.id,
            ordinal=n,
            kind="parent",
            text=text,
            language=detect(text),
            start_char=start,
            end_char=end,
            meta=base,
        )
        for n, (text, (start, end)) in enumerate(zip(chunked.parents, chunked.parent_spans, strict=True))
    ]
    vocabulary = KbVocabulary.of(kb)
    rows = [
        KnowledgeChunk(
            id=new_id(),
            tenant_id=kb.tenant_id,
            knowledge_base_id=kb.id,
            document_id=doc.id,
            ordinal=n,
            parent_id=None if piece.parent is None else parents[piece.parent].id,
            text=piece.text,
            terms=index_terms(piece.text, vocabulary),
            language=detect(piece.text),
            start_char=piece.start,
            end_char=piece.end,
            meta=base,
        )
        for n, piece in enumerate(chunked.pieces)
    ]
    progress("embedding", 0.1)
    for start in range(0, len(rows), EMBED_BATCH):
        batch = rows[start : start + EMBED_BATCH]
        vectors = index.embed(kb.embedding_model, [row.text for row in batch])
        metadatas = [vector_metadata(row) for row in batch]
        index.vectors.upsert(collection_of(kb), kb.tenant_id, [r.id for r in batch], vectors, metadatas)
        progress("embedding", 0.1 + 0.9 * min(start + EMBED_BATCH, len(rows)) / max(len(rows), 1))
    return parents + rows


def vector_metadata(chunk: KnowledgeChunk) -> dict[str, Any]:
    """What a chunk's vector carries for filtering: the document's fields, the knowledge base and
    the chunk's language (``_lang``)."""
    language = chunk.language or detect(chunk.text)
    return {**chunk.meta, "knowledge_base_id": chunk.knowledge_base_id, LANGUAGE_KEY: language}


def _finish(
    session: Session,
    index: KnowledgeIndex,
    objects: ObjectStore,
    kb: KnowledgeBase,
    doc: KnowledgeDocument,
    chunks: list[KnowledgeChunk],
) -> None:
    """Store the chunks, mark the document ready, and drop the documents it replaces."""
    session.add_all(chunks)
    doc.status, doc.progress, doc.reason, doc.updated_at = "ready", 1.0, "", utcnow()
    doc.chunk_count = sum(1 for c in chunks if c.kind == "chunk")
    session.add(doc)
    older = session.exec(
        select(KnowledgeDocument).where(
            KnowledgeDocument.knowledge_base_id == kb.id,
            KnowledgeDocument.name == doc.name,
            KnowledgeDocument.id != doc.id,
            col(KnowledgeDocument.created_at) <= doc.created_at,
        )
    ).all()
    for old in older:
        _remove(session, index, objects, kb, old)
    kb.index_version += 1
    session.add(kb)
    _audit(session, None, "knowledge_document.ready", doc, chunks=doc.chunk_count, replaced=len(older))


def _remove(
    session: Session, index: KnowledgeIndex, objects: ObjectStore, kb: KnowledgeBase, doc: KnowledgeDocument
) -> None:
    session.exec(delete(KnowledgeChunk).where(KnowledgeChunk.document_id == doc.id))  # type: ignore[arg-type]
    session.delete(doc)
    session.flush()
    index.vectors.delete(collection_of(kb), kb.tenant_id, {"document_id": doc.id})
    if doc.object_key:
        objects.delete(doc.object_key)


def list_documents(session: Session, principal: Principal, knowledge_base_id: str) -> list[KnowledgeDocument]:
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.VIEW)
    kb = visible_knowledge_base(session, tenant_id, knowledge_base_id, principal)
    query = select(KnowledgeDocument).where(
        KnowledgeDocument.knowledge_base_id == kb.id, KnowledgeDocument.tenant_id == kb.tenant_id
    )
    return list(session.exec(query.order_by(col(KnowledgeDocument.created_at).desc())).all())


def list_chunks(
    session: Session, principal: Principal, knowledge_base_id: str, document_id: str, limit: int = 100
) -> list[KnowledgeChunk]:
    """The indexed chunks of one document, in order."""
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.VIEW)
    kb = visible_knowledge_base(session, tenant_id, knowledge_base_id, principal)
    query = select(KnowledgeChunk).where(
        KnowledgeChunk.knowledge_base_id == kb.id,
        KnowledgeChunk.document_id == document_id,
        KnowledgeChunk.kind == "chunk",
    )
    return list(session.exec(query.order_by(KnowledgeChunk.ordinal).limit(min(max(limit, 1), 1000))).all())


@dataclass(frozen=True)
class DocumentText:
    kb: KnowledgeBase
    doc: KnowledgeDocument
    text: str  # what chunk offsets point into (``document_text``)


def read_document(
    session: Session, objects: ObjectStore, principal: Principal, knowledge_base_id: str, document_id: str
) -> DocumentText:
    """A document's text as its chunks were cut from it: the stored file parsed again (so chunk
    offsets index it exactly). NOT_FOUND outside the tenant or the knowledge base's visibility,
    and for a document whose file is no longer kept (a failed import)."""
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.VIEW)
    kb = visible_knowledge_base(session, tenant_id, knowledge_base_id, principal)
    doc = session.get(KnowledgeDocument, document_id)
    if doc is None or doc.knowledge_base_id != kb.id or doc.tenant_id != kb.tenant_id:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such document in this knowledge base.", "Reload the documents.")
    if not doc.object_key:
        raise MedAIError(
            ErrorCode.NOT_FOUND,
            f"'{doc.name}' has no stored text (its import failed).",
            "Upload the document again.",
        )
    return DocumentText(kb, doc, document_text(read_stored(objects, doc)))


def delete_document(
    session: Session,
    index: KnowledgeIndex,
    objects: ObjectStore,
    principal: Principal,
    knowledge_base_id: str,
    document_id: str,
) -> None:
    """Remove the document with its chunks, vectors and file."""
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.DELETE)
    kb = visible_knowledge_base(session, tenant_id, knowledge_base_id, principal)
    doc = session.get(KnowledgeDocument, document_id)
    if doc is None or doc.knowledge_base_id != kb.id or doc.tenant_id != kb.tenant_id:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such document in this knowledge base.", "Reload the documents.")
    _audit(session, principal, "knowledge_document.delete", doc)
    _remove(session, index, objects, kb, doc)
    kb.index_version += 1
    session.add(kb)


# the controller's part -------------------------------------------------------------------------


def _claim(open_session: OpenSession) -> str | None:
    """Take the oldest queued document (an atomic status change, so two processes never share one)."""
    with open_session() as session:
        stale = utcnow() - STALE_AFTER
        session.exec(
            update(KnowledgeDocument)
            .where(col(KnowledgeDocument.status).in_(IN_PROGRESS), col(KnowledgeDocument.updated_at) < stale)
            .values(status="queued", progress=0.0)
        )
    for doc_id in _queued(open_session):
        with open_session() as session:
            taken = session.exec(
                update(KnowledgeDocument)
                .where(KnowledgeDocument.id == doc_id, KnowledgeDocument.status == "queued")
                .values(status="parsing", progress=0.0, updated_at=utcnow())
            )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return doc_id
    return None


def _queued(open_session: OpenSession) -> Iterator[str]:
    with open_session() as session:
        ids = session.exec(
            select(KnowledgeDocument.id)
            .where(KnowledgeDocument.status == "queued")
            .order_by(KnowledgeDocument.created_at)
            .limit(5)
        ).all()
    yield from ids


def _progress(open_session: OpenSession, doc_id: str) -> Progress:
    def report(status: str, fraction: float) -> None:
        with open_session() as session:
            session.exec(
                update(KnowledgeDocument)
                .where(KnowledgeDocument.id == doc_id)
                .values(status=status, progress=round(fraction, 3), updated_at=utcnow())
            )

    return report


def _fail(open_session: OpenSession, index: KnowledgeIndex, objects: ObjectStore, doc_id: str, reason: str) -> None:
    """Leave the row with the reason and nothing else: no chunks, vectors or file."""
    with open_session() as session:
        doc = session.get(KnowledgeDocument, doc_id)
        if doc is None:
            return
        kb = session.get(KnowledgeBase, doc.knowledge_base_id)
        if kb is not None:
            index.vectors.delete(collection_of(kb), doc.tenant_id, {"document_id": doc.id})
        if doc.object_key:
            objects.delete(doc.object_key)
        doc.status, doc.reason, doc.object_key, doc.updated_at = "failed", reason[:1000], "", utcnow()
        session.add(doc)
        _audit(session, None, "knowledge_document.failed", doc, reason=reason[:200])


def ingest_next(open_session: OpenSession, index: KnowledgeIndex, objects: ObjectStore) -> str | None:
    """Ingest one queued document, committing each step; returns its id, or None when none waits."""
    doc_id = _claim(open_session)
    if doc_id is None:
        return None
    try:
        with open_session() as session:
            doc = session.get(KnowledgeDocument, doc_id)
            kb = session.get(KnowledgeBase, doc.knowledge_base_id) if doc else None
            if doc is None or kb is None:
                return doc_id
            session.expunge_all()
        chunks = _prepare(index, objects, kb, doc, _progress(open_session, doc_id))
        with open_session() as session:
            current = session.get(KnowledgeDocument, doc_id)
            now = session.get(KnowledgeBase, kb.id)
            if current is None or now is None:  # deleted while it was being ingested
                index.vectors.delete(collection_of(kb), doc.tenant_id, {"document_id": doc_id})
                return doc_id
            if collection_of(now) != collection_of(kb):  # re-embedded meanwhile: the vectors went to the old index
                index.vectors.delete(collection_of(kb), doc.tenant_id, {"document_id": doc_id})
                current.status, current.progress, current.updated_at = "queued", 0.0, utcnow()
                session.add(current)
                return doc_id
            _finish(session, index, objects, now, current, chunks)
    except MedAIError as error:
        _fail(open_session, index, objects, doc_id, f"{error.message} {error.remedy}")
    except Exception as exc:  # logged with its stack; the user sees the kind of failure
        logger.exception("ingesting knowledge document %s failed", doc_id)
        _fail(open_session, index, objects, doc_id, f"Ingestion failed ({type(exc).__name__}). Upload it again.")
    return doc_id


def reconcile(open_session: OpenSession, index: KnowledgeIndex, objects: ObjectStore, limit: int = 3) -> int:
    """The controller's pass: ingest up to ``limit`` queued documents; returns how many."""
    done = 0
    while done < limit and ingest_next(open_session, index, objects) is not None:
        done += 1
    return done


def start_ingestion(open_session: OpenSession, index: KnowledgeIndex, objects: ObjectStore) -> bool:
    """The controller's reconciler: ingest queued documents in a worker thread, so a long
    embedding run never holds up the other reconcilers. Returns whether a worker was started."""
    with index.lock:
        if index.worker is not None and index.worker.is_alive():
            return False
        with open_session() as session:
            waiting = session.exec(
                select(KnowledgeDocument.id).where(col(KnowledgeDocument.status).in_(("queued", *IN_PROGRESS)))
            ).first()
        if waiting is None:
            return False

        def work() -> None:
            while reconcile(open_session, index, objects):
                pass

        index.worker = threading.Thread(target=work, name="medai-knowledge-ingest", daemon=True)
        index.worker.start()
        return True
