"""Knowledge bases: the tenant's knowledge bases and a form to create one (name, chunking,
visibility, embedding model, PHI masking)."""

import reflex as rx

from components.forms import field, form_input, form_select, options, section
from components.i18n import t, t_choice
from components.knowledge import RETRIEVAL_MODES, embedding_select
from components.samples import sample_knowledge_base
from components.shell import page_shell
from state.knowledge import OTHER_MODEL, KnowledgeState

CHUNK_MODES = ("general", "qa", "parent_child")
VISIBILITIES = ("only_me", "members", "tenant")


def _input(key: str, label_key: str, hint_key: str = "", placeholder: str = "") -> rx.Component:
    return form_input(
        KnowledgeState.form, KnowledgeState.set_field, key, label_key, "kb", hint_key, placeholder=placeholder
    )


def _choice(key: str, label_key: str, values: tuple[str, ...], prefix: str) -> rx.Component:
    return form_select(KnowledgeState.form, KnowledgeState.set_field, key, label_key, "kb", options(prefix, values))


def _embedding_choice() -> rx.Component:
    choice = KnowledgeState.form["embedding_choice"]
    return field(
        "kb.embedding_model",
        embedding_select("kb-embedding-choice", choice, KnowledgeState.choose_embedding),
        "kb-embedding-choice",
    )


def _member_choice(member: rx.Var) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.checkbox(
                checked=KnowledgeState.chosen.contains(member["id"]),
                on_change=lambda on: KnowledgeState.choose_member(member["id"], on),
            ),
            rx.text(member["name"], size="2", weight="medium"),
            rx.text(member["email"], size="1", color=rx.color("gray", 11)),
            spacing="2",
            align="center",
        ),
        data_member=member["email"],
    )


def _member_picker() -> rx.Component:
    """Who else may see the knowledge base when it is visible to chosen members."""
    return rx.vstack(
        rx.text(t("kb.members_pick"), size="2", weight="medium"),
        rx.cond(
            KnowledgeState.members.length() > 0,
            rx.flex(rx.foreach(KnowledgeState.members, _member_choice), wrap="wrap", spacing="4"),
            rx.text(t("kb.members_none"), size="2", color=rx.color("gray", 11)),
        ),
        id="kb-members",
        spacing="2",
        width="100%",
    )


def create_form() -> rx.Component:
    return section(
        "kb.new",
        "kb.new_intro",
        rx.grid(
            _input("name", "kb.name", "", "hypertension-guidelines"),
            _input("description", "kb.description"),
            _choice("chunk_mode", "kb.chunk_mode", CHUNK_MODES, "kb.chunk_mode"),
            _choice("visibility", "kb.visibility", VISIBILITIES, "kb.visibility"),
            _input("chunk_size", "kb.chunk_size", "kb.chunk_size_hint"),
            _input("chunk_overlap", "kb.chunk_overlap"),
            _embedding_choice(),
            rx.cond(
                KnowledgeState.form["embedding_choice"] == OTHER_MODEL,
                _input("embedding_model", "kb.embedding_other", "kb.embedding_model_hint"),
            ),
            field(
                "kb.mask_phi",
                rx.switch(
                    checked=KnowledgeState.form["mask_phi"] == "on",
                    on_change=lambda on: KnowledgeState.set_field("mask_phi", on),
                    id="kb-mask-phi",
                ),
                "kb-mask-phi",
                "kb.mask_phi_hint",
            ),
            columns=rx.breakpoints(initial="1", md="2", lg="3"),
            spacing="4",
            width="100%",
        ),
        rx.cond(KnowledgeState.form["visibility"] == "members", _member_picker()),
        rx.hstack(
            rx.button(
                rx.icon("plus", size=16),
                t("kb.create"),
                on_click=KnowledgeState.create,
                loading=KnowledgeState.creating,
                id="kb-create",
            ),
            justify="end",
            width="100%",
        ),
        id="kb-new",
    )


def _row(kb: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(kb["name"], href="/knowledge/" + kb["id"], weight="medium")),
        rx.table.cell(rx.text(kb["description"], size="2", color=rx.color("gray", 11))),
        rx.table.cell(rx.text(kb["documents"])),
        rx.table.cell(rx.badge(t_choice("kb.chunk_mode", kb["chunk_mode"], CHUNK_MODES), variant="outline")),
        rx.table.cell(rx.badge(t_choice("kb.mode", kb["retrieval_mode"], RETRIEVAL_MODES), variant="soft")),
        rx.table.cell(t_choice("kb.visibility", kb["visibility"], VISIBILITIES)),
        rx.table.cell(rx.text(kb["created_by"], size="2")),
        data_name=kb["name"],
    )


def kb_list() -> rx.Component:
    return section(
        "kb.list",
        "kb.list_intro",
        rx.cond(
            KnowledgeState.bases.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(t(k))
                            for k in (
                                "kb.name",
                                "kb.description",
                                "kb.documents",
                                "kb.chunk_mode",
                                "kb.retrieval_mode",
                                "kb.visibility",
                                "kb.created_by",
                            )
                        ]
                    )
                ),
                rx.table.body(rx.foreach(KnowledgeState.bases, _row)),
                variant="surface",
                width="100%",
                id="kb-list",
            ),
            rx.vstack(
                rx.text(t("kb.none"), size="2", color=rx.color("gray", 10), id="kb-none"),
                rx.cond(KnowledgeState.may_create, sample_knowledge_base()),
                spacing="3",
                width="100%",
            ),
        ),
    )


def knowledge_page() -> rx.Component:
    return page_shell(
        "kb.title",
        rx.cond(
            KnowledgeState.tenant_id == "",
            rx.callout(t("kb.pick_tenant"), icon="info", width="100%"),
            rx.cond(
                KnowledgeState.may_view,
                rx.vstack(
                    kb_list(),
                    rx.cond(KnowledgeState.may_create, create_form()),
                    spacing="5",
                    width="100%",
                ),
                rx.callout(t("kb.not_allowed"), icon="lock", color_scheme="amber", width="100%"),
            ),
        ),
    )
