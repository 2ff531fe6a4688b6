"""Operations: live dashboards (this node's GPUs and host, the tenant's services, jobs and
resource-hours), log search with a live tail, alerts and work orders."""

import plotly.graph_objects as go
import reflex as rx

from components.forms import section, select
from components.i18n import t
from components.shell import page_shell
from components.tables import headers
from pages.ops_alerts import alerts_panel, work_orders_panel
from state.ops import SINCE, OpsState

CHART_LAYOUT = {
    "height": 280,
    "margin": {"l": 48, "r": 16, "t": 16, "b": 40},
    "yaxis": {"range": [0, 100]},
    "legend": {"orientation": "h", "y": -0.25},
    "paper_bgcolor": "rgba(0,0,0,0)",
}


def _card(label_key: str, value: rx.Var, unit: str, card_id: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(t(label_key), size="1", color=rx.color("gray", 11)),
            rx.hstack(
                rx.heading(rx.cond(value, value, "—"), size="6", id=card_id),
                rx.text(unit, size="2", color=rx.color("gray", 10)),
                align="baseline",
                spacing="1",
            ),
            spacing="1",
        ),
        min_width="150px",
    )


def _chart(data: rx.Var, chart_id: str) -> rx.Component:
    return rx.plotly.basic(
        data=data.to(go.Figure),
        layout=CHART_LAYOUT,
        config={"displaylogo": False, "responsive": True},
        id=chart_id,
        width="100%",
    )


def _gpu_card(gpu: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text("GPU ", gpu["index"], " · ", gpu["name"], weight="bold", size="2"),
            rx.text(t("ops.gpu_util"), ": ", gpu["util"], " %", size="2"),
            rx.text(t("ops.gpu_memory"), ": ", gpu["memory"], size="2"),
            rx.text(t("ops.gpu_temperature"), ": ", gpu["temperature"], " °C", size="2"),
            rx.text(t("ops.gpu_power"), ": ", gpu["power"], " W", size="2"),
            spacing="1",
        ),
        class_name="gpu-card",
    )


def gpu_section() -> rx.Component:
    return section(
        "ops.gpus",
        "ops.gpus_intro",
        rx.cond(
            OpsState.gpu_available,
            rx.hstack(rx.foreach(OpsState.gpus, _gpu_card), wrap="wrap", spacing="3"),
            rx.callout.root(
                rx.callout.icon(rx.icon("cpu")),
                rx.vstack(
                    rx.text(t("ops.no_gpu"), weight="bold", size="2"),
                    rx.text(OpsState.gpu_driver, size="1"),
                    spacing="1",
                ),
                color_scheme="gray",
                width="100%",
                id="ops-no-gpu",
            ),
        ),
        rx.cond(OpsState.gpu_series, _chart(OpsState.gpu_figure, "ops-gpu-chart")),
    )


def host_section() -> rx.Component:
    return section(
        "ops.host",
        "ops.host_intro",
        rx.hstack(
            _card("ops.cpu", OpsState.host["cpu_pct"], "%", "ops-cpu"),
            _card("ops.memory", OpsState.host["mem_pct"], "%", "ops-memory"),
            _card("ops.memory_used", OpsState.host["mem_used_gb"], "GiB", "ops-memory-used"),
            _card("ops.disk", OpsState.host["disk_pct"], "%", "ops-disk"),
            _card("ops.load", OpsState.host["load_1m"], "", "ops-load"),
            wrap="wrap",
            spacing="3",
        ),
        _chart(OpsState.host_figure, "ops-host-chart"),
    )


def _service_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["model"]),
        rx.table.cell(row["requests"]),
        rx.table.cell(row["errors"]),
        rx.table.cell(row["tokens"]),
        rx.table.cell(row["p95"]),
    )


def _cost_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(row["kind"], variant="outline")),
        rx.table.cell(row["name"]),
        rx.table.cell(row["gpu_hours"]),
        rx.table.cell(row["cpu_hours"]),
        rx.table.cell(row["cost"]),
    )


def workload_section() -> rx.Component:
    return section(
        "ops.workloads",
        "ops.workloads_intro",
        rx.hstack(
            _card("ops.jobs_running", OpsState.jobs["running"], "", "ops-jobs-running"),
            _card("ops.jobs_queued", OpsState.jobs["queued"], "", "ops-jobs-queued"),
            _card("ops.gpus_in_use", OpsState.jobs["gpus_in_use"], "", "ops-gpus-in-use"),
            wrap="wrap",
            spacing="3",
        ),
        rx.cond(
            OpsState.services.length() > 0,
            rx.table.root(
                headers("ops.service", "ops.requests", "ops.errors", "ops.tokens", "ops.p95"),
                rx.table.body(rx.foreach(OpsState.services, _service_row)),
                variant="surface",
                width="100%",
            ),
            rx.text(t("ops.no_traffic"), size="2", color=rx.color("gray", 10)),
        ),
        rx.hstack(
            rx.heading(t("ops.cost"), size="3"),
            rx.cond(
                OpsState.budget != "",
                rx.badge(
                    t("ops.workbench_budget"),
                    " ",
                    OpsState.budget,
                    color_scheme=rx.cond(OpsState.over_budget, "red", "green"),
                    id="ops-budget",
                ),
            ),
            align="center",
            spacing="3",
        ),
        rx.cond(
            OpsState.cost.length() > 0,
            rx.table.root(
                headers("ops.kind", "ops.name", "ops.gpu_hours", "ops.cpu_hours", "ops.cost_priced"),
                rx.table.body(rx.foreach(OpsState.cost, _cost_row)),
                variant="surface",
                width="100%",
                id="ops-cost",
            ),
            rx.text(t("ops.no_cost"), size="2", color=rx.color("gray", 10)),
        ),
    )


def dashboards() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.cond(OpsState.live, rx.badge(t("ops.live"), color_scheme="green", id="ops-live")),
            rx.text(t("ops.updated"), " ", rx.text.span(OpsState.updated_at, id="ops-updated"), size="2"),
            rx.text(t("ops.latest"), " ", rx.text.span(OpsState.latest_at, id="ops-latest"), size="2"),
            rx.text(t("ops.points"), " ", rx.text.span(OpsState.points, id="ops-points"), size="2"),
            rx.text.span(OpsState.refreshes, id="ops-refreshes", display="none"),
            align="center",
            spacing="4",
        ),
        gpu_section(),
        host_section(),
        workload_section(),
        spacing="4",
        width="100%",
    )


def _select(
    control_id: str,
    options: list[tuple[str, str]],
    value: rx.Var,
    on_change: rx.EventHandler,
    *extra: rx.Component,
) -> rx.Component:
    items = [*[rx.select.item(t(label), value=v) for v, label in options], *extra]
    return select(control_id, items, value, on_change, width=None)


def _log_line(line: rx.Var) -> rx.Component:
    colour = rx.match(line["level"], ("ERROR", "red"), ("CRITICAL", "red"), ("WARNING", "amber"), "gray")
    return rx.hstack(
        rx.text(line["time"], size="1", color=rx.color("gray", 10), white_space="nowrap"),
        rx.badge(line["level"], color_scheme=colour, size="1"),
        rx.badge(line["source"], variant="outline", size="1"),
        rx.text(line["message"], size="1", font_family="monospace", style={"word_break": "break-all"}),
        spacing="2",
        align="start",
        class_name="log-line",
        width="100%",
    )


def logs() -> rx.Component:
    return section(
        "ops.logs",
        "ops.logs_intro",
        rx.hstack(
            rx.input(
                value=OpsState.log_text,
                on_change=OpsState.set_log_text,
                placeholder=t("ops.log_search_hint"),
                id="ops-log-text",
                flex="1",
                min_width="240px",
            ),
            _select(
                "ops-log-source",
                [("all", "ops.source_all"), ("job", "ops.source_job"), ("service", "ops.source_service")],
                OpsState.log_source,
                OpsState.set_log_source,
                rx.cond(OpsState.is_platform_admin, rx.select.item(t("ops.source_platform"), value="platform")),
            ),
            _select(
                "ops-log-level",
                [(level, f"ops.level_{level.lower()}") for level in ("all", "INFO", "WARNING", "ERROR")],
                OpsState.log_level,
                OpsState.set_log_level,
            ),
            _select(
                "ops-log-since",
                [(key, f"ops.since_{key}") for key in SINCE],
                OpsState.log_since,
                OpsState.set_log_since,
            ),
            rx.button(rx.icon("search", size=14), t("ops.search"), on_click=OpsState.search_logs, id="ops-log-search"),
            rx.button(
                rx.icon(rx.cond(OpsState.tailing, "pause", "play"), size=14),
                rx.cond(OpsState.tailing, t("ops.stop_tail"), t("ops.tail")),
                on_click=OpsState.toggle_tail,
                variant="soft",
                id="ops-log-tail",
            ),
            wrap="wrap",
            width="100%",
            align="center",
        ),
        rx.cond(
            OpsState.log_lines.length() > 0,
            rx.scroll_area(
                rx.vstack(rx.foreach(OpsState.log_lines, _log_line), spacing="1", width="100%"),
                max_height="560px",
                id="ops-log-lines",
            ),
            rx.text(t("ops.no_lines"), size="2", color=rx.color("gray", 10), id="ops-no-lines"),
        ),
    )


def ops() -> rx.Component:
    return page_shell(
        "ops.title",
        rx.cond(
            OpsState.tenant_id == "",
            rx.callout(t("ops.pick_tenant"), icon="info", width="100%"),
            rx.cond(
                OpsState.may_view,
                rx.tabs.root(
                    rx.tabs.list(
                        rx.tabs.trigger(t("ops.tab_dashboards"), value="dashboards", id="ops-tab-dashboards"),
                        rx.tabs.trigger(t("ops.tab_logs"), value="logs", id="ops-tab-logs"),
                        rx.tabs.trigger(t("ops.tab_alerts"), value="alerts", id="ops-tab-alerts"),
                        rx.tabs.trigger(t("ops.tab_orders"), value="orders", id="ops-tab-orders"),
                    ),
                    rx.tabs.content(dashboards(), value="dashboards", padding_top="16px"),
                    rx.tabs.content(logs(), value="logs", padding_top="16px"),
                    rx.tabs.content(alerts_panel(), value="alerts", padding_top="16px"),
                    rx.tabs.content(work_orders_panel(), value="orders", padding_top="16px"),
                    value=OpsState.tab,
                    on_change=OpsState.set_tab,
                    width="100%",
                ),
                rx.callout(t("ops.not_allowed"), icon="lock", color_scheme="amber", width="100%"),
            ),
        ),
    )
