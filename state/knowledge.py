"""Knowledge bases: the list with the create form (KnowledgeState), and one knowledge base's page
(KnowledgeDetailState): documents with live status and progress, upload with chunk preview,
chunks of a document, retrieval settings (mode, top k, threshold, languages, vector weight, rerank),
the knowledge base's own vocabulary with its full-text re-index, the recall test and the hit@k /
MRR history, and re-embedding with another embedding model (progress refreshed while it runs)."""

# No `from __future__ import annotations`: Reflex reads the upload handlers' hints at runtime.

from typing import Any

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import recall as knowledge_recall
from backend.services.knowledge import reembed as knowledge_reembed
from backend.services.knowledge import views as knowledge_views
from backend.services.knowledge import vocabulary as knowledge_vocabulary
from backend.services.knowledge.views import DEFAULT_MODEL, KnowledgeBaseDetail, KnowledgeBaseView
from state import live
from state.auth import AuthState
from state.feedback import error_toast, input_toast, success_toast

ROUTE = "/knowledge"
DOCUMENT_UPLOAD = "kb-document-upload"
MOVING = ("queued", "parsing", "chunking", "embedding")
REEMBEDDING = knowledge.REEMBED_ACTIVE
REINDEXING = knowledge_vocabulary.TEXT_INDEX_ACTIVE
LANGUAGE_CHOICES: dict[str, tuple[str, ...]] = {"auto": (), "zh": ("zh",), "en": ("en",), "both": ("zh", "en")}
OTHER_MODEL = "other"  # the embedding choice that reveals a text box: a model folder or remote:<model>
EMBEDDING_CHOICES = (*knowledge_views.EMBEDDING_MODELS, OTHER_MODEL)
CREATE_DEFAULTS = {
    "name": "",
    "description": "",
    "chunk_mode": "general",
    "chunk_size": "500",
    "chunk_overlap": "50",
    "visibility": "tenant",
    "embedding_choice": DEFAULT_MODEL,
    "embedding_model": DEFAULT_MODEL,
    "mask_phi": "",
}


def _integer(text: str, what: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise MedAIError(
            ErrorCode.DATA_INVALID, f"{what} must be a whole number.", f"Type a number for {what}."
        ) from None


def _number(text: str, what: str) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        raise MedAIError(ErrorCode.DATA_INVALID, f"{what} must be a number.", f"Type a number for {what}.") from None


def create_spec(form: dict[str, str], member_ids: list[str] | None = None) -> knowledge.KnowledgeBaseSpec:
    visibility = form.get("visibility", "tenant")
    return knowledge.KnowledgeBaseSpec(
        name=form.get("name", "").strip(),
        description=form.get("description", "").strip(),
        chunk_mode=form.get("chunk_mode", "general"),
        chunk_size=_integer(form.get("chunk_size", "500"), "Chunk size"),
        chunk_overlap=_integer(form.get("chunk_overlap", "50"), "Overlap"),
        visibility=visibility,
        member_ids=tuple(member_ids or ()) if visibility == "members" else (),
        embedding_model=form.get("embedding_model", "").strip() or DEFAULT_MODEL,
        mask_phi=form.get("mask_phi", "") in ("on", "true", "1"),
    )


def languages_choice(languages: tuple[str, ...] | list[str]) -> str:
    """The languages select's value for what a knowledge base holds (auto: detect)."""
    held = set(languages)
    return next((choice for choice, langs in LANGUAGE_CHOICES.items() if set(langs) == held), "auto")


def kb_row(kb: KnowledgeBaseView) -> dict[str, str]:
    return {
        "id": kb.id,
        "name": kb.name,
        "description": kb.description,
        "chunk_mode": kb.chunk_mode,
        "retrieval_mode": kb.retrieval_mode,
        "visibility": kb.visibility,
        "top_k": str(kb.top_k),
        "score_threshold": f"{kb.score_threshold:g}",
        "chunk_size": str(kb.chunk_size),
        "chunk_overlap": str(kb.chunk_overlap),
        "mask_phi": "yes" if kb.mask_phi else "no",
        "embedding_model": kb.embedding_model,
        "documents": str(kb.documents),
        "created_by": kb.created_by,
        "reembed_status": kb.reembed_status,
        "reembed_model": kb.reembed_model,
        "reembed_progress": str(round(kb.reembed_progress * 100)),
        "reembed_reason": kb.reembed_reason,
        "languages": languages_choice(kb.languages),
        "vector_weight": f"{kb.vector_weight:.2f}",
        "rerank": "on" if kb.rerank else "",
        "vocabulary_terms": knowledge_vocabulary.format_terms(kb.vocabulary_terms),
        "vocabulary_synonyms": knowledge_vocabulary.format_synonyms(kb.vocabulary_synonyms),
        "text_index_status": kb.text_index_status,
        "text_index_progress": str(round(kb.text_index_progress * 100)),
        "text_index_reason": kb.text_index_reason,
    }


SETTINGS_KEYS = ("retrieval_mode", "top_k", "score_threshold", "languages", "vector_weight", "rerank")


def settings_changes(form: dict[str, str]) -> dict[str, Any]:
    """The retrieval settings form as update_retrieval_settings takes it."""
    choice = form.get("languages", "auto")
    if choice not in LANGUAGE_CHOICES:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown language choice '{choice}'.", "Choose one in the list.")
    return {
        "retrieval_mode": form.get("retrieval_mode", "hybrid"),
        "top_k": _integer(form.get("top_k", "5"), "top_k"),
        "score_threshold": _number(form.get("score_threshold", "0"), "Score threshold"),
        "languages": LANGUAGE_CHOICES[choice],
        "vector_weight": _number(form.get("vector_weight", "0.5"), "Vector weight"),
        "rerank": form.get("rerank", "") == "on",
    }


def embedding_choice(choice: str) -> dict[str, str]:
    """The create form's fields for a choice of embedding model: a built-in one is the model;
    "other" leaves the model to type."""
    return {"embedding_choice": choice, "embedding_model": "" if choice == OTHER_MODEL else choice}


class KnowledgeState(AuthState):
    may_view: bool = True
    may_create: bool = False
    bases: list[dict[str, str]] = []
    form: dict[str, str] = dict(CREATE_DEFAULTS)
    members: list[dict[str, str]] = []
    chosen: list[str] = []  # member ids, for visibility "members"
    creating: bool = False

    @rx.event
    async def load(self) -> None:
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            self.bases = []
            return
        found = await self._as_user(
            lambda _rt, session, principal: knowledge_views.knowledge_listing(session, principal)
        )
        self.may_view, self.may_create = found.may_view, found.may_create
        self.bases = [kb_row(kb) for kb in found.bases]
        self.members = [{"id": m.user_id, "name": m.name, "email": m.email} for m in found.members]
        self.chosen = [c for c in self.chosen if any(m.user_id == c for m in found.members)]

    @rx.event
    def set_field(self, key: str, value: str | bool) -> None:
        if key in CREATE_DEFAULTS:
            self.form = {**self.form, key: "on" if value is True else ("" if value is False else str(value))}

    @rx.event
    def choose_embedding(self, choice: str) -> None:
        if choice in EMBEDDING_CHOICES:
            self.form = {**self.form, **embedding_choice(choice)}

    @rx.event
    def choose_member(self, user_id: str, on: bool) -> None:
        self.chosen = [c for c in self.chosen if c != user_id] + ([user_id] if on else [])

    @rx.event
    async def create(self):  # noqa: ANN201 (Reflex event generator)
        if not self.form.get("name", "").strip():
            yield await input_toast(self, "kb.name_required")
            return
        self.creating = True
        yield
        try:
            spec = create_spec(self.form, self.chosen)
            kb_id = await self._as_user(
                lambda rt, session, principal: (
                    knowledge.create_knowledge_base(session, rt.knowledge, principal, spec).id
                )
            )
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.creating = False
            yield error_toast(error)
            return
        self.creating, self.form, self.chosen = False, dict(CREATE_DEFAULTS), []
        yield await success_toast(self, "kb.created")
        yield rx.redirect(f"{ROUTE}/{kb_id}")


# one knowledge base -----------------------------------------------------------------------------


def doc_row(doc: knowledge_views.DocumentView) -> dict[str, str]:
    return {
        "id": doc.id,
        "name": doc.name,
        "format": doc.file_format,
        "status": doc.status,
        "reason": doc.reason,
        "progress": str(round(doc.progress * 100)),
        "chunks": str(doc.chunk_count),
        "size": f"{doc.size_bytes / 1024:.1f} KB",
    }


def result_row(chunk: knowledge.RetrievedChunk) -> dict[str, str]:
    def shown(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    return {
        "rank": str(chunk.rank),
        "document": chunk.document_name,
        "text": chunk.text if len(chunk.text) <= 600 else chunk.text[:600] + "…",
        "score": shown(chunk.score),
        "vector": shown(chunk.vector_score),
        "text_score": shown(chunk.text_score),
    }


def history_figure(runs: list[knowledge_views.RecallRunView]) -> dict[str, Any]:
    labels = [f"#{n} {r.settings.get('retrieval_mode', '')}" for n, r in enumerate(runs, start=1)]
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": "hit@k", "x": labels, "y": [r.hit_rate for r in runs]},
            {"type": "scatter", "mode": "lines+markers", "name": "MRR", "x": labels, "y": [r.mrr for r in runs]},
        ],
        "layout": {},
    }


def run_row(run: knowledge_views.RecallRunView) -> dict[str, str]:
    return {
        "k": str(run.k),
        "hit_rate": f"{run.hit_rate:.2f}",
        "mrr": f"{run.mrr:.3f}",
        "mode": str(run.settings.get("retrieval_mode", "")),
        "queries": str(run.queries),
        "at": run.created_at.strftime("%Y-%m-%d %H:%M"),
    }


def detail(kb_id: str) -> Any:
    """The work that reads one knowledge base's page, for ``_as_user``."""
    return lambda rt, session, principal: knowledge_views.knowledge_base_detail(session, principal, kb_id, rt.knowledge)


class KnowledgeDetailState(AuthState):
    kb: dict[str, str] = {}
    may_edit: bool = False
    documents: list[dict[str, str]] = []
    uploading: bool = False
    preview: list[dict[str, str]] = []
    chunk_doc: str = ""
    chunks: list[dict[str, str]] = []
    settings_form: dict[str, str] = {}
    query: str = ""
    mode: str = "hybrid"
    top_k: str = "5"
    results: list[dict[str, str]] = []
    searched: bool = False
    searching: bool = False
    expanded_terms: str = ""  # the synonyms the last test query was expanded with, comma-separated
    expected: str = ""
    queries: list[dict[str, str]] = []
    runs: list[dict[str, str]] = []
    history: dict[str, Any] = {}
    evaluating: bool = False
    reembed_choice: str = ""
    reembed_custom: str = ""  # a model folder or remote:<model>, when the choice is "other"
    reembed_starting: bool = False
    rerank_available: bool = False  # a rerank server is configured (otherwise the switch is disabled)
    vocab_terms: str = ""  # the knowledge base's dictionary words, one per line, as edited
    vocab_synonyms: str = ""  # its synonym groups, one per line, as edited
    vocab_saving: bool = False
    _follow_round: int = 0

    @rx.var
    def kb_id(self) -> str:
        return self.router.page.params.get("kb_id", "")

    @rx.var
    def reembedding(self) -> bool:
        return self.kb.get("reembed_status", "") in REEMBEDDING

    @rx.var
    def reindexing(self) -> bool:
        return self.kb.get("text_index_status", "") in REINDEXING

    @rx.var
    def weight_value(self) -> float:
        """The vector weight as the slider shows it."""
        try:
            return min(max(float(self.settings_form.get("vector_weight", "0.5")), 0.0), 1.0)
        except ValueError:
            return 0.5

    @rx.var
    def live(self) -> bool:
        return any(d["status"] in MOVING for d in self.documents) or self.reembedding or self.reindexing

    @rx.var
    def document_names(self) -> list[str]:
        return sorted({d["name"] for d in self.documents if d["status"] == "ready"})

    async def _refresh(self) -> None:
        found: KnowledgeBaseDetail = await self._as_user(detail(self.kb_id))
        self._show_documents(found)
        self.may_edit, self.rerank_available = found.may_edit, found.rerank_available
        self.queries = [
            {"id": q.id, "query": q.query, "expected": ", ".join(q.expected_documents)} for q in found.queries
        ]
        self.runs = [run_row(r) for r in reversed(found.runs)]
        self.history = history_figure(found.runs)

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        self.preview, self.results, self.searched, self.chunks, self.chunk_doc = [], [], False, [], ""
        self.expanded_terms = ""
        if not self.signed_in or self.must_change_password or not self.tenant_id or not self.kb_id:
            self.kb = {}
            return
        try:
            await self._refresh()
        except MedAIError as error:
            self.kb = {}
            yield error_toast(error)
            return
        self.mode, self.top_k = self.kb["retrieval_mode"], self.kb["top_k"]
        self.settings_form = {k: self.kb[k] for k in SETTINGS_KEYS}
        self.vocab_terms, self.vocab_synonyms = self.kb["vocabulary_terms"], self.kb["vocabulary_synonyms"]
        yield KnowledgeDetailState.follow

    @rx.event
    def set_query(self, value: str) -> None:
        self.query = value

    @rx.event
    def set_mode(self, value: str) -> None:
        self.mode = value

    @rx.event
    def set_top_k(self, value: str) -> None:
        self.top_k = value

    @rx.event
    def set_expected(self, value: str) -> None:
        self.expected = value

    @rx.event
    def set_setting(self, key: str, value: str) -> None:
        self.settings_form = {**self.settings_form, key: value}

    @rx.event
    def set_weight(self, value: list[float] | float) -> None:
        chosen = value[0] if isinstance(value, list) else value
        self.settings_form = {**self.settings_form, "vector_weight": f"{min(max(float(chosen), 0.0), 1.0):.2f}"}

    @rx.event
    def set_rerank(self, on: bool) -> None:
        self.settings_form = {**self.settings_form, "rerank": "on" if on else ""}

    @rx.event
    def set_vocab_terms(self, value: str) -> None:
        self.vocab_terms = value

    @rx.event
    def set_vocab_synonyms(self, value: str) -> None:
        self.vocab_synonyms = value

    @rx.event
    async def save_vocabulary(self):  # noqa: ANN201 (Reflex event generator)
        self.vocab_saving = True
        yield
        kb_id = self.kb_id
        terms = knowledge_vocabulary.parse_terms(self.vocab_terms)
        synonyms = knowledge_vocabulary.parse_synonyms(self.vocab_synonyms)
        try:
            await self._as_user(
                lambda rt, session, principal: knowledge_vocabulary.update_vocabulary(
                    session, rt.knowledge, principal, kb_id, terms, synonyms
                )
            )
            await self._refresh()
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.vocab_saving = False
            yield error_toast(error)
            return
        self.vocab_saving = False
        self.vocab_terms, self.vocab_synonyms = self.kb["vocabulary_terms"], self.kb["vocabulary_synonyms"]
        yield await success_toast(self, "kb.vocabulary_saved")
        yield KnowledgeDetailState.follow

    @rx.event
    def set_reembed_choice(self, value: str) -> None:
        self.reembed_choice = value

    @rx.event
    def set_reembed_custom(self, value: str) -> None:
        self.reembed_custom = value

    @rx.event
    async def reembed(self):  # noqa: ANN201 (Reflex event generator)
        model = self.reembed_custom.strip() if self.reembed_choice == OTHER_MODEL else self.reembed_choice
        if not model:
            yield await input_toast(self, "kb.reembed_choose")
            return
        self.reembed_starting = True
        yield
        kb_id = self.kb_id
        try:
            await self._as_user(
                lambda rt, session, principal: knowledge_reembed.request_reembed(
                    session, rt.knowledge, principal, kb_id, model
                )
            )
            await self._refresh()
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.reembed_starting = False
            yield error_toast(error)
            return
        self.reembed_starting, self.reembed_choice, self.reembed_custom = False, "", ""
        yield await success_toast(self, "kb.reembed_started")
        yield KnowledgeDetailState.follow

    @rx.event
    async def upload(self, files: list[rx.UploadFile]):  # noqa: ANN201 (Reflex event generator)
        if not files:
            yield await input_toast(self, "kb.choose_file")
            return
        self.uploading = True
        yield
        kb_id = self.kb_id
        try:
            for upload in files:
                name, data = upload.filename or "document.txt", await upload.read()
                await self._as_user(
                    lambda rt, session, principal, name=name, data=data: knowledge_documents.upload_document(
                        session, rt.knowledge, rt.objects, principal, kb_id, name, data
                    )
                )
            await self._refresh()
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.uploading = False
            yield rx.clear_selected_files(DOCUMENT_UPLOAD)
            yield error_toast(error)
            return
        self.uploading, self.preview = False, []
        yield rx.clear_selected_files(DOCUMENT_UPLOAD)
        yield await success_toast(self, "kb.uploaded")
        yield KnowledgeDetailState.follow

    @rx.event
    async def preview_upload(self, files: list[rx.UploadFile]):  # noqa: ANN201 (Reflex event generator)
        if not files:
            yield await input_toast(self, "kb.choose_file")
            return
        upload, kb_id = files[0], self.kb_id
        name, data = upload.filename or "document.txt", await upload.read()
        try:
            pieces = await self._as_user(
                lambda _rt, session, principal: knowledge_documents.preview_chunks(
                    session, principal, kb_id, name, data
                )
            )
        except Exception as error:
            yield error_toast(error)
            return
        self.preview = [{"ordinal": str(p.ordinal + 1), "text": p.text, "chars": str(p.chars)} for p in pieces]

    @rx.event
    async def show_chunks(self, document_id: str):  # noqa: ANN201 (Reflex event generator)
        kb_id = self.kb_id
        try:
            rows = await self._as_user(
                lambda _rt, session, principal: knowledge_documents.list_chunks(session, principal, kb_id, document_id)
            )
        except Exception as error:
            yield error_toast(error)
            return
        self.chunk_doc = next((d["name"] for d in self.documents if d["id"] == document_id), "")
        self.chunks = [{"ordinal": str(c.ordinal + 1), "text": c.text, "chars": str(len(c.text))} for c in rows]

    @rx.event
    async def delete_document(self, document_id: str):  # noqa: ANN201 (Reflex event generator)
        kb_id = self.kb_id
        try:
            await self._as_user(
                lambda rt, session, principal: knowledge_documents.delete_document(
                    session, rt.knowledge, rt.objects, principal, kb_id, document_id
                )
            )
            await self._refresh()
        except Exception as error:
            yield error_toast(error)
            return
        self.chunks, self.chunk_doc = [], ""
        yield await success_toast(self, "kb.document_deleted")

    @rx.event
    async def save_settings(self):  # noqa: ANN201 (Reflex event generator)
        kb_id, form = self.kb_id, dict(self.settings_form)
        try:
            changes = settings_changes(form)
            await self._as_user(
                lambda rt, session, principal: knowledge.update_retrieval_settings(
                    session, rt.knowledge, principal, kb_id, **changes
                )
            )
            await self._refresh()
        except Exception as error:
            yield error_toast(error)
            return
        self.mode, self.top_k = self.kb["retrieval_mode"], self.kb["top_k"]
        self.settings_form = {k: self.kb[k] for k in SETTINGS_KEYS}
        yield await success_toast(self, "kb.settings_saved")

    @rx.event
    async def run_test(self):  # noqa: ANN201 (Reflex event generator)
        if not self.query.strip():
            yield await input_toast(self, "kb.query_required")
            return
        self.searching = True
        yield
        kb_id, query, mode = self.kb_id, self.query, self.mode
        try:
            top_k = _integer(self.top_k, "top_k")
            found = await self._as_user(
                lambda rt, session, principal: knowledge.retrieve(
                    session, rt.knowledge, principal, kb_id, query, top_k, mode=mode
                )
            )
        except Exception as error:
            self.searching = False
            yield error_toast(error)
            return
        self.searching, self.searched, self.results = False, True, [result_row(c) for c in found]
        self.expanded_terms = ", ".join(found[0].expanded_terms) if found else ""

    @rx.event
    async def save_query(self):  # noqa: ANN201 (Reflex event generator)
        if not self.query.strip() or not self.expected:
            yield await input_toast(self, "kb.save_query_incomplete")
            return
        kb_id, query, expected = self.kb_id, self.query, [self.expected]
        try:
            await self._as_user(
                lambda _rt, session, principal: knowledge_recall.save_recall_query(
                    session, principal, kb_id, query, expected
                )
            )
            await self._refresh()
        except Exception as error:
            yield error_toast(error)
            return
        yield await success_toast(self, "kb.query_saved")

    @rx.event
    async def delete_query(self, query_id: str):  # noqa: ANN201 (Reflex event generator)
        kb_id = self.kb_id
        try:
            await self._as_user(
                lambda _rt, session, principal: knowledge_recall.delete_recall_query(
                    session, principal, kb_id, query_id
                )
            )
            await self._refresh()
        except Exception as error:
            yield error_toast(error)

    @rx.event
    async def evaluate(self):  # noqa: ANN201 (Reflex event generator)
        self.evaluating = True
        yield
        kb_id = self.kb_id
        try:
            k = _integer(self.top_k, "k")
            await self._as_user(
                lambda rt, session, principal: knowledge_recall.evaluate_recall(
                    session, rt.knowledge, principal, kb_id, k
                )
            )
            await self._refresh()
        except Exception as error:
            self.evaluating = False
            yield error_toast(error)
            return
        self.evaluating = False
        yield await success_toast(self, "kb.evaluated")

    @rx.event(background=True)
    async def follow(self) -> None:
        """Refresh the documents and the knowledge base while a document is being ingested, the
        knowledge base re-embedded or its full text re-indexed, and this page is open."""
        kb_id = self.kb_id
        await live.follow(
            self,
            lambda: self._as_user(detail(kb_id)),
            self._show_documents,
            lambda: self.live and self.router.url.path.startswith(ROUTE),
            stop_on=(MedAIError,),
        )

    def _show_documents(self, found: KnowledgeBaseDetail) -> None:
        self.documents, self.kb = [doc_row(d) for d in found.documents], kb_row(found.kb)
