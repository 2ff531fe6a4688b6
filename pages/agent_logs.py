"""The builder's Logs tab: runs with question, answer and status; thumbs up/down and a note."""

from __future__ import annotations

import reflex as rx

from components.i18n import t
from state.agent_logs import AgentLogsState as S


def _thumb(run: rx.Var, rating: int, icon: str) -> rx.Component:
    return rx.icon_button(
        rx.icon(icon, size=14),
        size="1",
        variant=rx.cond(run["rating"] == str(rating), "solid", "soft"),
        on_click=S.rate(run["id"], rating),
        aria_label=icon,
        data_rate=str(rating),
    )


def _run_row(run: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(run["when"], size="1", white_space="nowrap")),
        rx.table.cell(rx.text(run["question"], size="1")),
        rx.table.cell(
            rx.cond(
                run["error"] != "",
                rx.text(run["error"], size="1", color=rx.color("red", 11)),
                rx.text(run["answer"], size="1"),
            )
        ),
        rx.table.cell(rx.badge(run["status"], variant="soft")),
        rx.table.cell(rx.text(run["latency"] + " · " + run["tokens"], size="1", white_space="nowrap")),
        rx.table.cell(rx.text(run["by"], size="1")),
        rx.table.cell(
            rx.vstack(
                rx.hstack(_thumb(run, 1, "thumbs-up"), _thumb(run, -1, "thumbs-down")),
                rx.hstack(
                    rx.input(
                        value=S.notes[run["id"]].to(str),
                        on_change=lambda v: S.set_note(run["id"], v),
                        placeholder=t("agents.logs.annotation"),
                        size="1",
                    ),
                    rx.button(t("agents.logs.annotate"), size="1", variant="ghost", on_click=S.annotate(run["id"])),
                ),
                spacing="1",
            )
        ),
        data_run=run["id"],
    )


def logs_panel() -> rx.Component:
    return rx.vstack(
        rx.button(
            rx.icon("refresh-cw", size=14),
            t("agents.logs.refresh"),
            on_click=S.load_logs,
            variant="soft",
            id="logs-refresh",
        ),
        rx.cond(
            S.runs.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell(t("agents.logs.when")),
                        rx.table.column_header_cell(t("agents.logs.question")),
                        rx.table.column_header_cell(t("agents.run.answer")),
                        rx.table.column_header_cell(t("agents.run.status")),
                        rx.table.column_header_cell(t("agents.run.latency")),
                        rx.table.column_header_cell(t("agents.logs.by")),
                        rx.table.column_header_cell(t("agents.logs.feedback")),
                    )
                ),
                rx.table.body(rx.foreach(S.runs, _run_row)),
                width="100%",
                size="1",
                id="agent-runs",
            ),
            rx.text(t("agents.logs.none"), size="2", color=rx.color("gray", 11)),
        ),
        spacing="3",
        width="100%",
    )
