"""API keys: the create form (name, scopes, lifetime), the key shown once, and the key list.
The account page uses it for personal keys; the admin page for the tenant's keys."""

import reflex as rx

from components.display import when
from components.forms import field, shown_once
from components.i18n import t, t_choice
from state.api_keys import DEFAULT_EXPIRY_DAYS, SCOPES, ApiKeysState

_STATE_COLOR = {"active": "green", "expired": "gray", "revoked": "red"}


def scope_key(scope: str) -> str:
    """The translation key of a scope's description (``models:invoke`` → ``scope.models_invoke``)."""
    return "scope." + scope.replace(":", "_")


def _scope_box(scope: str) -> rx.Component:
    return rx.checkbox(
        rx.hstack(rx.code(scope, size="1"), rx.text(t(scope_key(scope)), size="1", color=rx.color("gray", 11))),
        checked=ApiKeysState.chosen_scopes.contains(scope),
        on_change=lambda on: ApiKeysState.toggle_scope(scope, on),
        size="2",
    )


def _create_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.hstack(
                field(
                    "keys.name",
                    rx.input(
                        name="name", id="api-key-name", width="100%", placeholder=t("keys.name_example"), required=True
                    ),
                    "api-key-name",
                ),
                rx.box(
                    field(
                        "keys.expiry",
                        rx.input(
                            name="expires_in_days",
                            id="api-key-expiry",
                            width="100%",
                            type="number",
                            min=1,
                            max=730,
                            default_value=str(DEFAULT_EXPIRY_DAYS),
                        ),
                        "api-key-expiry",
                    ),
                    width="160px",
                    flex="none",
                ),
                width="100%",
                align="start",
                spacing="4",
            ),
            rx.text(t("keys.scopes"), size="2", weight="medium"),
            rx.grid(*[_scope_box(scope) for scope in SCOPES], columns=rx.breakpoints(initial="1", md="2"), spacing="2"),
            rx.button(rx.icon("plus", size=14), t("keys.create"), type="submit", id="create-api-key"),
            spacing="3",
            width="100%",
        ),
        on_submit=ApiKeysState.create,
        id="api-key-form",
        width="100%",
    )


def _state_badge(state: rx.Var) -> rx.Component:
    return rx.match(
        state,
        *[(name, rx.badge(t(f"keys.state.{name}"), color_scheme=color)) for name, color in _STATE_COLOR.items()],
        rx.badge(state),
    )


def _key_row(key: rx.Var, show_owner: bool) -> rx.Component:
    owner_cells = (
        [rx.table.cell(t_choice("keys.kind", key["kind"], ["personal", "tenant"])), rx.table.cell(key["owner"])]
        if show_owner
        else []
    )
    return rx.table.row(
        rx.table.cell(rx.text(key["name"], weight="medium")),
        *owner_cells,
        rx.table.cell(rx.code(key["prefix"], size="1")),
        rx.table.cell(rx.text(key["scopes"], size="1")),
        rx.table.cell(_state_badge(key["state"])),
        rx.table.cell(when(key["created"])),
        rx.table.cell(when(key["expires"])),
        rx.table.cell(when(key["last_used"])),
        rx.table.cell(
            rx.button(
                t("keys.revoke"),
                on_click=ApiKeysState.revoke(key["id"]),
                disabled=key["state"] != "active",
                color_scheme="red",
                variant="soft",
                size="1",
            )
        ),
        data_key_name=key["name"],
        data_state=key["state"],
    )


def key_list(show_owner: bool) -> rx.Component:
    owner_headers = [rx.table.column_header_cell(t("keys.kind")), rx.table.column_header_cell(t("keys.owner"))]
    return rx.cond(
        ApiKeysState.keys.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(t("keys.name")),
                    *(owner_headers if show_owner else []),
                    rx.table.column_header_cell(t("keys.prefix")),
                    rx.table.column_header_cell(t("keys.scopes")),
                    rx.table.column_header_cell(t("keys.state")),
                    rx.table.column_header_cell(t("keys.created")),
                    rx.table.column_header_cell(t("keys.expires")),
                    rx.table.column_header_cell(t("keys.last_used")),
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(rx.foreach(ApiKeysState.keys, lambda key: _key_row(key, show_owner))),
            variant="surface",
            width="100%",
            id="api-key-list",
        ),
        rx.text(t("keys.none"), size="2", color=rx.color("gray", 10), id="api-key-list"),
    )


def key_panel(show_owner: bool) -> rx.Component:
    """Create form, the new key (once), and the list."""
    return rx.vstack(
        _create_form(),
        rx.cond(
            ApiKeysState.new_token != "",
            shown_once("keys.new_title", ApiKeysState.new_token, "new-api-key", ApiKeysState.dismiss_token),
        ),
        key_list(show_owner),
        spacing="4",
        width="100%",
    )
