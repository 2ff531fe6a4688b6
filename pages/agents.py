"""/agents: my agents (create blank or from a starter template), the app market, and tools."""

from __future__ import annotations

import reflex as rx

from components.forms import bound_input, field, section, select
from components.i18n import t, t_choice
from components.samples import sample_agent
from components.shell import page_shell
from pages.agent_tools import tools_tab
from state.agent_tools import AgentToolsState
from state.agents import BLANK
from state.agents import AgentsState as S
from state.auth import AuthState
from state.preferences import PreferencesState

MODES = ["graph", "chat"]


def _agent_row(agent: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(agent["name"], href="/agents/" + agent["id"].to(str), weight="medium")),
        rx.table.cell(rx.code("agent:" + agent["slug"].to(str), size="1")),
        rx.table.cell(rx.badge(t_choice("agents.mode", agent["mode"], MODES), variant="soft")),
        rx.table.cell(
            rx.cond(
                agent["live"] != "",
                rx.badge(t("agents.builder.live"), color_scheme="green"),
                rx.badge(t("agents.builder.unpublished"), color_scheme="gray"),
            )
        ),
        rx.table.cell(rx.text(agent["updated"], size="1")),
        rx.table.cell(
            rx.hstack(
                rx.button(t("agents.list_in_market"), size="1", variant="soft", on_click=S.offer(agent["id"])),
                rx.button(
                    t("agents.delete"), size="1", variant="ghost", color_scheme="red", on_click=S.delete(agent["id"])
                ),
            )
        ),
        data_agent=agent["slug"],
    )


def agents_table() -> rx.Component:
    return rx.cond(
        S.rows.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(t("agents.name")),
                    rx.table.column_header_cell(t("agents.slug")),
                    rx.table.column_header_cell(t("agents.mode")),
                    rx.table.column_header_cell(t("agents.published_version")),
                    rx.table.column_header_cell(t("agents.updated")),
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(rx.foreach(S.rows, _agent_row)),
            width="100%",
            id="agents-table",
        ),
        rx.vstack(
            rx.text(t("agents.none"), size="2", color=rx.color("gray", 11), id="agents-none"),
            rx.cond(S.may_create, sample_agent()),
            spacing="3",
            width="100%",
        ),
    )


def _input(key: str, control_id: str) -> rx.Component:
    return bound_input(S.form, S.set_field, key, control_id)


def _template_item(tpl: rx.Var) -> rx.Component:
    return rx.select.item(rx.cond(PreferencesState.lang == "zh", tpl["name_zh"], tpl["name_en"]), value=tpl["id"])


def create_form() -> rx.Component:
    return section(
        "agents.new",
        "agents.new_intro",
        rx.hstack(
            field("agents.name", _input("name", "agent-new-name"), "agent-new-name"),
            field("agents.slug", _input("slug", "agent-new-slug"), "agent-new-slug", "agents.slug_hint"),
            width="100%",
        ),
        field("agents.description", _input("description", "agent-new-description"), "agent-new-description"),
        rx.hstack(
            field(
                "agents.template",
                select(
                    "agent-new-template",
                    [rx.select.item(t("agents.template_blank"), value=BLANK), rx.foreach(S.templates, _template_item)],
                    S.form["template"],
                    lambda v: S.set_field("template", v),
                ),
                "agent-new-template",
            ),
            field(
                "agents.mode",
                rx.segmented_control.root(
                    *[rx.segmented_control.item(t(f"agents.mode.{m}"), value=m) for m in MODES],
                    value=S.form["mode"],
                    on_change=lambda v: S.set_field("mode", v),
                    id="agent-new-mode",
                ),
                "agent-new-mode",
            ),
            width="100%",
        ),
        rx.button(
            rx.icon("plus", size=14), t("agents.create"), on_click=S.create, disabled=~S.may_create, id="agent-create"
        ),
    )


def _market_row(item: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(item["name"], weight="medium")),
        rx.table.cell(rx.text(item["description"], size="1")),
        rx.table.cell(rx.badge(t_choice("agents.scope", item["scope"], ["tenant", "platform"]), variant="soft")),
        rx.table.cell(item["publisher"]),
        rx.table.cell(item["installs"]),
        rx.table.cell(
            rx.hstack(
                rx.button(t("agents.install"), size="1", on_click=S.install(item["id"]), disabled=~S.may_create),
                rx.cond(
                    item["ours"] != "",
                    rx.button(
                        t("agents.withdraw"),
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                        on_click=S.withdraw(item["id"]),
                        disabled=~S.may_create,
                    ),
                ),
                spacing="2",
            )
        ),
        data_listing=item["name"],
    )


def market_tab() -> rx.Component:
    return rx.vstack(
        rx.text(t("agents.market_intro"), size="2", color=rx.color("gray", 11)),
        rx.hstack(
            rx.text(t("agents.market_scope"), size="2"),
            rx.segmented_control.root(
                rx.segmented_control.item(t("agents.scope.tenant"), value="tenant"),
                rx.cond(
                    AuthState.is_platform_admin,
                    rx.segmented_control.item(t("agents.scope.platform"), value="platform"),
                ),
                value=S.list_scope,
                on_change=S.set_list_scope,
                size="1",
            ),
            rx.spacer(),
            rx.input(
                value=S.install_as,
                on_change=S.set_install_as,
                placeholder=t("agents.install_as"),
                id="install-as",
                width="220px",
            ),
            align="center",
            width="100%",
        ),
        rx.cond(
            S.market.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell(t("agents.name")),
                        rx.table.column_header_cell(t("agents.description")),
                        rx.table.column_header_cell(t("agents.market_scope")),
                        rx.table.column_header_cell(t("agents.publisher")),
                        rx.table.column_header_cell(t("agents.installs")),
                        rx.table.column_header_cell(""),
                    )
                ),
                rx.table.body(rx.foreach(S.market, _market_row)),
                width="100%",
                id="agents-market",
            ),
            rx.text(t("agents.market_none"), size="2", color=rx.color("gray", 11)),
        ),
        spacing="3",
        width="100%",
    )


def agents_page() -> rx.Component:
    return page_shell(
        "agents.title",
        rx.cond(
            AuthState.tenant_id == "",
            rx.callout.root(rx.callout.text(t("agents.pick_tenant")), id="agents-pick-tenant"),
            rx.tabs.root(
                rx.tabs.list(
                    rx.tabs.trigger(t("agents.tab.mine"), value="mine", id="tab-agents"),
                    rx.tabs.trigger(t("agents.tab.market"), value="market", id="tab-market"),
                    rx.tabs.trigger(
                        t("agents.tab.tools"), value="tools", id="tab-tools", on_click=AgentToolsState.load
                    ),
                ),
                rx.tabs.content(
                    rx.vstack(
                        rx.text(t("agents.list_intro"), size="2", color=rx.color("gray", 11)),
                        agents_table(),
                        create_form(),
                        spacing="4",
                        width="100%",
                    ),
                    value="mine",
                    padding_top="16px",
                ),
                rx.tabs.content(market_tab(), value="market", padding_top="16px"),
                rx.tabs.content(tools_tab(), value="tools", padding_top="16px"),
                default_value="mine",
                width="100%",
            ),
        ),
    )
