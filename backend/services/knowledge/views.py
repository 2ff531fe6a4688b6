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


def knowledge_base_detail(session: Session, principal: Principal, knowledge_base_id: str) -> KnowledgeBaseDetail:
    """One knowledge base as its page shows it: settings, documents, recall queries and runs."""
    kb = bases.get_knowledge_base(session, principal, knowledge_base_id)
    docs = documents.list_documents(session, principal, knowledge_base_id)
    return KnowledgeBaseDetail(
        kb=KnowledgeBaseView.of(kb, len(docs)),
        may_edit=may(session, principal, Area.KNOWLEDGE, Action.UPDATE),
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
