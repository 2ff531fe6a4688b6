"""The builder's run/debug panel: a message, the nodes' progress as they run, the answer with its
citations and the per-node trace."""

from __future__ import annotations

import reflex as rx

from components.badges import status_badge
from components.i18n import t
from state.agent_run import AgentRunState as S

_STATUS_COLORS = {"running": "blue", "succeeded": "green", "failed": "red", "skipped": "gray"}


def _progress_item(step: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.code(step["node_id"], size="1"),
        status_badge(step["status"], _STATUS_COLORS),
        spacing="1",
        align="center",
        data_progress=step["node_id"],
        data_status=step["status"],
    )


def _citation(c: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon("file-text", size=14),
                rx.cond(
                    c["href"] != "",
                    rx.link(
                        c["document"],
                        href=c["href"],
                        is_external=True,
                        weight="medium",
                        size="2",
                        title=t("knowledge.document.open"),
                        class_name="citation-link",
                    ),
                    rx.text(c["document"], weight="medium", size="2"),
                ),
                rx.code(c["chunk"], size="1"),
                rx.cond(c["score"] != "", rx.badge(c["score"], variant="soft")),
                align="center",
                wrap="wrap",
            ),
            rx.text(c["text"], size="1", color=rx.color("gray", 11)),
            spacing="1",
        ),
        size="1",
        width="100%",
        class_name="agent-citation",
    )


def _pre(text: rx.Var) -> rx.Component:
    return rx.el.pre(
        text, style={"white_space": "pre-wrap", "font_size": "11px", "max_height": "160px", "overflow": "auto"}
    )


def _trace_row(step: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.code(step["node_id"]), rx.text(step["type"], size="1"), spacing="1")),
        rx.table.cell(status_badge(step["status"], _STATUS_COLORS)),
        rx.table.cell(_pre(step["input"])),
        rx.table.cell(
            rx.cond(
                step["error"] != "", rx.text(step["error"], color=rx.color("red", 11), size="1"), _pre(step["output"])
            )
        ),
        rx.table.cell(step["latency"]),
        rx.table.cell(step["tokens"]),
        data_trace=step["node_id"],
    )


def trace_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell(t("agents.run.node")),
                rx.table.column_header_cell(t("agents.run.status")),
                rx.table.column_header_cell(t("agents.run.input_col")),
                rx.table.column_header_cell(t("agents.run.output")),
                rx.table.column_header_cell(t("agents.run.latency")),
                rx.table.column_header_cell(t("agents.run.tokens")),
            )
        ),
        rx.table.body(rx.foreach(S.trace, _trace_row)),
        width="100%",
        size="1",
        id="run-trace",
    )


def run_panel() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text_area(
                value=S.message,
                on_change=S.set_message,
                placeholder=t("agents.run.input"),
                id="run-message",
                rows="2",
                width="100%",
            ),
            rx.vstack(
                rx.button(
                    rx.icon("play", size=14), t("agents.run.run"), on_click=S.run, loading=S.running, id="run-start"
                ),
                rx.button(t("agents.webchat.new"), on_click=S.new_conversation, variant="ghost", size="1"),
            ),
            width="100%",
            align="start",
        ),
        rx.cond(
            S.progress.length() > 0,
            rx.hstack(rx.foreach(S.progress, _progress_item), wrap="wrap", spacing="3", id="run-progress"),
            rx.cond(~S.running, rx.text(t("agents.run.empty"), size="2", color=rx.color("gray", 11))),
        ),
        rx.cond(
            S.error != "",
            rx.callout.root(
                rx.callout.icon(rx.icon("circle-x")),
                rx.callout.text(t("agents.run.failed") + " " + S.failed_node + " — " + S.error),
                color_scheme="red",
                id="run-error",
            ),
        ),
        rx.cond(
            S.answer != "",
            rx.card(
                rx.vstack(
                    rx.hstack(rx.heading(t("agents.run.answer"), size="3"), rx.spacer(), rx.text(S.summary, size="1")),
                    rx.markdown(S.answer, id="run-answer"),
                    width="100%",
                ),
                width="100%",
            ),
        ),
        rx.cond(
            S.citations.length() > 0,
            rx.vstack(
                rx.heading(t("agents.run.citations"), size="3"),
                rx.foreach(S.citations, _citation),
                width="100%",
                id="run-citations",
            ),
        ),
        rx.cond(
            S.trace.length() > 0, rx.vstack(rx.heading(t("agents.run.trace"), size="3"), trace_table(), width="100%")
        ),
        spacing="3",
        width="100%",
    )
