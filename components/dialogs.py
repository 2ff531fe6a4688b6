"""Dialogs shared by the pages: a confirmation asked before something that cannot be undone."""

from __future__ import annotations

import reflex as rx

from components.i18n import t


def confirm_dialog(
    trigger: rx.Component,
    title_key: str,
    text_key: str,
    confirm_key: str,
    on_confirm: rx.event.EventType,
    confirm_id: str,
    color_scheme: str = "red",
) -> rx.Component:
    """``trigger`` opens a dialog with Cancel and a confirm button (``confirm_id``) that runs ``on_confirm``."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(trigger),
        rx.alert_dialog.content(
            rx.alert_dialog.title(t(title_key)),
            rx.alert_dialog.description(t(text_key)),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button(t("common.cancel"), variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(t(confirm_key), color_scheme=color_scheme, on_click=on_confirm, id=confirm_id)
                ),
                justify="end",
                spacing="3",
                padding_top="12px",
            ),
        ),
    )
