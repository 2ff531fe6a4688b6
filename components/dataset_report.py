"""A dataset validation report (state.asset_views.ReportView): verdict, figures, the issues
with their line numbers, empty fields, token lengths, PHI found, and the first rows."""

from collections.abc import Callable

import reflex as rx

from components.i18n import t, t_choice
from components.tables import headers
from state.asset_views import MAX_ISSUES_LISTED, PHI_KINDS, SHAPES, TOKEN_STATS
from state.assets import APPROXIMATE


def _fact(label_key: str, value: rx.Var | rx.Component, fact_id: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(t(label_key), size="1", color=rx.color("gray", 10)),
            rx.text(value, size="4", weight="bold"),
            spacing="1",
        ),
        size="1",
        id=fact_id,
    )


def _issues(report: rx.Var, report_id: str) -> rx.Component:
    return rx.vstack(
        rx.heading(t("report.issues"), size="3"),
        rx.cond(
            report.issue_count > MAX_ISSUES_LISTED,
            rx.text(t("report.issues_truncated"), size="1", color=rx.color("gray", 10)),
        ),
        rx.table.root(
            headers("report.line", "report.problem"),
            rx.table.body(
                rx.foreach(
                    report.issues,
                    lambda issue: rx.table.row(
                        rx.table.cell(rx.code(issue["line"]), white_space="nowrap"),
                        rx.table.cell(issue["message"]),
                        data_line=issue["line"],
                    ),
                )
            ),
            variant="surface",
            size="1",
            width="100%",
            id=f"{report_id}-issues",
        ),
        spacing="2",
        width="100%",
    )


def _small_table(
    title_key: str, rows: rx.Var, columns: tuple[str, ...], cells: Callable[[rx.Var], tuple], table_id: str
) -> rx.Component:
    return rx.vstack(
        rx.heading(t(title_key), size="3"),
        rx.table.root(
            headers(*columns),
            rx.table.body(rx.foreach(rows, lambda row: rx.table.row(*[rx.table.cell(c) for c in cells(row)]))),
            variant="surface",
            size="1",
            id=table_id,
        ),
        spacing="2",
        align="start",
    )


def _preview(report: rx.Var, report_id: str) -> rx.Component:
    return rx.vstack(
        rx.heading(t("report.preview"), size="3"),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(rx.foreach(report.preview_columns, lambda c: rx.table.column_header_cell(c)))
                ),
                rx.table.body(
                    rx.foreach(
                        report.preview_rows,
                        lambda row: rx.table.row(
                            rx.foreach(row, lambda cell: rx.table.cell(rx.text(cell, size="1"), max_width="360px"))
                        ),
                    )
                ),
                variant="surface",
                size="1",
                width="100%",
                id=f"{report_id}-preview",
            ),
            overflow_x="auto",
            width="100%",
        ),
        spacing="2",
        width="100%",
    )


def _verdict(report: rx.Var) -> rx.Component:
    return rx.cond(
        report.ok,
        rx.callout(t("report.accepted"), icon="circle-check", color_scheme="green", width="100%"),
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-x")),
            rx.vstack(
                rx.text(t("report.rejected"), weight="bold", size="2"),
                rx.cond(report.summary != "", rx.text(report.summary, size="2")),
                rx.cond(report.fatal != "", rx.code(report.fatal, size="2")),
                spacing="1",
            ),
            color_scheme="red",
            width="100%",
        ),
    )


def dataset_report(report: rx.Var, report_id: str) -> rx.Component:
    """The whole report, or nothing while ``report.present`` is false."""
    return rx.cond(
        report.present,
        rx.vstack(
            _verdict(report),
            rx.flex(
                _fact("report.rows", report.rows, f"{report_id}-rows"),
                _fact("report.shape", t_choice("asset_shape", report.shape, SHAPES), f"{report_id}-shape"),
                _fact("report.file_type", report.file_type, f"{report_id}-type"),
                _fact("report.issue_count", report.issue_count, f"{report_id}-issue-count"),
                _fact("report.duplicates", report.duplicates, f"{report_id}-duplicates"),
                _fact("report.phi_rows", report.phi_rows, f"{report_id}-phi-rows"),
                _fact(
                    "report.tokenizer",
                    rx.cond(report.tokenizer == APPROXIMATE, t("assets.approximate"), report.tokenizer),
                    f"{report_id}-tokenizer",
                ),
                spacing="3",
                wrap="wrap",
                width="100%",
            ),
            rx.cond(report.issues.length() > 0, _issues(report, report_id)),
            rx.flex(
                rx.cond(
                    report.token_stats.length() > 0,
                    _small_table(
                        "report.token_lengths",
                        report.token_stats,
                        ("report.statistic", "report.tokens"),
                        lambda row: (t_choice("token_stat", row["stat"], TOKEN_STATS), row["value"]),
                        f"{report_id}-tokens",
                    ),
                ),
                rx.cond(
                    report.empty_fields.length() > 0,
                    _small_table(
                        "report.empty_fields",
                        report.empty_fields,
                        ("report.field", "report.count"),
                        lambda row: (rx.code(row["field"]), row["count"]),
                        f"{report_id}-empty",
                    ),
                ),
                rx.cond(
                    report.phi.length() > 0,
                    _small_table(
                        "report.phi",
                        report.phi,
                        ("report.phi_kind", "report.count", "report.phi_example"),
                        lambda row: (t_choice("phi_kind", row["kind"], PHI_KINDS), row["count"], row["example"]),
                        f"{report_id}-phi",
                    ),
                    rx.cond(report.ok, rx.badge(t("report.no_phi"), color_scheme="green", variant="soft")),
                ),
                spacing="5",
                wrap="wrap",
                width="100%",
                align="start",
            ),
            rx.cond(report.preview_rows.length() > 0, _preview(report, report_id)),
            spacing="4",
            width="100%",
            id=report_id,
            data_ok=rx.cond(report.ok, "yes", "no"),
        ),
    )
