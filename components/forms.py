"""Form pieces shared by the pages: labelled fields (text, number, select, text area, each with
label and hint), inputs bound to a state's form dict, section cards and secrets shown once."""

from collections.abc import Callable, Sequence

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


def _given(**props: object) -> dict[str, object]:
    """The props that were given (None leaves a prop out, as if it had not been passed)."""
    return {k: v for k, v in props.items() if v is not None}


def text_input(control_id: str, value: rx.Var | None = None, on_change: object = None, **props: object) -> rx.Component:
    """A full-width text input (``type="number"`` in ``props`` makes it a number field)."""
    return rx.input(**_given(value=value, on_change=on_change), id=control_id, width="100%", **props)


def bound_input(form: rx.Var, setter: Callable, key: str, control_id: str, **props: object) -> rx.Component:
    """A text input showing ``form[key]`` that calls ``setter(key, value)`` as the user types."""
    return text_input(control_id, form[key], lambda value: setter(key, value), **props)


def control_id(prefix: str, key: str) -> str:
    """The element id of a form's field: ``{prefix}-{key}`` with dashes for underscores."""
    return f"{prefix}-{key.replace('_', '-')}"


def form_input(
    form: rx.Var, setter: Callable, key: str, label_key: str, prefix: str, hint_key: str = "", **props: object
) -> rx.Component:
    """A labelled input bound to ``form[key]``; its id is ``control_id(prefix, key)``."""
    element_id = control_id(prefix, key)
    return field(label_key, bound_input(form, setter, key, element_id, **props), element_id, hint_key)


def options(prefix: str, values: Sequence[str]) -> list[rx.Component]:
    """Select items whose labels are the translations ``t(f"{prefix}.{value}")``."""
    return [rx.select.item(t(f"{prefix}.{v}"), value=v) for v in values]


def plain_options(values: Sequence[str]) -> list[rx.Component]:
    """Select items labelled with the values themselves."""
    return [rx.select.item(v, value=v) for v in values]


def select(
    control_id: str,
    items: Sequence[rx.Component],
    value: rx.Var | None = None,
    on_change: object = None,
    *,
    name: str | None = None,
    default: str | None = None,
    **trigger_props: object,
) -> rx.Component:
    """A select of ``items``: controlled (``value``/``on_change``) or in a form (``name``/``default``).
    ``trigger_props`` style the trigger (width 100% unless any are given; ``width=None`` for none)."""
    if not trigger_props:
        trigger_props = {"width": "100%"}
    return rx.select.root(
        rx.select.trigger(id=control_id, **_given(**trigger_props)),
        rx.select.content(*items),
        **_given(value=value, on_change=on_change, name=name, default_value=default),
    )


def form_select(
    form: rx.Var, setter: Callable, key: str, label_key: str, prefix: str, items: Sequence[rx.Component]
) -> rx.Component:
    """A labelled select bound to ``form[key]``; its id is ``control_id(prefix, key)``."""
    element_id = control_id(prefix, key)
    return field(label_key, select(element_id, items, form[key], lambda value: setter(key, value)), element_id)


def code_area(control_id: str, rows: str = "4", style: dict | None = None, **props: object) -> rx.Component:
    """A full-width text area in the code font (JSON, YAML, scripts)."""
    style = {"font_family": "var(--code-font-family)", **(style or {})}
    return rx.text_area(id=control_id, width="100%", rows=rows, style=style, **props)


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


def copy_with_toast(value: rx.Var | str) -> list[rx.event.EventSpec]:
    """Events that copy ``value`` to the clipboard and say so in a toast."""
    return [rx.set_clipboard(value), rx.toast.info(t("common.copied"), position="top-center")]


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
                    on_click=copy_with_toast(value),
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
