"""One knowledge base: documents with their ingestion status and progress, upload with a chunk
preview, a document's chunks, retrieval settings, the recall test (vector, text and fused
scores, and the synonyms the query was expanded with), saved test queries with the hit@k / MRR
history, the knowledge base's own vocabulary with its full-text re-index, and re-embedding with
another model (progress bars refreshed while they run)."""

import plotly.graph_objects as go
import reflex as rx

from components.forms import field, section
from components.i18n import t, t_choice
from components.knowledge import (
    RETRIEVAL_MODES,
    document_status,
    embedding_select,
    languages_select,
    mode_select,
    text_index_status,
)
from components.shell import page_shell
from components.tables import headers
from state.knowledge import DOCUMENT_UPLOAD, OTHER_MODEL, KnowledgeDetailState


def _doc_row(doc: rx.Var) -> rx.Component:
    moving = (doc["status"] != "ready") & (doc["status"] != "failed")
    return rx.table.row(
        rx.table.cell(rx.text(doc["name"], weight="medium")),
        rx.table.cell(rx.badge(doc["format"], variant="outline")),
        rx.table.cell(
            rx.vstack(
                document_status(doc["status"]),
                rx.cond(moving, rx.progress(value=doc["progress"].to(int), max=100, width="120px")),
                spacing="1",
            )
        ),
        rx.table.cell(rx.text(doc["chunks"], class_name="chunks")),
        rx.table.cell(rx.text(doc["size"], size="2")),
        rx.table.cell(rx.text(doc["reason"], size="1", color=rx.color("red", 11)), max_width="320px"),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    t("kb.view_chunks"), size="1", variant="soft", on_click=KnowledgeDetailState.show_chunks(doc["id"])
                ),
                rx.cond(
                    KnowledgeDetailState.may_edit,
                    rx.button(
                        t("kb.delete"),
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=KnowledgeDetailState.delete_document(doc["id"]),
                    ),
                ),
            )
        ),
        data_name=doc["name"],
        data_status=doc["status"],
    )


def _chunk_card(chunk: rx.Var) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.badge("#", chunk["ordinal"], variant="soft"),
            rx.text(chunk["chars"], " ", t("kb.chars"), size="1", color=rx.color("gray", 10)),
        ),
        rx.text(chunk["text"], size="2", white_space="pre-wrap"),
        width="100%",
        class_name="chunk",
    )


def documents() -> rx.Component:
    upload = rx.upload_files(upload_id=DOCUMENT_UPLOAD)
    return section(
        "kb.documents",
        "kb.documents_intro",
        rx.cond(
            KnowledgeDetailState.live,
            rx.badge(rx.icon("radio", size=12), t("kb.live"), color_scheme="green", variant="soft", id="kb-live"),
        ),
        rx.cond(
            KnowledgeDetailState.documents.length() > 0,
            rx.table.root(
                headers("kb.doc_name", "kb.format", "kb.status", "kb.chunks", "kb.size", "kb.reason", "kb.actions"),
                rx.table.body(rx.foreach(KnowledgeDetailState.documents, _doc_row)),
                variant="surface",
                width="100%",
                id="kb-documents",
            ),
            rx.text(t("kb.no_documents"), size="2", color=rx.color("gray", 10), id="kb-no-documents"),
        ),
        rx.cond(
            KnowledgeDetailState.may_edit,
            rx.vstack(
                rx.upload.root(
                    rx.vstack(
                        rx.icon("cloud-upload", size=28, color=rx.color("accent", 9)),
                        rx.text(t("kb.drop"), size="2", weight="medium"),
                        rx.text(t("kb.drop_hint"), size="1", color=rx.color("gray", 10)),
                        align="center",
                        spacing="1",
                    ),
                    id=DOCUMENT_UPLOAD,
                    multiple=True,
                    border=f"1px dashed {rx.color('gray', 8)}",
                    border_radius="8px",
                    padding="20px",
                    width="100%",
                    cursor="pointer",
                ),
                rx.flex(
                    rx.foreach(rx.selected_files(DOCUMENT_UPLOAD), lambda name: rx.badge(name, variant="soft")),
                    wrap="wrap",
                    spacing="2",
                    id="kb-selected",
                ),
                rx.hstack(
                    rx.button(
                        rx.icon("scissors", size=14),
                        t("kb.preview"),
                        variant="soft",
                        on_click=KnowledgeDetailState.preview_upload(upload),
                        id="kb-preview",
                    ),
                    rx.button(
                        rx.icon("upload", size=14),
                        t("kb.import"),
                        on_click=KnowledgeDetailState.upload(upload),
                        loading=KnowledgeDetailState.uploading,
                        id="kb-upload",
                    ),
                    justify="end",
                    width="100%",
                ),
                width="100%",
            ),
        ),
        rx.cond(
            KnowledgeDetailState.preview.length() > 0,
            rx.vstack(
                rx.heading(t("kb.preview_title"), size="3"),
                rx.foreach(KnowledgeDetailState.preview, _chunk_card),
                width="100%",
                id="kb-preview-chunks",
            ),
        ),
        rx.cond(
            KnowledgeDetailState.chunk_doc != "",
            rx.vstack(
                rx.heading(t("kb.chunks_of"), " ", KnowledgeDetailState.chunk_doc, size="3"),
                rx.foreach(KnowledgeDetailState.chunks, _chunk_card),
                width="100%",
                id="kb-doc-chunks",
            ),
        ),
    )


def settings_panel() -> rx.Component:
    form = KnowledgeDetailState.settings_form
    return section(
        "kb.retrieval_settings",
        "kb.retrieval_settings_intro",
        rx.grid(
            field(
                "kb.retrieval_mode",
                mode_select(
                    "kb-setting-mode",
                    form["retrieval_mode"],
                    lambda v: KnowledgeDetailState.set_setting("retrieval_mode", v),
                ),
                "kb-setting-mode",
            ),
            field(
                "kb.top_k",
                rx.input(
                    value=form["top_k"],
                    on_change=lambda v: KnowledgeDetailState.set_setting("top_k", v),
                    id="kb-setting-top-k",
                ),
                "kb-setting-top-k",
            ),
            field(
                "kb.threshold",
                rx.input(
                    value=form["score_threshold"],
                    on_change=lambda v: KnowledgeDetailState.set_setting("score_threshold", v),
                    id="kb-setting-threshold",
                ),
                "kb-setting-threshold",
                "kb.threshold_hint",
            ),
            columns=rx.breakpoints(initial="1", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.grid(
            field(
                "kb.languages",
                languages_select(
                    "kb-setting-languages",
                    form["languages"],
                    lambda v: KnowledgeDetailState.set_setting("languages", v),
                ),
                "kb-setting-languages",
                "kb.languages_hint",
            ),
            field(
                "kb.vector_weight",
                rx.hstack(
                    rx.slider(
                        value=[KnowledgeDetailState.weight_value],
                        min=0,
                        max=1,
                        step=0.05,
                        on_change=KnowledgeDetailState.set_weight.throttle(150),
                        id="kb-setting-vector-weight",
                        aria_label=t("kb.vector_weight"),
                        disabled=~KnowledgeDetailState.may_edit,
                    ),
                    rx.text(form["vector_weight"], size="2", id="kb-vector-weight-value", min_width="3em"),
                    align="center",
                    spacing="3",
                    width="100%",
                ),
                "kb-setting-vector-weight",
                "kb.vector_weight_hint",
            ),
            field(
                "kb.rerank",
                rx.switch(
                    checked=form["rerank"] == "on",
                    on_change=KnowledgeDetailState.set_rerank,
                    disabled=~KnowledgeDetailState.rerank_available | ~KnowledgeDetailState.may_edit,
                    id="kb-setting-rerank",
                ),
                "kb-setting-rerank",
                "kb.rerank_hint",
            ),
            columns=rx.breakpoints(initial="1", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            ~KnowledgeDetailState.rerank_available,
            rx.text(t("kb.rerank_unavailable"), size="1", color=rx.color("amber", 11), id="kb-rerank-unavailable"),
        ),
        rx.text(
            t("kb.chunking"),
            ": ",
            t_choice("kb.chunk_mode", KnowledgeDetailState.kb["chunk_mode"], ("general", "qa", "parent_child")),
            " · ",
            KnowledgeDetailState.kb["chunk_size"],
            "/",
            KnowledgeDetailState.kb["chunk_overlap"],
            " · ",
            t("kb.embedding_model"),
            ": ",
            KnowledgeDetailState.kb["embedding_model"],
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.cond(
            KnowledgeDetailState.may_edit,
            rx.hstack(
                rx.button(t("kb.save_settings"), on_click=KnowledgeDetailState.save_settings, id="kb-save-settings"),
                justify="end",
                width="100%",
            ),
        ),
    )


def _text_index_progress() -> rx.Component:
    kb = KnowledgeDetailState.kb
    return rx.vstack(
        rx.hstack(
            text_index_status(kb["text_index_status"]),
            rx.cond(
                KnowledgeDetailState.reindexing,
                rx.text(kb["text_index_progress"], "%", size="2", id="kb-text-index-percent"),
            ),
            align="center",
            spacing="2",
        ),
        rx.cond(
            KnowledgeDetailState.reindexing,
            rx.vstack(
                rx.progress(
                    value=kb["text_index_progress"].to(int), max=100, width="100%", id="kb-text-index-progress"
                ),
                rx.text(t("kb.text_index_meanwhile"), size="1", color=rx.color("gray", 10)),
                width="100%",
                spacing="2",
            ),
        ),
        rx.cond(
            kb["text_index_status"] == "failed",
            rx.callout.root(
                rx.callout.icon(rx.icon("triangle-alert")),
                rx.callout.text(kb["text_index_reason"]),
                color_scheme="red",
                width="100%",
                id="kb-text-index-failed",
            ),
        ),
        width="100%",
        spacing="2",
        data_status=kb["text_index_status"],
    )


def vocabulary_panel() -> rx.Component:
    """The knowledge base's own dictionary words and synonym groups, and its full-text re-index."""
    return section(
        "kb.vocabulary",
        "kb.vocabulary_intro",
        rx.grid(
            field(
                "kb.vocabulary_terms",
                rx.text_area(
                    value=KnowledgeDetailState.vocab_terms,
                    on_change=KnowledgeDetailState.set_vocab_terms,
                    placeholder="心内一病区\n替雷利珠单抗",
                    rows="8",
                    width="100%",
                    read_only=~KnowledgeDetailState.may_edit,
                    id="kb-vocabulary-terms",
                ),
                "kb-vocabulary-terms",
                "kb.vocabulary_terms_hint",
            ),
            field(
                "kb.vocabulary_synonyms",
                rx.text_area(
                    value=KnowledgeDetailState.vocab_synonyms,
                    on_change=KnowledgeDetailState.set_vocab_synonyms,
                    placeholder="降压药, 抗高血压药, antihypertensive",
                    rows="8",
                    width="100%",
                    read_only=~KnowledgeDetailState.may_edit,
                    id="kb-vocabulary-synonyms",
                ),
                "kb-vocabulary-synonyms",
                "kb.vocabulary_synonyms_hint",
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        _text_index_progress(),
        rx.cond(
            KnowledgeDetailState.may_edit,
            rx.hstack(
                rx.button(
                    rx.icon("book-open", size=14),
                    t("kb.vocabulary_save"),
                    on_click=KnowledgeDetailState.save_vocabulary,
                    loading=KnowledgeDetailState.vocab_saving,
                    id="kb-save-vocabulary",
                ),
                justify="end",
                width="100%",
            ),
        ),
        id="kb-vocabulary-panel",
    )


def _reembed_progress() -> rx.Component:
    kb = KnowledgeDetailState.kb
    return rx.vstack(
        rx.hstack(
            rx.badge(rx.icon("refresh-cw", size=12), t("kb.reembed_running"), color_scheme="blue", variant="soft"),
            rx.text(kb["reembed_model"], size="2", weight="medium"),
            rx.text(kb["reembed_progress"], "%", size="2", id="kb-reembed-percent"),
            align="center",
            spacing="2",
        ),
        rx.progress(value=kb["reembed_progress"].to(int), max=100, width="100%", id="kb-reembed-progress"),
        rx.text(t("kb.reembed_meanwhile"), size="1", color=rx.color("gray", 10)),
        width="100%",
        spacing="2",
        id="kb-reembed-status",
        data_status=kb["reembed_status"],
    )


def _reembed_form() -> rx.Component:
    return rx.hstack(
        rx.box(
            embedding_select(
                "kb-reembed-model", KnowledgeDetailState.reembed_choice, KnowledgeDetailState.set_reembed_choice
            ),
            min_width="260px",
        ),
        rx.cond(
            KnowledgeDetailState.reembed_choice == OTHER_MODEL,
            rx.input(
                value=KnowledgeDetailState.reembed_custom,
                on_change=KnowledgeDetailState.set_reembed_custom,
                placeholder="remote:bge-m3",
                id="kb-reembed-custom",
                aria_label=t("kb.embedding_other"),
            ),
        ),
        rx.button(
            rx.icon("refresh-cw", size=14),
            t("kb.reembed"),
            on_click=KnowledgeDetailState.reembed,
            loading=KnowledgeDetailState.reembed_starting,
            id="kb-reembed",
        ),
        align="center",
        wrap="wrap",
        spacing="3",
    )


def reembed_panel() -> rx.Component:
    """The model the index is built with, and re-embedding it with another one."""
    kb = KnowledgeDetailState.kb
    return section(
        "kb.reembed_title",
        "kb.reembed_intro",
        rx.text(t("kb.embedding_model"), ": ", rx.code(kb["embedding_model"], id="kb-embedding-model"), size="2"),
        rx.cond(
            KnowledgeDetailState.reembedding,
            _reembed_progress(),
            rx.cond(KnowledgeDetailState.may_edit, _reembed_form()),
        ),
        rx.cond(
            kb["reembed_status"] == "failed",
            rx.callout.root(
                rx.callout.icon(rx.icon("triangle-alert")),
                rx.callout.text(t("kb.reembed_failed"), " ", kb["reembed_reason"]),
                color_scheme="red",
                width="100%",
                id="kb-reembed-failed",
            ),
        ),
        id="kb-reembed-panel",
    )


def _result_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["rank"]),
        rx.table.cell(rx.text(row["document"], weight="medium", size="2")),
        rx.table.cell(rx.text(row["score"], class_name="fused")),
        rx.table.cell(rx.text(row["vector"], class_name="vector")),
        rx.table.cell(rx.text(row["text_score"], class_name="text-score")),
        rx.table.cell(rx.text(row["text"], size="1", white_space="pre-wrap"), max_width="520px"),
        class_name="result",
    )


def recall_panel() -> rx.Component:
    return section(
        "kb.recall",
        "kb.recall_intro",
        rx.grid(
            field(
                "kb.query",
                rx.input(
                    value=KnowledgeDetailState.query,
                    on_change=KnowledgeDetailState.set_query,
                    id="kb-query",
                    placeholder="高血压患者每日食盐摄入上限？",
                    width="100%",
                ),
                "kb-query",
            ),
            field(
                "kb.retrieval_mode",
                mode_select("kb-mode", KnowledgeDetailState.mode, KnowledgeDetailState.set_mode),
                "kb-mode",
            ),
            field(
                "kb.top_k",
                rx.input(value=KnowledgeDetailState.top_k, on_change=KnowledgeDetailState.set_top_k, id="kb-top-k"),
                "kb-top-k",
            ),
            columns=rx.breakpoints(initial="1", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.hstack(
            rx.button(
                rx.icon("search", size=14),
                t("kb.run_test"),
                on_click=KnowledgeDetailState.run_test,
                loading=KnowledgeDetailState.searching,
                id="kb-run-test",
            ),
            justify="end",
            width="100%",
        ),
        rx.cond(
            KnowledgeDetailState.results.length() > 0,
            rx.table.root(
                headers(
                    "kb.rank", "kb.doc_name", "kb.fused_score", "kb.vector_score", "kb.text_score", "kb.chunk_text"
                ),
                rx.table.body(rx.foreach(KnowledgeDetailState.results, _result_row)),
                variant="surface",
                width="100%",
                id="kb-results",
            ),
            rx.cond(
                KnowledgeDetailState.searched,
                rx.text(t("kb.no_results"), size="2", color=rx.color("gray", 10), id="kb-no-results"),
            ),
        ),
        rx.cond(
            KnowledgeDetailState.expanded_terms != "",
            rx.text(t("kb.expanded_terms"), " ", KnowledgeDetailState.expanded_terms, size="2", id="kb-expanded-terms"),
        ),
        rx.cond(
            KnowledgeDetailState.may_edit,
            rx.hstack(
                rx.select.root(
                    rx.select.trigger(placeholder=t("kb.expected_document"), id="kb-expected"),
                    rx.select.content(
                        rx.foreach(KnowledgeDetailState.document_names, lambda n: rx.select.item(n, value=n))
                    ),
                    value=KnowledgeDetailState.expected,
                    on_change=KnowledgeDetailState.set_expected,
                ),
                rx.button(
                    t("kb.save_query"), variant="soft", on_click=KnowledgeDetailState.save_query, id="kb-save-query"
                ),
                align="center",
                wrap="wrap",
            ),
        ),
    )


def _query_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["query"]),
        rx.table.cell(rx.text(row["expected"], size="2")),
        rx.table.cell(
            rx.cond(
                KnowledgeDetailState.may_edit,
                rx.button(
                    t("kb.delete"),
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=KnowledgeDetailState.delete_query(row["id"]),
                ),
            )
        ),
    )


def _run_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["at"]),
        rx.table.cell(t_choice("kb.mode", row["mode"], RETRIEVAL_MODES)),
        rx.table.cell(row["k"]),
        rx.table.cell(row["queries"]),
        rx.table.cell(rx.text(row["hit_rate"], class_name="hit-rate")),
        rx.table.cell(rx.text(row["mrr"], class_name="mrr")),
    )


def evaluation_panel() -> rx.Component:
    return section(
        "kb.evaluation",
        "kb.evaluation_intro",
        rx.cond(
            KnowledgeDetailState.queries.length() > 0,
            rx.table.root(
                headers("kb.query", "kb.expected_document", "kb.actions"),
                rx.table.body(rx.foreach(KnowledgeDetailState.queries, _query_row)),
                variant="surface",
                width="100%",
                id="kb-queries",
            ),
            rx.text(t("kb.no_queries"), size="2", color=rx.color("gray", 10)),
        ),
        rx.cond(
            KnowledgeDetailState.may_edit,
            rx.hstack(
                rx.button(
                    rx.icon("chart-line", size=14),
                    t("kb.evaluate"),
                    on_click=KnowledgeDetailState.evaluate,
                    loading=KnowledgeDetailState.evaluating,
                    disabled=KnowledgeDetailState.queries.length() == 0,
                    id="kb-evaluate",
                ),
                justify="end",
                width="100%",
            ),
        ),
        rx.cond(
            KnowledgeDetailState.runs.length() > 0,
            rx.vstack(
                rx.plotly.basic(
                    data=KnowledgeDetailState.history.to(go.Figure),
                    layout={
                        "height": 280,
                        "margin": {"l": 48, "r": 16, "t": 16, "b": 44},
                        "yaxis": {"range": [0, 1.05]},
                        "legend": {"orientation": "h", "y": -0.25},
                        "paper_bgcolor": "rgba(0,0,0,0)",
                    },
                    config={"displaylogo": False, "responsive": True},
                    id="kb-history-chart",
                    width="100%",
                ),
                rx.table.root(
                    headers("kb.run_at", "kb.retrieval_mode", "kb.k", "kb.queries", "kb.hit_rate", "kb.mrr"),
                    rx.table.body(rx.foreach(KnowledgeDetailState.runs, _run_row)),
                    variant="surface",
                    width="100%",
                    id="kb-runs",
                ),
                width="100%",
            ),
        ),
    )


def knowledge_detail() -> rx.Component:
    return page_shell(
        "kb.title",
        rx.cond(
            KnowledgeDetailState.kb.contains("id"),
            rx.vstack(
                rx.hstack(
                    rx.link(rx.icon("arrow-left", size=14), t("kb.back"), href="/knowledge", size="2"),
                    rx.heading(KnowledgeDetailState.kb["name"], size="6", id="kb-title"),
                    align="center",
                    spacing="4",
                ),
                rx.text(KnowledgeDetailState.kb["description"], size="2", color=rx.color("gray", 11)),
                documents(),
                recall_panel(),
                evaluation_panel(),
                settings_panel(),
                vocabulary_panel(),
                reembed_panel(),
                spacing="5",
                width="100%",
            ),
            rx.callout(t("kb.not_found"), icon="info", width="100%", id="kb-not-found"),
        ),
    )
