"""Knowledge bases: create, import documents, retrieve (vector + BM25, calibrated; see search.py), recall tests.

Contract for other areas (agents call this exactly so)::

    from backend.services.knowledge.bases import KnowledgeIndex, RetrievedChunk, list_knowledge_bases, retrieve

    index: KnowledgeIndex = runtime.knowledge      # built once per process in backend/runtime.py
    chunks: list[RetrievedChunk] = retrieve(
        session,                 # sqlmodel Session (runtime.session())
        index,                   # KnowledgeIndex: vectors (Chroma), cache + embedder, BM25 cache
        principal,               # Principal; needs Area.KNOWLEDGE / Action.VIEW
        knowledge_base_id,       # str
        query,                   # str
        top_k=None,              # int | None: None uses the knowledge base's retrieval settings
        threshold=None,          # float | None: applies to the (calibrated) score, None uses the KB's setting
        filters=None,            # dict[str, str] | None: equality on document metadata, e.g. {"document_id": ...}
        mode=None,               # "hybrid" | "vector" | "text" | None (None = the KB's setting, default hybrid)
    )

    kbs = list_knowledge_bases(session, principal, tenant_id=None)  # list[KnowledgeBase]: .id, .name, ...
    # tenant_id None = the principal's tenant; only knowledge bases visible to the principal

RetrievedChunk is a frozen dataclass: chunk_id, document_id, document_name, text, score (calibrated, 0..1;
what the threshold applies to), vector_score and text_score (each engine's calibrated score, None when
that engine did not run), rank (1-based), expanded_terms, language, start_char / end_char (the chunk's
place in its document's text, None when unknown) and rerank_score (None unless the rerank stage ran).
Errors are MedAIError: NOT_FOUND for a knowledge base outside the principal's tenant or visibility,
FORBIDDEN without knowledge view rights, DATA_INVALID (422) for a query that is empty, has no letters
or digits, or is longer than knowledge_search.MAX_QUERY_CHARS (1000) characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlmodel import Session, col, delete, select

from backend.adapters.embeddings import DEFAULT_EMBEDDING_MODEL
from backend.adapters.objectstore import ObjectStore, tenant_prefix
from backend.errors import ErrorCode, MedAIError
from backend.models import KnowledgeBase, KnowledgeChunk, KnowledgeDocument, Membership, RecallQuery, RecallRun
from backend.models.base import utcnow
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area
from backend.services.knowledge.chunking import MODES as CHUNK_MODES
from backend.services.knowledge.index import KnowledgeIndex, collection_name, collection_of
from backend.services.knowledge.search import MODES as RETRIEVAL_MODES
from backend.services.knowledge.search import RetrievedChunk, search

__all__ = ["KnowledgeBaseSpec", "KnowledgeIndex", "RetrievedChunk", "list_knowledge_bases", "retrieve"]

VISIBILITIES = ("only_me", "members", "tenant")
REEMBED_ACTIVE = ("queued", "running")  # a re-embed with another model is waiting or filling the next generation
_ADMIN_ROLES = frozenset({"tenant_owner", "tenant_admin"})


@dataclass(frozen=True)
class KnowledgeBaseSpec:
    """What a person sets on a knowledge base; chunk settings apply to documents imported afterwards."""

    name: str
    description: str = ""
    embedding_model: str = DEFAULT_EMBEDDING_MODEL  # multilingual-e5-small
    chunk_mode: str = "general"
    chunk_size: int = 500
    chunk_overlap: int = 50
    parent_chunk_size: int = 2000
    mask_phi: bool = False
    retrieval_mode: str = "hybrid"
    top_k: int = 5
    score_threshold: float = 0.0
    visibility: str = "tenant"
    member_ids: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # the languages it holds, of LANGUAGES; () = detect them from its chunks
    vector_weight: float = 0.5  # the vector side's weight in hybrid fusion, 0..1 (the text side weighs the rest)
    rerank: bool = False  # rerank the fused hits (needs a rerank server: MEDAI_RERANK_URL)


LANGUAGES = ("zh", "en")  # what a knowledge base may say it holds


def _invalid(message: str, remedy: str) -> MedAIError:
    return MedAIError(ErrorCode.DATA_INVALID, message, remedy)


def _check_spec(session: Session, tenant_id: str, spec: KnowledgeBaseSpec) -> None:
    if not spec.name.strip() or len(spec.name) > 128:
        raise _invalid("A knowledge base needs a name of 1 to 128 characters.", "Type a shorter name.")
    if spec.chunk_mode not in CHUNK_MODES:
        raise _invalid(f"Unknown chunk mode '{spec.chunk_mode}'.", "Use general, qa or parent_child.")
    if not 50 <= spec.chunk_size <= 8000 or not 0 <= spec.chunk_overlap < spec.chunk_size:
        raise _invalid("Chunk size must be 50 to 8000 characters, overlap 0 to below the size.", "Adjust them.")
    if spec.chunk_mode == "parent_child" and not spec.chunk_size < spec.parent_chunk_size <= 20000:
        raise _invalid("A parent chunk must be larger than a child chunk (at most 20000).", "Raise the parent size.")
    if spec.retrieval_mode not in RETRIEVAL_MODES:
        raise _invalid(f"Unknown retrieval mode '{spec.retrieval_mode}'.", "Use hybrid, vector or text.")
    if not 1 <= spec.top_k <= 50 or not 0.0 <= spec.score_threshold <= 1.0:
        raise _invalid("top_k must be 1 to 50 and the score threshold 0 to 1.", "Adjust the retrieval settings.")
    unknown = [lang for lang in spec.languages if lang not in LANGUAGES]
    if unknown or len(set(spec.languages)) != len(spec.languages):
        raise _invalid(
            f"Languages must be distinct, of {', '.join(LANGUAGES)}; got {', '.join(spec.languages)}.",
            "Choose zh, en or both, or none to detect them from the documents.",
        )
    if not 0.0 <= spec.vector_weight <= 1.0:
        raise _invalid(
            f"The vector weight must be 0 to 1, not {spec.vector_weight:g}.",
            "Use 0 for full text only, 1 for vectors only, or a value between.",
        )
    if spec.visibility not in VISIBILITIES:
        raise _invalid(f"Unknown visibility '{spec.visibility}'.", "Use only_me, members or tenant.")
    if spec.visibility == "members" and not spec.member_ids:
        raise _invalid("Visibility 'members' needs at least one chosen member.", "Choose members, or pick only_me.")
    if spec.member_ids:
        found = session.exec(
            select(Membership.user_id).where(
                Membership.tenant_id == tenant_id, col(Membership.user_id).in_(spec.member_ids)
            )
        ).all()
        if len(set(found)) != len(set(spec.member_ids)):
            raise MedAIError(ErrorCode.NOT_FOUND, "Some chosen members are not in this tenant.", "Pick them again.")


def _check_rerank(index: KnowledgeIndex, spec: KnowledgeBaseSpec, kb: KnowledgeBase | None = None) -> None:
    """Turning rerank on needs a rerank server; one already on stays on (searches skip it while none is set)."""
    if spec.rerank and index.reranker is None and not (kb is not None and kb.rerank):
        raise _invalid(
            "Rerank needs a rerank server, and none is configured.",
            "Ask the platform admin to set MEDAI_RERANK_URL (a TEI-style /rerank endpoint), or leave rerank off.",
        )


def _languages(spec: KnowledgeBaseSpec) -> list[str]:
    """The spec's languages in the order of LANGUAGES, as the knowledge base stores them."""
    return [lang for lang in LANGUAGES if lang in spec.languages]


def _tenant(tenant_id: str | None) -> str:
    if tenant_id is None:
        raise _invalid("Choose a tenant to work in first.", "Pick a tenant in the header.")
    return tenant_id


def may_see(kb: KnowledgeBase, viewer: Principal) -> bool:
    """Visibility inside the tenant: everyone, chosen members, or only the owner (admins always)."""
    if kb.visibility == "tenant" or viewer.is_platform_admin or viewer.role in _ADMIN_ROLES:
        return True
    if viewer.user_id == kb.owner_id:
        return True
    return kb.visibility == "members" and viewer.user_id in kb.member_ids


def visible_knowledge_base(session: Session, tenant_id: str | None, kb_id: str, viewer: Principal) -> KnowledgeBase:
    """The knowledge base when it is in the tenant and visible to ``viewer``; NOT_FOUND otherwise."""
    kb = session.get(KnowledgeBase, kb_id)
    if kb is None or kb.tenant_id != tenant_id or not may_see(kb, viewer):
        raise MedAIError(ErrorCode.NOT_FOUND, "No such knowledge base in this tenant.", "Reload the knowledge bases.")
    return kb


def _audit(session: Session, principal: Principal, action: str, target_id: str, **detail: object) -> None:
    audit.record_by(session, principal, action, "knowledge_base", target_id, **detail)


def create_knowledge_base(
    session: Session, index: KnowledgeIndex, principal: Principal, spec: KnowledgeBaseSpec
) -> KnowledgeBase:
    tenant_id = _tenant(authorize(session, principal, Area.KNOWLEDGE, Action.CREATE))
    _check_spec(session, tenant_id, spec)
    _check_rerank(index, spec)
    model = index.check_model(spec.embedding_model)
    name = spec.name.strip()
    if session.exec(
        select(KnowledgeBase.id).where(KnowledgeBase.tenant_id == tenant_id, KnowledgeBase.name == name)
    ).first():
        raise MedAIError(ErrorCode.CONFLICT, f"A knowledge base named '{name}' exists.", "Choose another name.")
    values = {f.name: getattr(spec, f.name) for f in fields(spec)}
    kb = KnowledgeBase(
        **{
            **values,
            "name": name,
            "embedding_model": model,
            "member_ids": list(spec.member_ids),
            "languages": _languages(spec),
        },
        tenant_id=tenant_id,
        owner_id=principal.user_id,
        created_by=principal.label,
    )
    session.add(kb)
    _audit(session, principal, "knowledge_base.create", kb.id, name=name)
    return kb


def update_knowledge_base(
    session: Session, index: KnowledgeIndex, principal: Principal, knowledge_base_id: str, spec: KnowledgeBaseSpec
) -> KnowledgeBase:
    """Change settings; retrieval settings apply at once, chunk settings to later imports. An
    empty embedding model keeps the current one; the model can only change here while the
    knowledge base holds no documents (otherwise it is re-embedded: knowledge_reembed)."""
    tenant_id = _tenant(authorize(session, principal, Area.KNOWLEDGE, Action.UPDATE))
    kb = visible_knowledge_base(session, tenant_id, knowledge_base_id, principal)
    _check_spec(session, tenant_id, spec)
    _check_rerank(index, spec, kb)
    model = index.check_model(spec.embedding_model) if spec.embedding_model else kb.embedding_model
    has_documents = session.exec(
        select(KnowledgeDocument.id).where(KnowledgeDocument.knowledge_base_id == kb.id)
    ).first()
    if model != kb.embedding_model and (has_documents or kb.reembed_status in REEMBED_ACTIVE):
        raise MedAIError(
            ErrorCode.CONFLICT,
            "The embedding model cannot change while documents are indexed with the current one.",
            "Re-embed the knowledge base with the other model (Re-embed with… on its page, or "
            "POST /api/knowledge-bases/{id}/reembed); the current index answers until the new one is ready.",
        )
    clash = session.exec(
        select(KnowledgeBase.id).where(
            KnowledgeBase.tenant_id == tenant_id, KnowledgeBase.name == spec.name.strip(), KnowledgeBase.id != kb.id
        )
    ).first()
    if clash:
        raise MedAIError(ErrorCode.CONFLICT, f"A knowledge base named '{spec.name}' exists.", "Choose another name.")
    for f in fields(spec):
        setattr(kb, f.name, getattr(spec, f.name))
    kb.name, kb.embedding_model, kb.member_ids = spec.name.strip(), model, list(spec.member_ids)
    kb.languages = _languages(spec)
    kb.index_version += 1  # retrieval settings are read per query; the bump only refreshes caches
    kb.updated_at = utcnow()
    session.add(kb)
    _audit(session, principal, "knowledge_base.update", kb.id, name=kb.name)
    return kb


def spec_of(kb: KnowledgeBase, **changes: object) -> KnowledgeBaseSpec:
    """The knowledge base's current settings as a spec, with ``changes`` applied."""
    values = {f.name: getattr(kb, f.name) for f in fields(KnowledgeBaseSpec)}
    values["member_ids"], values["languages"] = tuple(kb.member_ids), tuple(kb.languages)
    return KnowledgeBaseSpec(**{**values, **changes})  # type: ignore[arg-type]


def update_retrieval_settings(
    session: Session,
    index: KnowledgeIndex,
    principal: Principal,
    knowledge_base_id: str,
    retrieval_mode: str | None = None,
    top_k: int | None = None,
    score_threshold: float | None = None,
    languages: Sequence[str] | None = None,
    vector_weight: float | None = None,
    rerank: bool | None = None,
) -> KnowledgeBase:
    """Change only how the knowledge base is searched; every other setting stays as it is, and so
    does each of these left None. ``languages``: of LANGUAGES, empty = detect; ``vector_weight``:
    0..1; ``rerank``: refused (DATA_INVALID) while no rerank server is configured."""
    kb = get_knowledge_base(session, principal, knowledge_base_id)
    given = {
        "retrieval_mode": retrieval_mode,
        "top_k": top_k,
        "score_threshold": score_threshold,
        "languages": None if languages is None else tuple(languages),
        "vector_weight": vector_weight,
        "rerank": rerank,
    }
    spec = spec_of(kb, **{key: value for key, value in given.items() if value is not None})
    return update_knowledge_base(session, index, principal, knowledge_base_id, spec)


def delete_knowledge_base(
    session: Session, index: KnowledgeIndex, objects: ObjectStore, principal: Principal, knowledge_base_id: str
) -> None:
    """Remove the knowledge base with its documents, chunks, vectors, files and recall history."""
    tenant_id = _tenant(authorize(session, principal, Area.KNOWLEDGE, Action.DELETE))
    kb = visible_knowledge_base(session, tenant_id, knowledge_base_id, principal)
    for model in (KnowledgeChunk, RecallRun, RecallQuery, KnowledgeDocument):
        session.exec(delete(model).where(model.knowledge_base_id == kb.id))  # type: ignore[attr-defined]
    session.delete(kb)
    _audit(session, principal, "knowledge_base.delete", kb.id, name=kb.name)
    session.flush()
    index.vectors.drop(collection_of(kb), tenant_id)
    index.vectors.drop(collection_name(kb.id, kb.collection_generation + 1), tenant_id)  # a re-embed's, if any
    objects.delete_prefix(knowledge_prefix(tenant_id, kb.id))
    index.text_indexes.forget(kb.id)


def knowledge_prefix(tenant_id: str, knowledge_base_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}knowledge/{knowledge_base_id}/"


def list_knowledge_bases(session: Session, principal: Principal, tenant_id: str | None = None) -> list[KnowledgeBase]:
    """The knowledge bases of the tenant (default: the principal's) that the principal may see, by name."""
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.VIEW, tenant_id)
    rows = session.exec(
        select(KnowledgeBase).where(KnowledgeBase.tenant_id == tenant_id).order_by(KnowledgeBase.name)
    ).all()
    return [kb for kb in rows if may_see(kb, principal)]


def get_knowledge_base(session: Session, principal: Principal, knowledge_base_id: str) -> KnowledgeBase:
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.VIEW)
    return visible_knowledge_base(session, tenant_id, knowledge_base_id, principal)


def retrieve(
    session: Session,
    index: KnowledgeIndex,
    principal: Principal,
    knowledge_base_id: str,
    query: str,
    top_k: int | None = None,
    threshold: float | None = None,
    filters: dict[str, str] | None = None,
    mode: str | None = None,
) -> list[RetrievedChunk]:
    """The best chunks for ``query``, ranked (see the module docstring for the contract)."""
    tenant_id = authorize(session, principal, Area.KNOWLEDGE, Action.VIEW)
    kb = visible_knowledge_base(session, tenant_id, knowledge_base_id, principal)
    return search(session, index, kb, query, top_k, threshold, filters, mode)
