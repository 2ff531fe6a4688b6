"""Sign-in: e-mail and password, then a one-time code when the account has two-step sign-in."""

import reflex as rx

from components.forms import field
from components.i18n import t
from components.shell import language_switch, theme_toggle
from state.auth import AuthState


def _brand() -> rx.Component:
    return rx.hstack(
        rx.icon("hospital", size=32, color=rx.color("accent", 9)),
        rx.vstack(
            rx.heading("MedAI Studio", size="6"),
            rx.text(t("app.tagline"), size="2", color=rx.color("gray", 10)),
            spacing="0",
        ),
        align="center",
        spacing="3",
    )


def _password_step() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading(t("login.title"), size="5"),
            rx.text(t("login.subtitle"), size="2", color=rx.color("gray", 11)),
            field(
                "login.email",
                rx.input(
                    name="email",
                    id="login-email",
                    type="email",
                    auto_complete="username",
                    required=True,
                    auto_focus=True,
                    size="3",
                    width="100%",
                ),
                "login-email",
            ),
            field(
                "login.password",
                rx.input(
                    name="password",
                    id="login-password",
                    type="password",
                    auto_complete="current-password",
                    required=True,
                    size="3",
                    width="100%",
                ),
                "login-password",
            ),
            rx.button(
                rx.icon("log-in", size=16),
                t("login.submit"),
                type="submit",
                loading=AuthState.signing_in,
                disabled=~rx.State.is_hydrated,  # a click before the page is live would post the form as a plain GET
                id="login-submit",
                size="3",
                width="100%",
            ),
            rx.text(t("login.first_run"), size="1", color=rx.color("gray", 10)),
            spacing="4",
            width="100%",
        ),
        on_submit=AuthState.sign_in,
        id="login-form",
    )


def _code_step() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading(t("login.code_title"), size="5"),
            rx.text(t("login.code_hint"), size="2", color=rx.color("gray", 11)),
            field(
                "login.code",
                rx.input(
                    name="code",
                    id="login-code",
                    auto_complete="one-time-code",
                    input_mode="numeric",
                    required=True,
                    auto_focus=True,
                    size="3",
                    width="100%",
                ),
                "login-code",
            ),
            rx.button(
                rx.icon("shield-check", size=16),
                t("login.verify"),
                type="submit",
                loading=AuthState.signing_in,
                disabled=~rx.State.is_hydrated,
                id="login-verify",
                size="3",
                width="100%",
            ),
            rx.button(
                t("login.back"), on_click=AuthState.restart_sign_in, type="button", variant="ghost", width="100%"
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=AuthState.submit_code,
        reset_on_submit=True,
        id="code-form",
    )


def login() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.hstack(rx.spacer(), language_switch(), theme_toggle(), width="100%", align="center"),
            rx.card(
                rx.vstack(
                    _brand(),
                    rx.separator(size="4"),
                    rx.cond(AuthState.mfa_step, _code_step(), _password_step()),
                    spacing="5",
                    width="100%",
                ),
                size="4",
                width="100%",
            ),
            spacing="3",
            width="420px",
            max_width="94vw",
        ),
        min_height="100vh",
        width="100%",
        background=rx.color("gray", 2),
    )
