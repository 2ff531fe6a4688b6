"""Form pieces shared by the pages: labelled fields, section cards and secrets shown once."""

import reflex as rx

from components.i18n import t


def field(
    label_key: str, control: rx.Component, control_id: str, hint_key: str = "", grow: bool = True
) -> rx.Component:
    """A control with a visible label tied to it (so screen readers and tests find it by name).
    In a row of fields, each one that ``grow``s takes an equal share of the width."""
    return rx.vstack(
        rx.el.label(rx.text(t(label_key), size="2", weight="medium"), html_for=control_id),
        control,
        rx.text(t(hint_key), size="1", color=rx.color("gray", 10)) if hint_key else rx.fragment(),
        spacing="1",
        width="100%" if grow else "auto",
        flex="1" if grow else "none",
    )


def section(title_key: str, intro_key: str, *children: rx.Component, **props: object) -> rx.Component:
    """A titled card; the page's sections stack in a column."""
    return rx.card(
        rx.vstack(
            rx.heading(t(title_key), size="4"),
            rx.text(t(intro_key), size="2", color=rx.color("gray", 11)),
            *children,
            spacing="4",
            width="100%",
        ),
        width="100%",
        size="3",
        **props,
    )


def shown_once(title_key: str, value: rx.Var, value_id: str, on_done: rx.event.EventType) -> rx.Component:
    """A secret the platform keeps only as a hash: shown here once, with copy and dismiss."""
    return rx.callout.root(
        rx.callout.icon(rx.icon("key-round")),
        rx.vstack(
            rx.text(t(title_key), weight="bold", size="2"),
            rx.text(t("common.shown_once"), size="2"),
            rx.hstack(
                rx.code(value, id=value_id, size="3", variant="outline", style={"word_break": "break-all"}),
                rx.icon_button(
                    rx.icon("copy", size=14),
                    on_click=[rx.set_clipboard(value), rx.toast.info(t("common.copied"), position="top-center")],
                    variant="soft",
                    title=t("common.copy"),
                    aria_label=t("common.copy"),
                    type="button",
                ),
                align="center",
                wrap="wrap",
            ),
            rx.button(t("common.saved_it"), on_click=on_done, variant="soft", size="1", type="button"),
            spacing="2",
        ),
        color_scheme="amber",
        width="100%",
    )


def when(moment: rx.Var) -> rx.Component:
    """A timestamp in a table cell, or a dash when there is none."""
    return rx.cond(moment != "", rx.text(moment, size="1", white_space="nowrap"), rx.text("—", size="1"))
