"""/api/knowledge-bases: knowledge bases, their documents (upload, list, delete, chunks),
retrieval, recall tests (saved queries, evaluation runs), re-embedding with another
embedding model (followed through the knowledge base's ``reembed_*`` fields), retrieval
settings, and the knowledge base's own vocabulary (its full-text re-index followed through
``text_index_*``). Keys need knowledge:read to read and retrieve, knowledge:write to change
anything."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from backend.adapters.embeddings import DEFAULT_EMBEDDING_MODEL
from backend.api.auth import CurrentPrincipal, RuntimeDep
from backend.api.dependencies import SessionDep
from backend.errors import ErrorCode, MedAIError
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import recall as knowledge_recall
from backend.services.knowledge import reembed as knowledge_reembed
from backend.services.knowledge import vocabulary as knowledge_vocabulary
from backend.services.knowledge.parsing import MAX_BYTES
from backend.services.knowledge.search import MAX_QUERY_CHARS

router = APIRouter(prefix="/api", tags=["knowledge"])


class KnowledgeBaseIn(BaseModel):
    name: str
    description: str = ""
    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="multilingual-e5-small (default), all-MiniLM-L6-v2, a model folder on the server, "
        "or remote:<model>",
    )
    chunk_mode: str = "general"
    chunk_size: int = 500
    chunk_overlap: int = 50
    parent_chunk_size: int = 2000
    mask_phi: bool = False
    retrieval_mode: str = "hybrid"
    top_k: int = 5
    score_threshold: float = 0.0
    visibility: str = "tenant"
    member_ids: list[str] = Field(default_factory=list)
    languages: list[str] = Field(
        default_factory=list, description='The languages it holds: "zh", "en" or both; [] = detect from its documents'
    )
    vector_weight: float = Field(
        default=0.5, description="The vector side's weight in hybrid fusion: 0 = full text only, 1 = vectors only"
    )
    rerank: bool = Field(default=False, description="Rerank the hits; needs a rerank server (MEDAI_RERANK_URL)")

    def spec(self) -> knowledge.KnowledgeBaseSpec:
        """Left out, the embedding model is the default on create and unchanged on update."""
        model = self.embedding_model if "embedding_model" in self.model_fields_set else ""
        values = {
            **self.model_dump(),
            "member_ids": tuple(self.member_ids),
            "languages": tuple(self.languages),
            "embedding_model": model,
        }
        return knowledge.KnowledgeBaseSpec(**values)


class KnowledgeBaseOut(KnowledgeBaseIn):
    model_config = ConfigDict(from_attributes=True)

    id: str
    owner_id: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    collection_generation: int = 0
    reembed_model: str = ""
    reembed_status: str = Field("", description='"" (never), queued, running, failed (see reembed_reason) or done')
    reembed_progress: float = 0.0
    reembed_reason: str = ""
    reembed_updated_at: datetime | None = None
    vocabulary_terms: list[str] = Field(default_factory=list, description="Its own dictionary words (GET …/vocabulary)")
    vocabulary_synonyms: list[list[str]] = Field(default_factory=list, description="Its own synonym groups")
    text_index_status: str = Field(
        "", description='The full-text re-index after a vocabulary change: "" (never), queued, running, failed or done'
    )
    text_index_progress: float = 0.0
    text_index_reason: str = ""


class ReembedIn(BaseModel):
    embedding_model: str


class RetrievalSettingsIn(BaseModel):
    """How the knowledge base is searched; a field left out keeps its current value."""

    retrieval_mode: str | None = Field(None, description="hybrid, vector or text")
    top_k: int | None = None
    score_threshold: float | None = None
    languages: list[str] | None = Field(None, description='"zh", "en" or both; [] = detect from its documents')
    vector_weight: float | None = Field(None, description="0 = full text only, 1 = vectors only (hybrid fusion)")
    rerank: bool | None = Field(None, description="Needs a rerank server (MEDAI_RERANK_URL); 422 without one")


class VocabularyIn(BaseModel):
    terms: list[str] = Field(
        default_factory=list,
        description=f"Dictionary words kept as one search term (at most {knowledge_vocabulary.MAX_TERMS}, "
        f"{knowledge_vocabulary.MAX_CHARS} characters each)",
    )
    synonyms: list[list[str]] = Field(
        default_factory=list,
        description=f"Synonym groups of 2 to {knowledge_vocabulary.MAX_MEMBERS} words "
        f"(at most {knowledge_vocabulary.MAX_GROUPS} groups), applied at query time",
    )


class VocabularyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    knowledge_base_id: str
    terms: list[str]
    synonyms: list[list[str]]
    text_index_status: str = Field(
        description='"" (never), queued, running, failed (see text_index_reason) or done; '
        "searches keep working while it runs"
    )
    text_index_progress: float
    text_index_reason: str


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    knowledge_base_id: str
    name: str
    file_format: str
    size_bytes: int
    sha256: str
    status: str
    reason: str
    progress: float
    chunk_count: int
    meta: dict[str, Any]
    created_by: str
    created_at: datetime


class ChunkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    ordinal: int
    text: str
    parent_id: str | None


QUERY_RULE = (
    f"At least one letter or digit, at most {MAX_QUERY_CHARS} characters after stripping; otherwise 422 DATA_INVALID."
)


class RetrieveIn(BaseModel):
    query: str = Field(description=QUERY_RULE)
    top_k: int | None = None
    threshold: float | None = None
    filters: dict[str, str] | None = None
    mode: str | None = None


class RetrievedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    chunk_id: str
    document_id: str
    document_name: str
    text: str
    score: float = Field(
        description="Calibrated: about the chance that the chunk answers the query, the same scale for every "
        "query (what threshold applies to); the rerank score when the rerank stage ran"
    )
    vector_score: float | None = Field(description="The calibrated vector score; null in text mode")
    text_score: float | None = Field(description="The calibrated full-text score; null in vector mode")
    rerank_score: float | None = Field(None, description="The rerank server's score; null when rerank did not run")
    rank: int
    language: str = Field("", description="The chunk's language: zh, en or other")
    expanded_terms: list[str] = Field(
        default_factory=list, description="Synonyms and abbreviations the full-text query was expanded with"
    )
    knowledge_base_id: str = ""
    start_char: int | None = Field(
        None, description="Where the chunk starts in its document's text (GET …/documents/{id}/text); null: unknown"
    )
    end_char: int | None = Field(
        None,
        description="Where it ends (exclusive). The matched chunk; in parent-child mode the child, inside the "
        "parent context given as text",
    )


class RecallQueryIn(BaseModel):
    query: str = Field(description=QUERY_RULE)
    expected_documents: list[str]


class RecallQueryOut(RecallQueryIn):
    model_config = ConfigDict(from_attributes=True)

    id: str
    created_by: str
    created_at: datetime


class RecallRunIn(BaseModel):
    k: int = 5


class RecallRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    k: int
    queries: int
    hit_rate: float
    mrr: float
    settings: dict[str, Any]
    details: list[dict[str, Any]]
    created_by: str
    created_at: datetime


@router.get("/knowledge-bases", response_model=list[KnowledgeBaseOut])
def get_knowledge_bases(principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [KnowledgeBaseOut.model_validate(kb) for kb in knowledge.list_knowledge_bases(session, principal)]


@router.post("/knowledge-bases", response_model=KnowledgeBaseOut, status_code=201)
def post_knowledge_base(body: KnowledgeBaseIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    kb = knowledge.create_knowledge_base(session, rt.knowledge, principal, body.spec())
    return KnowledgeBaseOut.model_validate(kb)


@router.get("/knowledge-bases/{kb_id}", response_model=KnowledgeBaseOut)
def get_knowledge_base(kb_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return KnowledgeBaseOut.model_validate(knowledge.get_knowledge_base(session, principal, kb_id))


@router.put("/knowledge-bases/{kb_id}", response_model=KnowledgeBaseOut)
def put_knowledge_base(
    kb_id: str, body: KnowledgeBaseIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> Any:
    """Replace the settings; retrieval settings apply at once, chunk settings to later imports."""
    kb = knowledge.update_knowledge_base(session, rt.knowledge, principal, kb_id, body.spec())
    return KnowledgeBaseOut.model_validate(kb)


@router.delete("/knowledge-bases/{kb_id}", status_code=204)
def delete_knowledge_base(kb_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> None:
    knowledge.delete_knowledge_base(session, rt.knowledge, rt.objects, principal, kb_id)


@router.post("/knowledge-bases/{kb_id}/reembed", response_model=KnowledgeBaseOut, status_code=202)
def post_reembed(kb_id: str, body: ReembedIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    """Re-embed every chunk with another embedding model, in the background: the current index
    answers until the new one is ready, then both switch at once. Follow ``reembed_status`` and
    ``reembed_progress`` on GET /api/knowledge-bases/{kb_id}; 409 while one is already running."""
    kb = knowledge_reembed.request_reembed(session, rt.knowledge, principal, kb_id, body.embedding_model)
    return KnowledgeBaseOut.model_validate(kb)


@router.put("/knowledge-bases/{kb_id}/retrieval-settings", response_model=KnowledgeBaseOut)
def put_retrieval_settings(
    kb_id: str, body: RetrievalSettingsIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> Any:
    """Change only how the knowledge base is searched (fields left out stay as they are); applies at once."""
    kb = knowledge.update_retrieval_settings(session, rt.knowledge, principal, kb_id, **body.model_dump())
    return KnowledgeBaseOut.model_validate(kb)


@router.get("/knowledge-bases/{kb_id}/vocabulary", response_model=VocabularyOut)
def get_vocabulary(kb_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """The knowledge base's own dictionary words and synonym groups, and its full-text re-index status."""
    return VocabularyOut.model_validate(knowledge_vocabulary.get_vocabulary(session, principal, kb_id))


@router.put("/knowledge-bases/{kb_id}/vocabulary", response_model=VocabularyOut)
def put_vocabulary(
    kb_id: str, body: VocabularyIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> Any:
    """Replace the knowledge base's own vocabulary. Synonyms apply to queries at once; the words
    re-index its full text in the background: follow ``text_index_status`` and
    ``text_index_progress`` here or on GET /api/knowledge-bases/{kb_id}."""
    found = knowledge_vocabulary.update_vocabulary(session, rt.knowledge, principal, kb_id, body.terms, body.synonyms)
    return VocabularyOut.model_validate(found)


@router.get("/knowledge-bases/{kb_id}/documents", response_model=list[DocumentOut])
def get_documents(kb_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [DocumentOut.model_validate(d) for d in knowledge_documents.list_documents(session, principal, kb_id)]


def _metadata(text: str) -> dict[str, str]:
    try:
        found = json.loads(text or "{}")
    except json.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        raise MedAIError(ErrorCode.DATA_INVALID, "metadata must be a JSON object.", 'Send e.g. {"department": "ICU"}.')
    return {str(k): str(v) for k, v in found.items()}


@router.post("/knowledge-bases/{kb_id}/documents", response_model=DocumentOut, status_code=201)
def post_document(
    kb_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    rt: RuntimeDep,
    file: Annotated[UploadFile, File(description="TXT, Markdown, PDF, DOCX, HTML, or CSV/JSONL Q&A pairs")],
    metadata: Annotated[str, Form(description="JSON object of filterable fields")] = "{}",
) -> Any:
    """Import a document. An unreadable one answers 422 and nothing is stored; a large one is
    queued (status ``queued``) and followed through GET …/documents."""
    data = file.file.read(MAX_BYTES + 1)
    doc = knowledge_documents.upload_document(
        session,
        rt.knowledge,
        rt.objects,
        principal,
        kb_id,
        file.filename or "upload.txt",
        data,
        _metadata(metadata),
    )
    return DocumentOut.model_validate(doc)


@router.delete("/knowledge-bases/{kb_id}/documents/{document_id}", status_code=204)
def delete_document(
    kb_id: str, document_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> None:
    knowledge_documents.delete_document(session, rt.knowledge, rt.objects, principal, kb_id, document_id)


@router.get("/knowledge-bases/{kb_id}/documents/{document_id}/chunks", response_model=list[ChunkOut])
def get_chunks(kb_id: str, document_id: str, principal: CurrentPrincipal, session: SessionDep, limit: int = 100) -> Any:
    chunks = knowledge_documents.list_chunks(session, principal, kb_id, document_id, limit)
    return [ChunkOut.model_validate(c) for c in chunks]


class DocumentTextOut(BaseModel):
    knowledge_base_id: str
    document_id: str
    name: str
    file_format: str
    status: str
    text: str = Field(description="The parsed text that chunk offsets (start_char, end_char) index")


@router.get("/knowledge-bases/{kb_id}/documents/{document_id}/text", response_model=DocumentTextOut)
def get_document_text(
    kb_id: str, document_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> Any:
    """The document's text as it was chunked (Q&A documents: their pairs as "Q: …\\nA: …" blocks)."""
    found = knowledge_documents.read_document(session, rt.objects, principal, kb_id, document_id)
    doc = found.doc
    return DocumentTextOut(
        knowledge_base_id=found.kb.id,
        document_id=doc.id,
        name=doc.name,
        file_format=doc.file_format,
        status=doc.status,
        text=found.text,
    )


@router.post("/knowledge-bases/{kb_id}/retrieve", response_model=list[RetrievedOut])
def post_retrieve(
    kb_id: str, body: RetrieveIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> Any:
    """Ranked chunks with their fused, vector and text scores."""
    found = knowledge.retrieve(
        session, rt.knowledge, principal, kb_id, body.query, body.top_k, body.threshold, body.filters, body.mode
    )
    return [_hit(kb_id, c) for c in found]


def _hit(kb_id: str, chunk: Any) -> RetrievedOut:
    return RetrievedOut.model_validate(chunk).model_copy(update={"knowledge_base_id": kb_id})


@router.get("/knowledge-bases/{kb_id}/recall-queries", response_model=list[RecallQueryOut])
def get_recall_queries(kb_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [RecallQueryOut.model_validate(q) for q in knowledge_recall.list_recall_queries(session, principal, kb_id)]


@router.post("/knowledge-bases/{kb_id}/recall-queries", response_model=RecallQueryOut, status_code=201)
def post_recall_query(kb_id: str, body: RecallQueryIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    row = knowledge_recall.save_recall_query(session, principal, kb_id, body.query, body.expected_documents)
    return RecallQueryOut.model_validate(row)


@router.delete("/knowledge-bases/{kb_id}/recall-queries/{query_id}", status_code=204)
def delete_recall_query(kb_id: str, query_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    knowledge_recall.delete_recall_query(session, principal, kb_id, query_id)


@router.get("/knowledge-bases/{kb_id}/recall-runs", response_model=list[RecallRunOut])
def get_recall_runs(kb_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [RecallRunOut.model_validate(r) for r in knowledge_recall.list_recall_runs(session, principal, kb_id)]


@router.post("/knowledge-bases/{kb_id}/recall-runs", response_model=RecallRunOut, status_code=201)
def post_recall_run(
    kb_id: str, body: RecallRunIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> Any:
    """Evaluate every saved query with the current settings: hit@k and MRR, kept as history."""
    run = knowledge_recall.evaluate_recall(session, rt.knowledge, principal, kb_id, body.k)
    return RecallRunOut.model_validate(run)
