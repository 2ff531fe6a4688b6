"""Account: one's password, two-step sign-in (TOTP and recovery codes) and personal API keys."""

import reflex as rx

from components.api_keys import key_panel
from components.forms import copy_with_toast, field, section
from components.i18n import t
from components.shell import page_shell
from state.account import PASSWORD_MIN_LENGTH, AccountState


def _password_input(name: str, control_id: str, label_key: str, autocomplete: str) -> rx.Component:
    return field(
        label_key,
        rx.input(
            name=name,
            id=control_id,
            type="password",
            auto_complete=autocomplete,
            required=True,
            min_length=PASSWORD_MIN_LENGTH if name != "current" else None,
            width="100%",
        ),
        control_id,
    )


def _password_section() -> rx.Component:
    return section(
        "account.password",
        "account.password_intro",
        rx.form(
            rx.vstack(
                _password_input("current", "current-password", "account.current_password", "current-password"),
                _password_input("new", "new-password", "account.new_password", "new-password"),
                _password_input("confirm", "confirm-password", "account.confirm_password", "new-password"),
                rx.button(rx.icon("lock", size=14), t("account.change_password"), type="submit", id="change-password"),
                spacing="3",
                max_width="420px",
                width="100%",
            ),
            on_submit=AccountState.change_password,
            id="password-form",
        ),
        id="password-section",
    )


def _forced_change_notice() -> rx.Component:
    return rx.callout(
        t("account.must_change"),
        icon="triangle-alert",
        color_scheme="amber",
        width="100%",
        id="must-change-password",
    )


def _enrollment() -> rx.Component:
    return rx.vstack(
        rx.text(t("account.mfa_step_scan"), size="2", weight="medium"),
        rx.hstack(
            rx.image(
                src=AccountState.mfa_qr,
                alt=t("account.mfa_qr"),
                width="180px",
                height="180px",
                background="white",
                border_radius="8px",
            ),
            rx.vstack(
                rx.text(t("account.mfa_manual"), size="2", color=rx.color("gray", 11)),
                rx.code(AccountState.mfa_secret, id="mfa-secret", size="3", style={"word_break": "break-all"}),
                spacing="2",
                max_width="320px",
            ),
            spacing="5",
            align="center",
            wrap="wrap",
        ),
        rx.form(
            rx.hstack(
                field(
                    "account.mfa_step_code",
                    rx.input(
                        name="code",
                        id="mfa-code",
                        auto_complete="one-time-code",
                        input_mode="numeric",
                        max_length=6,
                        required=True,
                        width="160px",
                    ),
                    "mfa-code",
                    grow=False,
                ),
                rx.button(t("account.mfa_confirm"), type="submit", id="mfa-confirm"),
                rx.button(
                    t("common.cancel"),
                    on_click=AccountState.cancel_enrollment,
                    variant="soft",
                    color_scheme="gray",
                    type="button",
                ),
                align="end",
                spacing="3",
            ),
            on_submit=AccountState.confirm_enrollment,
        ),
        spacing="4",
        width="100%",
        id="mfa-enrollment",
    )


def _mfa_on() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.badge(rx.icon("shield-check", size=14), t("account.mfa_is_on"), color_scheme="green", size="2"),
            rx.text(t("account.recovery_left"), ": ", AccountState.recovery_left, size="2", id="recovery-left"),
            align="center",
            spacing="3",
        ),
        rx.text(t("account.mfa_manage_hint"), size="2", color=rx.color("gray", 11)),
        rx.hstack(
            rx.input(
                value=AccountState.manage_code,
                on_change=AccountState.set_manage_code,
                id="mfa-manage-code",
                placeholder="123456",
                aria_label=t("login.code"),
                input_mode="numeric",
                max_length=6,
                width="140px",
            ),
            rx.button(t("account.mfa_new_codes"), on_click=AccountState.regenerate_codes, variant="soft"),
            rx.button(t("account.mfa_turn_off"), on_click=AccountState.disable_mfa, color_scheme="red", variant="soft"),
            spacing="3",
            align="center",
        ),
        spacing="3",
        width="100%",
    )


def _mfa_off() -> rx.Component:
    return rx.hstack(
        rx.badge(rx.icon("shield-off", size=14), t("account.mfa_is_off"), color_scheme="gray", size="2"),
        rx.button(
            rx.icon("smartphone", size=14),
            t("account.mfa_turn_on"),
            on_click=AccountState.start_enrollment,
            id="mfa-start",
        ),
        spacing="3",
        align="center",
    )


def _recovery_codes() -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.icon("life-buoy")),
        rx.vstack(
            rx.text(t("account.recovery_title"), weight="bold", size="2"),
            rx.text(t("account.recovery_hint"), size="2"),
            rx.grid(
                rx.foreach(AccountState.recovery_codes, lambda code: rx.code(code, size="3")),
                columns="2",
                spacing="2",
                id="recovery-codes",
            ),
            rx.hstack(
                rx.button(
                    rx.icon("copy", size=14),
                    t("common.copy"),
                    on_click=copy_with_toast(AccountState.recovery_codes.join("\n")),
                    variant="soft",
                    size="1",
                ),
                rx.button(t("common.saved_it"), on_click=AccountState.dismiss_codes, size="1", id="recovery-done"),
                spacing="2",
            ),
            spacing="3",
        ),
        color_scheme="amber",
        width="100%",
    )


def _mfa_section() -> rx.Component:
    return section(
        "account.mfa",
        "account.mfa_intro",
        rx.cond(AccountState.recovery_codes.length() > 0, _recovery_codes()),
        rx.cond(
            AccountState.mfa_enabled,
            _mfa_on(),
            rx.cond(AccountState.enrolling, _enrollment(), _mfa_off()),
        ),
        id="mfa-section",
    )


def _keys_section() -> rx.Component:
    return section(
        "account.keys",
        "account.keys_intro",
        rx.cond(
            AccountState.tenant_id != "",
            key_panel(show_owner=False),
            rx.callout(t("account.keys_need_tenant"), icon="info", width="100%"),
        ),
        id="keys-section",
    )


def account() -> rx.Component:
    return page_shell(
        "account.title",
        rx.vstack(
            rx.cond(
                AccountState.must_change_password,
                rx.vstack(_forced_change_notice(), _password_section(), spacing="4", width="100%"),
                rx.vstack(_password_section(), _mfa_section(), _keys_section(), spacing="5", width="100%"),
            ),
            width="100%",
            max_width="1100px",
        ),
        during_password_change=True,
    )
