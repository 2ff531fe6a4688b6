"""What the knowledge pages read, as dataclasses: the list of knowledge bases with their document
counts and whom "chosen members" may name, and one knowledge base with its documents, saved
recall queries and evaluation runs; plus the embedding models the create form offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from backend.adapters.embeddings import BUILTIN_EMBEDDING_MODELS, DEFAULT_EMBEDDING_MODEL
from backend.models import KnowledgeBase, KnowledgeDocument
from backend.services.identity import tenancy
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.knowledge import bases, documents, recall
from backend.services.knowledge.index import KnowledgeIndex

EMBEDDING_MODELS: tuple[str, ...] = tuple(BUILTIN_EMBEDDING_MODELS)  # the built-in ones, the default first
DEFAULT_MODEL = DEFAULT_EMBEDDING_MODEL


@dataclass(frozen=True)
class KnowledgeBaseView:
    id: str
    name: str
    description: str
    embedding_model: str
    chunk_mode: str
    chunk_size: int
    chunk_overlap: int
    parent_chunk_size: int
    mask_phi: bool
    retrieval_mode: str
    top_k: int
    score_threshold: float
    visibility: str
    member_ids: tuple[str, ...]
    created_by: str
    reembed_status: str
    reembed_model: str
    reembed_progress: float
    reembed_reason: str
    documents: int = 0  # how many documents it holds
    languages: tuple[str, ...] = ()  # what it holds (zh, en); () = detected from its chunks
    vector_weight: float = 0.5  # the vector side's weight in hybrid fusion
    rerank: bool = False
    vocabulary_terms: tuple[str, ...] = ()  # its own dictionary words
    vocabulary_synonyms: tuple[tuple[str, ...], ...] = ()  # its own synonym groups
    text_index_status: str = ""  # the full-text re-index after a vocabulary change: "" | queued | running | ...
    text_index_progress: float = 0.0
    text_index_reason: str = ""

    @classmethod
    def of(cls, kb: KnowledgeBase, documents: int = 0) -> KnowledgeBaseView:
        return cls(
            id=kb.id,
            name=kb.name,
            description=kb.description,
            embedding_model=kb.embedding_model,
            chunk_mode=kb.chunk_mode,
            chunk_size=kb.chunk_size,
            chunk_overlap=kb.chunk_overlap,
            parent_chunk_size=kb.parent_chunk_size,
            mask_phi=kb.mask_phi,
            retrieval_mode=kb.retrieval_mode,
            top_k=kb.top_k,
            score_threshold=kb.score_threshold,
            visibility=kb.visibility,
            member_ids=tuple(kb.member_ids),
            created_by=kb.created_by,
            reembed_status=kb.reembed_status,
            reembed_model=kb.reembed_model,
            reembed_progress=kb.reembed_progress,
            reembed_reason=kb.reembed_reason,
            documents=documents,
            languages=tuple(kb.languages),
            vector_weight=kb.vector_weight,
            rerank=kb.rerank,
            vocabulary_terms=tuple(kb.vocabulary_terms),
            vocabulary_synonyms=tuple(tuple(group) for group in kb.vocabulary_synonyms),
            text_index_status=kb.text_index_status,
            text_index_progress=kb.text_index_progress,
            text_index_reason=kb.text_index_reason,
        )


@dataclass(frozen=True)
class MemberChoice:
    user_id: str
    name: str
    email: str


@dataclass
class KnowledgeListing:
    may_view: bool = False
    may_create: bool = False
    bases: list[KnowledgeBaseView] = field(default_factory=list)
    members: list[MemberChoice] = field(default_factory=list)  # whom "chosen members" may name


def knowledge_listing(session: Session, principal: Principal) -> KnowledgeListing:
    """The knowledge bases the principal may see, with their document counts (one query for all),
    and, for one who may create, the tenant's other active members."""
    found = KnowledgeListing(
        may(session, principal, Area.KNOWLEDGE, Action.VIEW), may(session, principal, Area.KNOWLEDGE, Action.CREATE)
    )
    if found.may_view:
        kbs = bases.list_knowledge_bases(session, principal)
        counts: dict[str, int] = {}
        if kbs:
            rows = session.exec(
                select(KnowledgeDocument.knowledge_base_id, func.count())
                .where(
                    col(KnowledgeDocument.knowledge_base_id).in_([kb.id for kb in kbs]),
                    col(KnowledgeDocument.tenant_id).in_({kb.tenant_id for kb in kbs}),
                )
                .group_by(KnowledgeDocument.knowledge_base_id)
            ).all()
            counts = {kb_id: int(n) for kb_id, n in rows}
        found.bases = [KnowledgeBaseView.of(kb, counts.get(kb.id, 0)) for kb in kbs]
    if found.may_create and principal.tenant_id and may(session, principal, Area.MEMBERS, Action.VIEW):
        found.members = [
            MemberChoice(m.user_id, m.display_name or m.email, m.email)
            for m in tenancy.list_members(session, principal, principal.tenant_id)
            if m.status == "active" and m.user_id != principal.user_id  # the owner always sees it
        ]
    return found


@dataclass(frozen=True)
class DocumentView:
    id: str
    name: str
    file_format: str
    status: str
    reason: str
    progress: float
    chunk_count: int
    size_bytes: int


@dataclass(frozen=True)
class RecallQueryView:
    id: str
    query: str
    expected_documents: tuple[str, ...]


@dataclass(frozen=True)
class RecallRunView:
    k: int
    hit_rate: float
    mrr: float
    queries: int
    settings: dict[str, Any]
    created_at: datetime


@dataclass
class KnowledgeBaseDetail:
    kb: KnowledgeBaseView
    may_edit: bool = False
    documents: list[DocumentView] = field(default_factory=list)  # newest first
    queries: list[RecallQueryView] = field(default_factory=list)
    runs: list[RecallRunView] = field(default_factory=list)  # oldest first
    rerank_available: bool = False  # a rerank server is configured (MEDAI_RERANK_URL)


def knowledge_base_detail(
    session: Session, principal: Principal, knowledge_base_id: str, index: KnowledgeIndex | None = None
) -> KnowledgeBaseDetail:
    """One knowledge base as its page shows it: settings, documents, recall queries and runs; with
    ``index``, whether rerank can be turned on."""
    kb = bases.get_knowledge_base(session, principal, knowledge_base_id)
    docs = documents.list_documents(session, principal, knowledge_base_id)
    return KnowledgeBaseDetail(
        kb=KnowledgeBaseView.of(kb, len(docs)),
        may_edit=may(session, principal, Area.KNOWLEDGE, Action.UPDATE),
        rerank_available=index is not None and index.reranker is not None,
        documents=[
            DocumentView(d.id, d.name, d.file_format, d.status, d.reason, d.progress, d.chunk_count, d.size_bytes)
            for d in docs
        ],
        queries=[
            RecallQueryView(q.id, q.query, tuple(q.expected_documents))
            for q in recall.list_recall_queries(session, principal, knowledge_base_id)
        ],
        runs=[
            RecallRunView(r.k, r.hit_rate, r.mrr, r.queries, dict(r.settings), r.created_at)
            for r in recall.list_recall_runs(session, principal, knowledge_base_id)
        ],
    )


# the document page (citations open it at their passage) ------------------------------------------

DOCUMENT_PAGE_CHARS = 200_000  # a longer document shows this much of its text, around the passage


@dataclass(frozen=True)
class DocumentPage:
    """A document's text as the document page shows it, cut around the cited passage:
    ``before + passage + after`` is the text from ``shown_from`` (all of it when short enough)."""

    knowledge_base_id: str
    knowledge_base_name: str
    document_id: str
    name: str
    file_format: str
    status: str
    chars: int  # of the whole text
    before: str
    passage: str  # "" when no passage was asked for or its offsets do not fit this text
    after: str
    shown_from: int
    clipped_before: bool
    clipped_after: bool


def document_page(
    session: Session,
    objects: documents.ObjectStore,
    principal: Principal,
    knowledge_base_id: str,
    document_id: str,
    start: int | None = None,
    end: int | None = None,
    limit: int = DOCUMENT_PAGE_CHARS,
) -> DocumentPage:
    """The document's text (``documents.read_document``: tenant, visibility and document checked)
    with the passage ``[start, end)`` of it marked, as chunk offsets give it."""
    found = documents.read_document(session, objects, principal, knowledge_base_id, document_id)
    text = found.text
    low, high = (start, end) if start is not None and end is not None else (0, 0)
    fits = 0 <= low < high <= len(text)
    low, high = (low, high) if fits else (0, 0)
    shown_from = 0
    if len(text) > limit and fits:  # a window of ``limit`` characters, the passage in its middle
        shown_from = min(low, max(0, min((low + high) // 2 - limit // 2, len(text) - limit)))
    shown_to = min(len(text), max(shown_from + limit, high))
    doc = found.doc
    return DocumentPage(
        knowledge_base_id=found.kb.id,
        knowledge_base_name=found.kb.name,
        document_id=doc.id,
        name=doc.name,
        file_format=doc.file_format,
        status=doc.status,
        chars=len(text),
        before=text[shown_from:low] if fits else text[shown_from:shown_to],
        passage=text[low:high],
        after=text[high:shown_to] if fits else "",
        shown_from=shown_from,
        clipped_before=shown_from > 0,
        clipped_after=shown_to < len(text),
    )
