"""The one-click sample actions of the guided empty states: sample datasets (R&D, Assets), the
sample knowledge base (Knowledge) and the medical Q&A agent from its template (Agents)."""

import reflex as rx

from components.i18n import t
from state.samples import AGENT, KNOWLEDGE_BASE, SamplesState


def _button(label_key: str, icon: str, on_click: rx.event.EventType, which: str, button_id: str) -> rx.Component:
    return rx.button(
        rx.icon(icon, size=14),
        t(label_key),
        on_click=on_click,
        loading=SamplesState.working == which,
        disabled=SamplesState.working != "",
        variant="soft",
        id=button_id,
    )


def sample_datasets(id_prefix: str) -> rx.Component:
    """Import the sample SFT and preference datasets the tenant lacks (``<id_prefix>-sft``,
    ``<id_prefix>-preference``); nothing when it has both."""
    return rx.box(
        rx.cond(
            SamplesState.offers_datasets,
            rx.callout.root(
                rx.callout.icon(rx.icon("flask-conical")),
                rx.vstack(
                    rx.callout.text(t("samples.datasets_intro")),
                    rx.hstack(
                        rx.cond(
                            SamplesState.offer_sft,
                            _button(
                                "samples.import_sft",
                                "file-plus",
                                SamplesState.import_dataset("sft"),
                                "sft",
                                f"{id_prefix}-sft",
                            ),
                        ),
                        rx.cond(
                            SamplesState.offer_preference,
                            _button(
                                "samples.import_preference",
                                "file-plus",
                                SamplesState.import_dataset("preference"),
                                "preference",
                                f"{id_prefix}-preference",
                            ),
                        ),
                        spacing="3",
                        wrap="wrap",
                    ),
                    spacing="2",
                ),
                color_scheme="teal",
                width="100%",
            ),
        ),
        on_mount=SamplesState.load,
        width="100%",
        id=f"{id_prefix}-offer",
    )


def _empty_state(intro_key: str, action: rx.Component, box_id: str) -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.icon("sparkles")),
        rx.vstack(rx.callout.text(t(intro_key)), action, spacing="2"),
        color_scheme="teal",
        width="100%",
        id=box_id,
    )


def sample_knowledge_base() -> rx.Component:
    """No knowledge base yet: make the sample one in one click."""
    return _empty_state(
        "samples.kb_intro",
        _button("samples.create_kb", "library", SamplesState.create_knowledge_base, KNOWLEDGE_BASE, "cta-sample-kb"),
        "kb-empty-state",
    )


def sample_agent() -> rx.Component:
    """No agent yet: make the medical Q&A agent from its template in one click."""
    return _empty_state(
        "samples.agent_intro",
        _button("samples.create_agent", "bot", SamplesState.create_agent, AGENT, "cta-sample-agent"),
        "agents-empty-state",
    )
