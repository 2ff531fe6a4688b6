"""Read-only display pieces the pages share: a labelled fact in a data list and a timestamp."""

import reflex as rx

from components.i18n import t


def fact(label_key: str, value: rx.Var | str, fact_id: str = "") -> rx.Component:
    """One row of an rx.data_list: a translated label and its value (with ``fact_id`` as the value's id)."""
    props = {"id": fact_id} if fact_id else {}
    return rx.data_list.item(rx.data_list.label(t(label_key)), rx.data_list.value(rx.text(value, size="2", **props)))


def when(moment: rx.Var) -> rx.Component:
    """A timestamp in a table cell, or a dash when there is none."""
    return rx.cond(moment != "", rx.text(moment, size="1", white_space="nowrap"), rx.text("—", size="1"))
