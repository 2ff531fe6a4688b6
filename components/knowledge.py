"""Pieces the knowledge-base pages share: retrieval modes, the embedding model and languages
selects, a document's ingestion status and the full-text re-index status."""

import reflex as rx

from components.badges import status_badge
from components.forms import options, select
from state.knowledge import EMBEDDING_CHOICES, LANGUAGE_CHOICES

RETRIEVAL_MODES = ("hybrid", "vector", "text")
DOCUMENT_STATUSES = ("queued", "parsing", "chunking", "embedding", "ready", "failed")
_COLOR = {"queued": "gray", "parsing": "blue", "chunking": "blue", "embedding": "blue", "ready": "green"}
DOCUMENT_COLORS = {s: _COLOR.get(s, "red") for s in DOCUMENT_STATUSES}
TEXT_INDEX_COLORS = {"queued": "gray", "running": "blue", "done": "green", "failed": "red"}


def embedding_select(control_id: str, value: rx.Var, on_change: rx.event.EventType) -> rx.Component:
    """The built-in embedding models (multilingual-e5-small first, the default), or "other"."""
    return select(control_id, options("kb.embedding", EMBEDDING_CHOICES), value, on_change)


def mode_select(control_id: str, value: rx.Var, on_change: rx.event.EventType) -> rx.Component:
    """The retrieval mode: hybrid, vector or full text."""
    return select(control_id, options("kb.mode", RETRIEVAL_MODES), value, on_change)


def document_status(status: rx.Var) -> rx.Component:
    """A document's ingestion status, translated, coloured and marked (``data-status``, class "status")."""
    return status_badge(status, DOCUMENT_COLORS, "kb.status", mark=True, class_name="status")


def languages_select(control_id: str, value: rx.Var, on_change: rx.event.EventType) -> rx.Component:
    """The languages a knowledge base holds: auto (detect), Chinese, English or both."""
    return select(control_id, options("kb.languages", tuple(LANGUAGE_CHOICES)), value, on_change)


def text_index_status(status: rx.Var) -> rx.Component:
    """The full-text re-index's status after a vocabulary change, translated and marked; nothing before the first."""
    return status_badge(
        status, TEXT_INDEX_COLORS, "kb.text_index", fallback=rx.fragment(), mark=True, id="kb-text-index-status"
    )
