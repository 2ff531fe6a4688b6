"""Two tabs of the admin page: the permission matrix (read-only) and the audit trail."""

import reflex as rx

from components.badges import status_badge
from components.forms import field
from components.i18n import t
from components.tables import data_table
from state.audit import OUTCOMES, Action, AuditState, matrix_rows
from state.audit import PAGE_SIZE as AUDIT_PAGE_SIZE

_OUTCOME_COLOR = {"ok": "green", "denied": "amber", "failed": "red"}


# permissions ------------------------------------------------------------------------------------


def _mark(allowed: bool) -> rx.Component:
    if allowed:
        return rx.flex(
            rx.icon("check", size=16, color=rx.color("green", 10), aria_label=t("common.yes")), justify="center"
        )
    return rx.text("·", color=rx.color("gray", 8), text_align="center")


def permissions_tab() -> rx.Component:
    """The role × area × action matrix the service layer enforces, built once from matrix_rows()."""
    rows = []
    previous_role = ""
    for row in matrix_rows():
        first = row.role != previous_role
        previous_role = row.role
        rows.append(
            rx.table.row(
                rx.table.cell(rx.badge(t(f"role.{row.role}")) if first else rx.fragment()),
                rx.table.cell(t(f"area.{row.area}")),
                *[rx.table.cell(_mark(row.actions[action.value]), text_align="center") for action in Action],
                border_top=f"2px solid {rx.color('gray', 6)}" if first else None,
                data_role=row.role,
                data_area=row.area,
            )
        )
    return rx.vstack(
        rx.text(t("admin.permissions_intro"), size="2", color=rx.color("gray", 11)),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(t("admin.role")),
                    rx.table.column_header_cell(t("admin.area")),
                    *[
                        rx.table.column_header_cell(t(f"action.{action.value}"), text_align="center")
                        for action in Action
                    ],
                )
            ),
            rx.table.body(*rows),
            variant="surface",
            size="1",
            width="100%",
            id="permission-matrix",
        ),
        spacing="3",
        width="100%",
    )


# audit ------------------------------------------------------------------------------------------


def _filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            field(
                "audit.action",
                rx.input(name="action", id="audit-action", width="100%", placeholder="auth."),
                "audit-action",
            ),
            field(
                "audit.actor", rx.input(name="actor", id="audit-actor", width="100%", placeholder="@"), "audit-actor"
            ),
            field("audit.since", rx.input(name="since", id="audit-since", width="100%", type="date"), "audit-since"),
            field("audit.until", rx.input(name="until", id="audit-until", width="100%", type="date"), "audit-until"),
            rx.button(rx.icon("search", size=14), t("audit.apply"), type="submit", id="audit-apply"),
            rx.button(t("audit.clear"), on_click=AuditState.clear, variant="soft", color_scheme="gray", type="button"),
            align="end",
            spacing="3",
            width="100%",
        ),
        on_submit=AuditState.apply,
        width="100%",
    )


def _outcome_filter() -> rx.Component:
    return rx.segmented_control.root(
        rx.segmented_control.item(t("audit.outcome.all"), value="all"),
        *[rx.segmented_control.item(t(f"audit.outcome.{o}"), value=o) for o in OUTCOMES],
        value=AuditState.outcome,
        on_change=AuditState.set_outcome,
        size="1",
        id="audit-outcome",
        aria_label=t("audit.outcome"),
    )


def _outcome_badge(outcome: rx.Var) -> rx.Component:
    return status_badge(outcome, _OUTCOME_COLOR, "audit.outcome")


def _event_row(event: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(event["at"], size="1", white_space="nowrap")),
        rx.table.cell(rx.text(event["actor"], size="1")),
        rx.table.cell(rx.text(event["tenant"], size="1")),
        rx.table.cell(rx.code(event["action"], size="1")),
        rx.table.cell(rx.text(event["target"], size="1")),
        rx.table.cell(_outcome_badge(event["outcome"])),
        rx.table.cell(rx.text(event["address"], size="1")),
        data_action=event["action"],
    )


def _export() -> rx.Component:
    # GET /api/audit.csv reads the session cookie and answers with an attachment: a plain download
    return rx.button(
        rx.icon("download", size=14),
        t("audit.export"),
        on_click=rx.download(url=AuditState.csv_url, filename="medai-audit.csv"),
        variant="outline",
        id="audit-export",
    )


def audit_tab() -> rx.Component:
    return rx.vstack(
        _filters(),
        rx.hstack(
            _outcome_filter(),
            rx.spacer(),
            rx.text(AuditState.page_label, size="2", color=rx.color("gray", 11), id="audit-count"),
            rx.icon_button(
                rx.icon("chevron-left", size=16),
                on_click=AuditState.previous_page,
                disabled=~AuditState.has_previous,
                variant="soft",
                aria_label=t("audit.previous"),
            ),
            rx.icon_button(
                rx.icon("chevron-right", size=16),
                on_click=AuditState.next_page,
                disabled=~AuditState.has_next,
                variant="soft",
                aria_label=t("audit.next"),
            ),
            _export(),
            align="center",
            spacing="3",
            width="100%",
        ),
        # the server pages the trail; the table sorts the page it shows
        data_table(
            AuditState.events,
            _event_row,
            [(f"audit.column.{c}", c) for c in ("at", "actor", "tenant", "action", "target", "outcome", "address")],
            "audit-table",
            page_size=AUDIT_PAGE_SIZE,
            size="1",
        ),
        rx.text(t("audit.utc_note"), size="1", color=rx.color("gray", 10)),
        spacing="4",
        width="100%",
    )
