"""The Playground: pick a ready service, set the system prompt, temperature and answer length,
chat; the answer streams in through the platform's gateway (Stop ends it where it is), then its
tokens and latency show."""

import reflex as rx

from components.forms import field, section
from components.i18n import t
from components.shell import page_shell
from state.playground import PlaygroundState


def _no_service() -> rx.Component:
    """Nothing ready to chat with: the starter model is on its way, or say how to get a service."""
    return rx.cond(
        PlaygroundState.starter_starting,
        rx.callout(
            t("playground.starter_starting"),
            icon="loader",
            color_scheme="blue",
            id="playground-starter-starting",
        ),
        rx.callout.root(
            rx.callout.icon(rx.icon("info")),
            rx.vstack(
                rx.callout.text(t("playground.no_services")),
                rx.link(
                    rx.button(rx.icon("rocket", size=14), t("playground.go_deploy"), size="2", id="cta-go-deploy"),
                    href="/serving",
                ),
                spacing="2",
            ),
            color_scheme="amber",
            id="playground-no-services",
        ),
    )


def _settings() -> rx.Component:
    return rx.box(
        section(
            "playground.settings",
            "playground.settings_intro",
            rx.cond(
                PlaygroundState.services.length() > 0,
                field(
                    "playground.service",
                    rx.select.root(
                        rx.select.trigger(id="playground-service", width="100%"),
                        rx.select.content(rx.foreach(PlaygroundState.services, lambda s: rx.select.item(s, value=s))),
                        value=PlaygroundState.service,
                        on_change=PlaygroundState.set_service,
                    ),
                    "playground-service",
                ),
                _no_service(),
            ),
            field(
                "playground.system_prompt",
                rx.text_area(
                    value=PlaygroundState.system_prompt,
                    on_change=PlaygroundState.set_system_prompt,
                    id="playground-system",
                    rows="4",
                    width="100%",
                ),
                "playground-system",
            ),
            rx.vstack(
                rx.text(
                    t("playground.temperature"),
                    " ",
                    rx.text.span(PlaygroundState.temperature, id="playground-temperature-value"),
                    size="2",
                    weight="medium",
                ),
                rx.slider(
                    value=[PlaygroundState.temperature],
                    on_change=PlaygroundState.set_temperature,
                    min=0,
                    max=2,
                    step=0.05,
                    id="playground-temperature",
                ),
                width="100%",
            ),
            field(
                "playground.max_tokens",
                rx.input(
                    value=PlaygroundState.max_tokens,
                    on_change=PlaygroundState.set_max_tokens,
                    id="playground-max-tokens",
                    width="100%",
                ),
                "playground-max-tokens",
            ),
            rx.button(
                rx.icon("eraser", size=14),
                t("playground.clear"),
                on_click=PlaygroundState.clear,
                variant="soft",
                size="1",
                id="playground-clear",
            ),
        ),
        width="340px",
        flex_shrink="0",
    )


def _message(message: rx.Var) -> rx.Component:
    mine = message["role"] == "user"
    return rx.box(
        rx.text(rx.cond(mine, t("playground.you"), t("playground.assistant")), size="1", color=rx.color("gray", 10)),
        rx.cond(
            mine,
            rx.text(message["content"], white_space="pre-wrap", size="2"),
            rx.markdown(message["content"]),
        ),
        background=rx.cond(mine, rx.color("teal", 3), rx.color("gray", 2)),
        border=f"1px solid {rx.color('gray', 5)}",
        border_radius="10px",
        padding="10px 14px",
        max_width="85%",
        overflow_wrap="anywhere",
        align_self=rx.cond(mine, "flex-end", "flex-start"),
        class_name=rx.cond(mine, "chat-user", "chat-assistant"),
    )


def _stats() -> rx.Component:
    stats = PlaygroundState.stats
    return rx.cond(
        stats.length() > 0,
        rx.hstack(
            rx.cond(
                stats["stopped"] != "",
                rx.badge(
                    rx.icon("circle-stop", size=12), t("playground.stopped"), color_scheme="amber", id="stat-stopped"
                ),
            ),
            rx.badge(t("playground.prompt_tokens"), " ", rx.text.span(stats["prompt_tokens"], id="stat-prompt-tokens")),
            rx.badge(
                t("playground.completion_tokens"),
                " ",
                rx.text.span(stats["completion_tokens"], id="stat-completion-tokens"),
            ),
            rx.badge(
                t("playground.first_token"), " ", rx.text.span(stats["first_token_ms"], id="stat-first-token"), " ms"
            ),
            rx.badge(t("playground.total"), " ", rx.text.span(stats["total_ms"], id="stat-total"), " ms"),
            spacing="2",
            wrap="wrap",
            id="playground-stats",
        ),
    )


def _chat() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.box(  # scrolls, kept at its end while an answer streams (column-reverse), so the input stays put
                rx.vstack(
                    rx.cond(
                        PlaygroundState.messages.length() == 0,
                        rx.text(t("playground.empty"), size="2", color=rx.color("gray", 10)),
                    ),
                    rx.foreach(PlaygroundState.messages, _message),
                    spacing="3",
                    width="100%",
                ),
                display="flex",
                flex_direction="column-reverse",
                overflow_y="auto",
                min_height="360px",
                max_height="60vh",
                width="100%",
                id="chat-messages",
            ),
            _stats(),
            rx.form(
                rx.hstack(
                    rx.input(
                        value=PlaygroundState.draft,
                        on_change=PlaygroundState.set_draft,
                        placeholder=t("playground.placeholder"),
                        id="playground-input",
                        width="100%",
                        size="3",
                    ),
                    rx.cond(
                        PlaygroundState.streaming,
                        rx.button(
                            rx.icon("square", size=16),
                            t("playground.stop"),
                            type="button",
                            on_click=PlaygroundState.stop,
                            loading=PlaygroundState.stop_requested,
                            color_scheme="red",
                            variant="soft",
                            id="playground-stop",
                            size="3",
                        ),
                        rx.button(
                            rx.icon("send", size=16),
                            t("playground.send"),
                            type="submit",
                            disabled=PlaygroundState.service == "",
                            id="playground-send",
                            size="3",
                        ),
                    ),
                    width="100%",
                ),
                on_submit=lambda _form: PlaygroundState.send(),
                reset_on_submit=False,
                width="100%",
            ),
            spacing="4",
            width="100%",
        ),
        width="100%",
    )


def playground() -> rx.Component:
    return page_shell(
        "playground.title",
        rx.cond(
            PlaygroundState.tenant_id == "",
            rx.callout(t("serving.pick_tenant"), icon="info", width="100%"),
            rx.hstack(_settings(), _chat(), spacing="5", width="100%", align="start"),
        ),
    )
