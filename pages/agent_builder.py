"""/agents/[agent_id]: the canvas with its palette, the selected node's settings beside it, the
toolbar (save, validate, publish, versions with rollback), and below it the run/debug panel
and the agent's logs."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from components.agent_canvas import agent_canvas, canvas_labels
from components.i18n import t
from components.shell import page_shell
from pages.agent_logs import logs_panel
from pages.agent_run import run_panel
from state.agent_builder import AgentBuilderState as S
from state.agent_graph import NODE_CATALOGUE
from state.preferences import PreferencesState

Setter = Callable[[rx.Var, rx.Var], rx.event.EventSpec]
Toggler = Callable[[rx.Var, rx.Var, rx.Var], rx.event.EventSpec]
SPECS = NODE_CATALOGUE  # the palette and the forms come from backend.services.agents.nodes.NODE_SPECS


def _label(item: rx.Var) -> rx.Var:
    return rx.cond(PreferencesState.lang == "zh", item["label_zh"], item["label_en"])


def _control_id(item: rx.Var) -> rx.Var:
    return "setting-" + item["name"].to(str)


def _text_control(item: rx.Var, on_set: Setter) -> rx.Component:
    return rx.input(
        value=item["value"], on_change=lambda v: on_set(item["name"], v), id=_control_id(item), width="100%"
    )


def _number_control(item: rx.Var, on_set: Setter) -> rx.Component:
    return rx.input(
        value=item["value"],
        on_change=lambda v: on_set(item["name"], v),
        id=_control_id(item),
        type="number",
        step="any",
        width="100%",
    )


def _area_control(item: rx.Var, rows: str, on_set: Setter) -> rx.Component:
    return rx.text_area(
        value=item["value"],
        on_change=lambda v: on_set(item["name"], v),
        id=_control_id(item),
        rows=rows,
        width="100%",
        font_family=rx.cond(item["monospace"], "var(--code-font-family)", "inherit"),
    )


def _select_control(item: rx.Var, on_set: Setter) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(placeholder=t("agents.builder.choose"), id=_control_id(item), width="100%"),
        rx.select.content(
            rx.foreach(
                item["choices"].to(list[dict]),
                lambda c: rx.select.item(
                    rx.cond(PreferencesState.lang == "zh", c["label_zh"], c["label_en"]), value=c["value"]
                ),
            )
        ),
        value=item["value"],
        on_change=lambda v: on_set(item["name"], v),
    )


def _multiselect_control(item: rx.Var, on_toggle: Toggler) -> rx.Component:
    return rx.cond(
        item["choices"].to(list[dict]).length() > 0,
        rx.vstack(
            rx.foreach(
                item["choices"].to(list[dict]),
                lambda c: rx.el.label(
                    rx.hstack(
                        rx.checkbox(
                            checked=c["checked"].to(bool),
                            on_change=lambda on: on_toggle(item["name"], c["value"], on),
                            data_choice=c["value"],
                        ),
                        rx.text(rx.cond(PreferencesState.lang == "zh", c["label_zh"], c["label_en"]), size="2"),
                        align="center",
                    )
                ),
            ),
            spacing="1",
            id=_control_id(item),
        ),
        rx.text(t("agents.builder.no_choices"), size="1", color=rx.color("gray", 10), id=_control_id(item)),
    )


def _control(item: rx.Var, on_set: Setter, on_toggle: Toggler) -> rx.Component:
    return rx.match(
        item["kind"],
        ("number", _number_control(item, on_set)),
        ("textarea", _area_control(item, "5", on_set)),
        ("json", _area_control(item, "4", on_set)),
        ("list", _area_control(item, "3", on_set)),
        ("variables", _area_control(item, "3", on_set)),
        ("select", _select_control(item, on_set)),
        ("multiselect", _multiselect_control(item, on_toggle)),
        _text_control(item, on_set),
    )


def _node_field(item: rx.Var) -> rx.Component:
    return _field(item, S.set_setting, S.toggle_choice)


def _chat_field(item: rx.Var) -> rx.Component:
    return _field(item, S.set_chat, S.toggle_chat)


def _field(item: rx.Var, on_set: Setter, on_toggle: Toggler) -> rx.Component:
    return rx.vstack(
        rx.el.label(
            rx.hstack(
                rx.text(_label(item), size="2", weight="medium"),
                rx.cond(item["required"], rx.text("*", color=rx.color("red", 10))),
                spacing="1",
            ),
            html_for=_control_id(item),
        ),
        _control(item, on_set, on_toggle),
        rx.cond(
            item["kind"] == "variables",
            rx.text(t("agents.builder.variables_hint"), size="1", color=rx.color("gray", 10)),
        ),
        rx.cond(item["kind"] == "list", rx.text(t("agents.builder.list_hint"), size="1", color=rx.color("gray", 10))),
        rx.cond(item["hint"] != "", rx.code(item["hint"], size="1")),
        rx.cond(item["problem"] != "", rx.text(item["problem"], size="1", color=rx.color("red", 11))),
        spacing="1",
        width="100%",
        data_field=item["name"],
    )


def side_panel() -> rx.Component:
    return rx.card(
        rx.cond(
            S.selected_id != "",
            rx.vstack(
                rx.hstack(
                    rx.heading(t("agents.builder.settings"), size="3"),
                    rx.code(S.selected_id, id="selected-node"),
                    align="center",
                ),
                rx.foreach(S.fields, _node_field),
                spacing="3",
                width="100%",
            ),
            rx.text(t("agents.builder.pick_node"), size="2", color=rx.color("gray", 11)),
        ),
        width="340px",
        min_width="340px",
        max_height="72vh",
        overflow_y="auto",
        id="agent-side-panel",
    )


def _version_row(v: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell("v" + v["number"]),
        rx.table.cell(rx.cond(v["active"] != "", rx.badge(t("agents.builder.active"), color_scheme="green"), "")),
        rx.table.cell(v["note"]),
        rx.table.cell(v["by"]),
        rx.table.cell(v["at"]),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    t("agents.builder.rollback"),
                    size="1",
                    variant="soft",
                    on_click=S.rollback(v["id"]),
                    disabled=(v["active"] != "") | ~S.may_edit,
                ),
                rx.button(t("agents.builder.restore"), size="1", variant="ghost", on_click=S.restore(v["id"])),
            )
        ),
        data_version=v["number"],
    )


def versions_panel() -> rx.Component:
    return rx.cond(
        S.versions.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(t("agents.builder.version")),
                    rx.table.column_header_cell(""),
                    rx.table.column_header_cell(t("agents.builder.note")),
                    rx.table.column_header_cell(t("agents.builder.by")),
                    rx.table.column_header_cell(t("agents.builder.at")),
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(rx.foreach(S.versions, _version_row)),
            width="100%",
            id="agent-versions",
        ),
        rx.text(t("agents.builder.no_versions"), size="2", color=rx.color("gray", 11)),
    )


def toolbar() -> rx.Component:
    return rx.hstack(
        rx.heading(S.name, size="5", id="agent-name"),
        rx.badge("agent:" + S.slug, variant="soft", id="agent-slug"),
        rx.cond(
            S.active_version != "",
            rx.badge(t("agents.builder.live") + " v" + S.active_version, color_scheme="green", id="agent-live"),
            rx.badge(t("agents.builder.unpublished"), color_scheme="gray", id="agent-live"),
        ),
        rx.cond(S.dirty, rx.badge(t("agents.builder.unsaved"), color_scheme="amber", id="agent-dirty")),
        rx.spacer(),
        rx.button(
            rx.icon("shield-check", size=14),
            t("agents.builder.validate"),
            on_click=S.validate,
            variant="soft",
            id="agent-validate",
        ),
        rx.button(
            rx.icon("save", size=14),
            t("agents.builder.save"),
            on_click=S.save,
            loading=S.busy,
            disabled=~S.may_edit,
            id="agent-save",
        ),
        rx.input(
            placeholder=t("agents.builder.note"),
            value=S.publish_note,
            on_change=S.set_publish_note,
            width="180px",
            id="agent-publish-note",
        ),
        rx.button(
            rx.icon("rocket", size=14),
            t("agents.builder.publish"),
            on_click=S.publish,
            loading=S.busy,
            disabled=~S.may_edit,
            color_scheme="green",
            id="agent-publish",
        ),
        rx.link(
            rx.button(rx.icon("message-circle", size=14), t("agents.builder.web_chat"), variant="outline"),
            href="/agents/" + S.agent_id + "/chat",
            is_external=True,
            id="agent-chat-link",
        ),
        align="center",
        spacing="2",
        width="100%",
        wrap="wrap",
    )


def _problem(p: rx.Var) -> rx.Component:
    return rx.text("• " + p["message"].to(str), size="2")


def problems_callout() -> rx.Component:
    return rx.cond(
        S.overall_problems.length() > 0,
        rx.callout.root(
            rx.callout.icon(rx.icon("triangle-alert")),
            rx.vstack(rx.foreach(S.overall_problems, _problem), spacing="0"),
            color_scheme="red",
            width="100%",
            id="agent-graph-problems",
        ),
    )


def canvas() -> rx.Component:
    return rx.box(
        agent_canvas(
            graph=S.graph,
            revision=S.revision,
            specs=SPECS,
            problems=S.problems,
            lang=PreferencesState.lang,
            labels=rx.cond(PreferencesState.lang == "zh", canvas_labels("zh"), canvas_labels("en")),
            patch=S.patch,
            color_mode=rx.color_mode_cond(light="light", dark="dark"),
            on_change=S.canvas_changed,
            on_select=S.select_node,
        ),
        flex="1",
        height="72vh",
        min_height="480px",
        border=f"1px solid {rx.color('gray', 6)}",
        border_radius="10px",
        overflow="hidden",
        id="agent-canvas-box",
    )


def chat_form() -> rx.Component:
    """A simple chat agent: prompt, model, knowledge and tools, no graph."""
    return rx.card(
        rx.vstack(
            rx.heading(t("agents.chat.title"), size="4"),
            rx.text(t("agents.chat.intro"), size="2", color=rx.color("gray", 11)),
            rx.foreach(S.chat_fields, _chat_field),
            spacing="3",
            width="100%",
            max_width="720px",
        ),
        width="100%",
        id="agent-chat-form",
    )


def editor() -> rx.Component:
    return rx.cond(
        S.mode == "chat",
        chat_form(),
        rx.hstack(canvas(), side_panel(), width="100%", align="start", spacing="3"),
    )


def agent_builder() -> rx.Component:
    return page_shell(
        "agents.builder.title",
        rx.vstack(
            rx.cond(
                S.load_error != "",
                rx.callout.root(rx.callout.text(S.load_error), color_scheme="red", id="agent-load-error"),
            ),
            toolbar(),
            problems_callout(),
            editor(),
            rx.tabs.root(
                rx.tabs.list(
                    rx.tabs.trigger(t("agents.run.title"), value="run", id="tab-run"),
                    rx.tabs.trigger(t("agents.builder.versions"), value="versions", id="tab-versions"),
                    rx.tabs.trigger(t("agents.logs.title"), value="logs", id="tab-logs"),
                ),
                rx.tabs.content(run_panel(), value="run", padding_top="12px"),
                rx.tabs.content(
                    rx.vstack(
                        versions_panel(),
                        rx.text(t("agents.webchat.embed"), size="2"),
                        rx.code_block(S.embed, language="markup", width="100%", id="agent-embed"),
                        width="100%",
                    ),
                    value="versions",
                    padding_top="12px",
                ),
                rx.tabs.content(logs_panel(), value="logs", padding_top="12px"),
                default_value="run",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
    )
