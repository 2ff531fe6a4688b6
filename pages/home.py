"""Home: platform health at a glance."""

import reflex as rx

from components.badges import status_badge
from components.i18n import t
from components.shell import page_shell
from state.home import COMPONENTS, HomeState

_STATUS_COLOR = {"ok": "green", "down": "red", "off": "gray"}


def _status_badge(status: rx.Var) -> rx.Component:
    return status_badge(status, _STATUS_COLOR, "status", fallback=rx.badge("…", color_scheme="gray"))


def _field(label_key: str, value: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.text(t(label_key), size="1", color=rx.color("gray", 10), min_width="64px"),
        rx.text(value, size="1", style={"word_break": "break-all"}),
        spacing="2",
        align="start",
    )


def _component_card(name: str) -> rx.Component:
    info = HomeState.components[name]
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(t(f"component.{name}"), weight="bold"), rx.spacer(), _status_badge(info["status"]), width="100%"
            ),
            _field("field.backend", info["backend"]),
            _field("field.target", info["target"]),
            _field("field.latency", info["latency"]),
            rx.text(info["detail"], size="1", color=rx.color("gray", 11)),
            spacing="2",
            width="100%",
        ),
        id=f"health-{name}",
        data_status=info["status"],
    )


def _overall() -> rx.Component:
    return rx.cond(
        HomeState.overall == "",
        rx.callout(t("home.checking"), icon="loader"),
        rx.cond(
            HomeState.overall == "ok",
            rx.callout(t("home.overall.ok"), icon="circle-check", color_scheme="green", id="health-overall"),
            rx.callout(t("home.overall.degraded"), icon="triangle-alert", color_scheme="red", id="health-overall"),
        ),
    )


def home() -> rx.Component:
    return page_shell(
        "home.title",
        rx.vstack(
            rx.hstack(
                rx.text(t("home.subtitle"), color=rx.color("gray", 11)),
                rx.spacer(),
                rx.text(t("home.checked_at"), ": ", HomeState.checked_at, size="1", color=rx.color("gray", 10)),
                rx.button(
                    rx.icon("refresh-cw", size=14),
                    t("home.refresh"),
                    on_click=HomeState.refresh,
                    loading=HomeState.loading,
                    id="health-refresh",
                ),
                width="100%",
                align="center",
            ),
            _overall(),
            rx.cond(
                HomeState.components.length() > 0,
                rx.grid(
                    *[_component_card(name) for name in COMPONENTS],
                    columns=rx.breakpoints(initial="1", md="2", xl="3"),
                    spacing="4",
                    width="100%",
                ),
            ),
            spacing="5",
            width="100%",
        ),
    )
