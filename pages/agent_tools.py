"""The Tools tab of /agents: custom HTTP tools (form or OpenAPI import) with a test button,
the built-in tools, and the hosts tools may reach."""

from __future__ import annotations

import reflex as rx

from components.forms import bound_input, code_area, field, section
from components.i18n import t
from state.agent_tools import AgentToolsState as S


def _input(key: str, control_id: str, **props: object) -> rx.Component:
    return bound_input(S.form, S.set_field, key, control_id, **props)


def _area(key: str, control_id: str) -> rx.Component:
    return code_area(control_id, "3", value=S.form[key], on_change=lambda v: S.set_field(key, v))


def _tool_row(tool: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(tool["name"])),
        rx.table.cell(rx.text(tool["description"], size="1")),
        rx.table.cell(rx.cond(tool["builtin"] != "", rx.badge(t("agents.tools.builtin"), variant="soft"), "HTTP")),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    t("agents.tools.test"),
                    size="1",
                    variant="soft",
                    on_click=S.pick_test(tool["ref"]),
                    data_tool=tool["name"],
                ),
                rx.cond(
                    (tool["builtin"] == "") & S.may_edit,
                    rx.button(
                        t("agents.tools.remove"),
                        size="1",
                        variant="ghost",
                        color_scheme="red",
                        on_click=S.delete(tool["ref"]),
                    ),
                ),
            )
        ),
    )


def tools_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell(t("agents.tools.name")),
                rx.table.column_header_cell(t("agents.description")),
                rx.table.column_header_cell(""),
                rx.table.column_header_cell(""),
            )
        ),
        rx.table.body(rx.foreach(S.tools, _tool_row)),
        width="100%",
        id="agent-tools",
    )


def test_box() -> rx.Component:
    return rx.cond(
        S.test_ref != "",
        rx.card(
            rx.vstack(
                rx.hstack(rx.text(t("agents.tools.test"), weight="bold"), rx.code(S.test_ref)),
                field(
                    "agents.tools.test_args",
                    rx.text_area(
                        value=S.test_args, on_change=S.set_test_args, id="tool-test-args", rows="3", width="100%"
                    ),
                    "tool-test-args",
                ),
                rx.button(t("agents.tools.test"), on_click=S.test, loading=S.testing, id="tool-test-run"),
                rx.cond(
                    S.test_result != "",
                    rx.code_block(S.test_result, language="json", width="100%", id="tool-test-result"),
                ),
                width="100%",
            ),
            width="100%",
        ),
    )


def tool_form() -> rx.Component:
    return section(
        "agents.tools.new",
        "agents.tools.intro",
        rx.hstack(
            field("agents.tools.name", _input("name", "tool-name"), "tool-name"),
            field(
                "agents.tools.method",
                rx.select(
                    ["GET", "POST", "PUT", "PATCH", "DELETE"],
                    value=S.form["method"],
                    on_change=lambda v: S.set_field("method", v),
                    id="tool-method",
                ),
                "tool-method",
                grow=False,
            ),
            field("agents.tools.url", _input("url", "tool-url"), "tool-url", "agents.tools.url_hint"),
            width="100%",
        ),
        field("agents.description", _input("description", "tool-description"), "tool-description"),
        rx.hstack(
            field("agents.tools.parameters", _area("parameters", "tool-parameters"), "tool-parameters"),
            field("agents.tools.headers", _area("headers", "tool-headers"), "tool-headers"),
            width="100%",
        ),
        rx.hstack(
            field("agents.tools.auth_header", _input("auth_header", "tool-auth-header"), "tool-auth-header"),
            field(
                "agents.tools.auth_secret",
                _input("auth_secret", "tool-auth-secret", type="password"),
                "tool-auth-secret",
            ),
            field("agents.tools.timeout", _input("timeout_s", "tool-timeout"), "tool-timeout"),
            width="100%",
        ),
        rx.button(t("agents.tools.create"), on_click=S.create, disabled=~S.may_edit, id="tool-create"),
        field(
            "agents.tools.openapi",
            rx.text_area(value=S.openapi, on_change=S.set_openapi, id="tool-openapi", rows="4", width="100%"),
            "tool-openapi",
        ),
        rx.button(t("agents.tools.import"), on_click=S.import_openapi, variant="soft", disabled=~S.may_edit),
    )


def _host_row(host: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.code(host["host"]),
        rx.cond(
            S.may_edit,
            rx.icon_button(
                rx.icon("x", size=12),
                size="1",
                variant="ghost",
                on_click=S.remove_host(host["id"]),
                aria_label=t("agents.tools.remove"),
            ),
        ),
        align="center",
    )


def hosts_box() -> rx.Component:
    return section(
        "agents.tools.hosts",
        "agents.tools.intro",
        rx.cond(
            S.hosts.length() > 0,
            rx.hstack(rx.foreach(S.hosts, _host_row), wrap="wrap", spacing="4", id="allowed-hosts"),
            rx.text(t("agents.tools.no_hosts"), size="2", color=rx.color("amber", 11)),
        ),
        rx.hstack(
            rx.input(value=S.new_host, on_change=S.set_new_host, placeholder="api.example.org", id="host-new"),
            rx.button(t("agents.tools.add_host"), on_click=S.add_host, disabled=~S.may_edit, id="host-add"),
        ),
    )


def tools_tab() -> rx.Component:
    return rx.vstack(tools_table(), test_box(), tool_form(), hosts_box(), spacing="4", width="100%")
