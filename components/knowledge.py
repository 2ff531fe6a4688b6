"""Pieces the knowledge-base pages share: retrieval modes, the embedding model select and a
document's ingestion status."""

import reflex as rx

from components.badges import status_badge
from components.forms import options, select
from state.knowledge import EMBEDDING_CHOICES

RETRIEVAL_MODES = ("hybrid", "vector", "text")
DOCUMENT_STATUSES = ("queued", "parsing", "chunking", "embedding", "ready", "failed")
_COLOR = {"queued": "gray", "parsing": "blue", "chunking": "blue", "embedding": "blue", "ready": "green"}
DOCUMENT_COLORS = {s: _COLOR.get(s, "red") for s in DOCUMENT_STATUSES}


def embedding_select(control_id: str, value: rx.Var, on_change: rx.event.EventType) -> rx.Component:
    """The built-in embedding models (multilingual-e5-small first, the default), or "other"."""
    return select(control_id, options("kb.embedding", EMBEDDING_CHOICES), value, on_change)


def mode_select(control_id: str, value: rx.Var, on_change: rx.event.EventType) -> rx.Component:
    """The retrieval mode: hybrid, vector or full text."""
    return select(control_id, options("kb.mode", RETRIEVAL_MODES), value, on_change)


def document_status(status: rx.Var) -> rx.Component:
    """A document's ingestion status, translated, coloured and marked (``data-status``, class "status")."""
    return status_badge(status, DOCUMENT_COLORS, "kb.status", mark=True, class_name="status")
