"""/knowledge/[kb_id]/documents/[document_id]: a document's text as it was chunked, with the passage
an agent cited (``?from=&to=``, character offsets) marked and scrolled into view."""

import reflex as rx

from components.i18n import t
from components.shell import page_shell
from state.knowledge_document import PASSAGE_ID
from state.knowledge_document import KnowledgeDocumentState as S


def _notices() -> rx.Component:
    return rx.vstack(
        rx.cond(
            S.passage != "",
            rx.hstack(
                rx.text(t("knowledge.document.passage"), " ", S.document["passage_at"], size="2"),
                rx.button(
                    rx.icon("locate", size=14),
                    t("knowledge.document.to_passage"),
                    size="1",
                    variant="soft",
                    on_click=S.to_passage,
                    id="doc-to-passage",
                ),
                align="center",
            ),
            rx.cond(
                S.asked_passage,
                rx.callout(t("knowledge.document.no_passage"), icon="info", size="1", id="doc-no-passage"),
            ),
        ),
        rx.cond(
            S.clipped,
            rx.text(t("knowledge.document.clipped"), " ", S.document["shown"], size="1", color=rx.color("gray", 11)),
        ),
        spacing="2",
        width="100%",
    )


def _text() -> rx.Component:
    return rx.el.pre(
        S.before,
        rx.cond(
            S.passage != "",
            rx.el.mark(
                S.passage,
                id=PASSAGE_ID,
                style={"background": rx.color("amber", 5), "border_radius": "2px", "scroll_margin": "96px"},
            ),
        ),
        S.after,
        id="doc-text",
        style={
            "white_space": "pre-wrap",
            "word_break": "break-word",
            "font_family": "inherit",
            "font_size": "14px",
            "line_height": "1.7",
            "margin": "0",
        },
    )


def knowledge_document() -> rx.Component:
    return page_shell(
        "knowledge.document.title",
        rx.cond(
            S.document.contains("id"),
            rx.vstack(
                rx.hstack(
                    rx.link(
                        rx.icon("arrow-left", size=14), S.document["kb_name"], href=S.document["kb_href"], size="2"
                    ),
                    rx.heading(S.document["name"], size="5", id="doc-title"),
                    rx.badge(S.document["format"], variant="outline"),
                    rx.text(
                        S.document["chars"], " ", t("knowledge.document.chars"), size="1", color=rx.color("gray", 10)
                    ),
                    align="center",
                    spacing="3",
                    wrap="wrap",
                ),
                _notices(),
                rx.card(_text(), width="100%"),
                spacing="4",
                width="100%",
            ),
            rx.cond(
                S.loaded,
                rx.callout(t("knowledge.document.not_found"), icon="info", width="100%", id="doc-not-found"),
                rx.center(rx.spinner(size="3"), width="100%", padding="48px"),
            ),
        ),
    )
