"""/agents/[agent_id]/chat: the web chat of a published agent, without the platform's frame, so
it can be embedded in a page with an iframe."""

from __future__ import annotations

import reflex as rx

from components.i18n import t
from state.agent_chat import AgentChatState as S
from state.auth import AuthState


def _citation(c: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.icon("file-text", size=12),
        rx.cond(
            c["href"].to(str) != "",
            rx.link(
                c["document"].to(str),
                href=c["href"].to(str),
                is_external=True,
                size="1",
                weight="medium",
                class_name="citation-link",
            ),
            rx.text(c["document"], size="1", weight="medium"),
        ),
        rx.code(c["chunk"], size="1"),
        align="center",
        class_name="chat-citation",
        title=c["text"],
    )


def _message(m: rx.Var) -> rx.Component:
    mine = m["role"] == "user"
    return rx.box(
        rx.markdown(m["content"].to(str)),
        rx.cond(
            m["citations"].to(list).length() > 0,
            rx.vstack(rx.foreach(m["citations"].to(list[dict]), _citation), spacing="1", padding_top="6px"),
        ),
        align_self=rx.cond(mine, "flex-end", "flex-start"),
        background=rx.cond(mine, rx.color("accent", 3), rx.color("gray", 3)),
        padding="8px 12px",
        border_radius="10px",
        max_width="80%",
        class_name=rx.cond(mine, "chat-user", "chat-assistant"),
    )


def agent_chat() -> rx.Component:
    return rx.cond(
        AuthState.signed_in,
        rx.vstack(
            rx.hstack(
                rx.icon("bot", size=20),
                rx.heading(S.agent_name, size="4", id="chat-agent"),
                rx.spacer(),
                rx.button(t("agents.webchat.new"), on_click=S.new_conversation, variant="ghost", size="1"),
                width="100%",
                align="center",
            ),
            rx.cond(~S.live, rx.callout.root(rx.callout.text(t("agents.webchat.not_published")), color_scheme="amber")),
            rx.vstack(rx.foreach(S.messages, _message), width="100%", flex="1", overflow_y="auto", id="chat-messages"),
            rx.hstack(
                rx.input(
                    value=S.draft,
                    on_change=S.set_draft,
                    placeholder=t("agents.webchat.placeholder"),
                    width="100%",
                    id="chat-input",
                ),
                rx.button(t("agents.webchat.send"), on_click=S.send, loading=S.answering, id="chat-send"),
                width="100%",
            ),
            height="100vh",
            padding="16px",
            max_width="860px",
            margin="0 auto",
        ),
        rx.center(rx.spinner(size="3"), height="100vh"),
    )
