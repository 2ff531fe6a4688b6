"""Knowledge bases, their documents and chunks, and recall tests (source §2.3.2 knowledge
management: import medical documents, chunk, embed, retrieve, test recall)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models.base import utcnow
from backend.models.identity import new_id


class KnowledgeBase(SQLModel, table=True):
    __tablename__ = "knowledge_base"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_knowledge_base_tenant_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    name: str = Field(max_length=128)
    description: str = Field(default="", max_length=1000)
    embedding_model: str = Field(default="multilingual-e5-small", max_length=255)
    chunk_mode: str = Field(default="general", max_length=16)  # general | qa | parent_child
    chunk_size: int = Field(default=500)  # characters
    chunk_overlap: int = Field(default=50)
    parent_chunk_size: int = Field(default=2000)  # parent_child: the context a matched child brings back
    mask_phi: bool = Field(default=False)
    retrieval_mode: str = Field(default="hybrid", max_length=16)  # hybrid | vector | text
    top_k: int = Field(default=5)
    score_threshold: float = Field(default=0.0)
    visibility: str = Field(default="tenant", max_length=16)  # only_me | members | tenant
    member_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # for "members"
    owner_id: str = Field(max_length=32)
    index_version: int = Field(default=0)  # bumped when chunks change; cached text indexes compare it
    collection_generation: int = Field(default=0)  # which Chroma collection answers: kb-<id>, kb-<id>-g<n>
    reembed_model: str = Field(default="", max_length=255)  # the model a re-embed fills the next generation with
    reembed_status: str = Field(default="", max_length=16)  # "" | queued | running | failed | done
    reembed_progress: float = Field(default=0.0)  # 0..1
    reembed_reason: str = Field(default="", max_length=1000)  # why the last re-embed failed
    reembed_by: str = Field(default="", max_length=254)
    reembed_updated_at: datetime | None = Field(default=None)
    # retrieval quality (issue 21): which languages it holds ([] = as detected from its chunks), how much
    # the vector side weighs in hybrid fusion (the text side weighs the rest), and the rerank stage
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    vector_weight: float = Field(default=0.5)  # calibration.DEFAULT_VECTOR_WEIGHT
    rerank: bool = Field(default=False)
    # the knowledge base's own vocabulary on top of the platform's: dictionary words and synonym groups
    vocabulary_terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    vocabulary_synonyms: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    text_index_status: str = Field(default="", max_length=16)  # "" | queued | running | failed | done
    text_index_progress: float = Field(default=0.0)  # 0..1
    text_index_reason: str = Field(default="", max_length=1000)
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class KnowledgeDocument(SQLModel, table=True):
    __tablename__ = "knowledge_document"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    knowledge_base_id: str = Field(foreign_key="knowledge_base.id", index=True, max_length=32)
    name: str = Field(max_length=255)
    file_format: str = Field(max_length=16)  # txt md pdf docx html csv jsonl
    size_bytes: int = Field(default=0)
    sha256: str = Field(max_length=64)
    object_key: str = Field(default="", max_length=1024)
    status: str = Field(default="queued", max_length=16, index=True)  # queued parsing chunking embedding ready failed
    reason: str = Field(default="", max_length=1000)
    progress: float = Field(default=0.0)  # 0..1
    chunk_count: int = Field(default=0)
    char_count: int = Field(default=0)
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # filterable
    created_by: str = Field(max_length=254)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class KnowledgeChunk(SQLModel, table=True):
    __tablename__ = "knowledge_chunk"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    knowledge_base_id: str = Field(foreign_key="knowledge_base.id", index=True, max_length=32)
    document_id: str = Field(foreign_key="knowledge_document.id", index=True, max_length=32)
    ordinal: int
    kind: str = Field(default="chunk", max_length=8)  # chunk (indexed) | parent (context only)
    parent_id: str | None = Field(default=None, max_length=32)
    text: str = Field(sa_column=Column(Text, nullable=False))
    terms: str = Field(default="", sa_column=Column(Text, nullable=False))  # tokens for BM25, space-joined
    language: str = Field(default="", max_length=8)  # zh | en | other (knowledge/languages.detect)
    start_char: int | None = Field(default=None)  # where the text sits in its document's parsed text
    end_char: int | None = Field(default=None)  # (None: not known yet; filled in by a background pass)
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RecallQuery(SQLModel, table=True):
    """A saved test query and the documents (by name, stable across re-imports) it should find."""

    __tablename__ = "knowledge_recall_query"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    knowledge_base_id: str = Field(foreign_key="knowledge_base.id", index=True, max_length=32)
    query: str = Field(max_length=1000)
    expected_documents: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)


class RecallRun(SQLModel, table=True):
    """One evaluation of every saved query: hit@k and MRR with the settings it ran under."""

    __tablename__ = "knowledge_recall_run"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    knowledge_base_id: str = Field(foreign_key="knowledge_base.id", index=True, max_length=32)
    k: int
    queries: int
    hit_rate: float
    mrr: float
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    details: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow, index=True)
