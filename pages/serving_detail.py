"""One model service: status and reason, replicas, the model's versions (rolling update to any,
rollback), scale and stop, a replica's log tail, its gateway usage and how to call it."""

import reflex as rx

from components.dialogs import confirm_dialog
from components.display import fact
from components.forms import section
from components.i18n import t, t_choice
from components.services import service_badge
from components.shell import page_shell
from components.tables import headers
from state.serving_detail import ServiceState

REPLICA_STATUSES = ("starting", "ready", "unhealthy", "failed", "draining")


def _heading() -> rx.Component:
    service = ServiceState.service
    return rx.vstack(
        rx.link(rx.hstack(rx.icon("arrow-left", size=14), t("service.back"), align="center"), href="/serving"),
        rx.hstack(
            rx.heading(service["name"], size="5", id="service-title"),
            service_badge(service["status"], "service-status"),
            rx.badge(service["engine"], variant="outline"),
            rx.cond(
                ServiceState.following,
                rx.badge(rx.icon("radio", size=12), t("serving.live"), color_scheme="green", variant="soft"),
            ),
            rx.spacer(),
            rx.cond(
                service["status"] == "ready",
                rx.link(
                    rx.button(rx.icon("message-square", size=14), t("service.try"), variant="soft"),
                    href="/playground?service=" + service["name"],
                    id="service-try",
                ),
            ),
            rx.cond(
                ServiceState.may_deploy & (service["status"] != "stopped"),
                confirm_dialog(
                    rx.button(
                        rx.icon("square", size=14),
                        t("service.stop"),
                        color_scheme="red",
                        variant="soft",
                        id="service-stop",
                    ),
                    "service.stop_title",
                    "service.stop_detail",
                    "service.stop",
                    ServiceState.stop,
                    "service-stop-confirm",
                ),
            ),
            align="center",
            spacing="3",
            width="100%",
        ),
        rx.text(service["reason"], size="2", color=rx.color("gray", 11), id="service-reason"),
        width="100%",
    )


def _overview() -> rx.Component:
    service = ServiceState.service
    return rx.card(
        rx.grid(
            rx.data_list.root(
                fact("serving.version", service["version"], "service-version"),
                fact("service.previous", rx.cond(service["previous"] != "", service["previous"], "—")),
                fact("serving.ready_replicas", service["ready"] + "/" + service["replicas"], "service-replicas"),
            ),
            rx.data_list.root(
                fact("service.resources", service["resources"]),
                fact("serving.max_model_len", service["max_model_len"]),
                fact("serving.requests_per_minute", service["requests_per_minute"]),
                fact("serving.engine_args", service["engine_args"]),
                fact("service.created", service["created"]),
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="5",
            width="100%",
        ),
        width="100%",
    )


def _replica_row(replica: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(replica["ordinal"]),
        rx.table.cell(
            rx.badge(
                t_choice("replica.status", replica["status"], REPLICA_STATUSES),
                color_scheme=rx.match(replica["status"], ("ready", "green"), ("unhealthy", "red"), "blue"),
            )
        ),
        rx.table.cell(replica["version"]),
        rx.table.cell(replica["restarts"]),
        rx.table.cell(rx.text(replica["started"], size="1")),
        rx.table.cell(rx.text(replica["ready"], size="1")),
        rx.table.cell(rx.text(replica["step"], size="1", color=rx.color("gray", 11)), max_width="320px"),
        rx.table.cell(
            rx.button(
                rx.icon("scroll-text", size=12),
                t("service.log"),
                size="1",
                variant=rx.cond(ServiceState.log_ordinal == replica["ordinal"], "solid", "soft"),
                on_click=ServiceState.show_log(replica["ordinal"]),
            )
        ),
        data_ordinal=replica["ordinal"],
        data_status=replica["status"],
    )


def _replicas() -> rx.Component:
    return section(
        "service.replicas",
        "service.replicas_intro",
        rx.cond(
            ServiceState.may_deploy,
            rx.hstack(
                rx.input(value=ServiceState.scale_to, on_change=ServiceState.set_scale_to, id="scale-to", width="80px"),
                rx.button(rx.icon("scaling", size=14), t("service.scale"), on_click=ServiceState.scale, variant="soft"),
                align="center",
            ),
        ),
        rx.cond(
            ServiceState.replicas.length() > 0,
            rx.table.root(
                headers(
                    "service.ordinal",
                    "serving.status",
                    "serving.version",
                    "service.restarts",
                    "service.started",
                    "service.ready_at",
                    "service.replica_step",
                    "",
                ),
                rx.table.body(rx.foreach(ServiceState.replicas, _replica_row)),
                variant="surface",
                width="100%",
                id="replica-list",
            ),
            rx.text(t("service.no_replicas"), size="2", color=rx.color("gray", 10), id="no-replicas"),
        ),
        rx.heading(t("service.log_title"), " #", ServiceState.log_ordinal, size="3"),
        rx.code_block(
            rx.cond(ServiceState.log != "", ServiceState.log, "—"),
            language="log",
            wrap_long_lines=True,
            custom_style={"maxHeight": "320px", "overflow": "auto", "fontSize": "12px"},
            width="100%",
            id="service-log",
        ),
    )


def _version_row(version: rx.Var) -> rx.Component:
    current = version["current"] == "yes"
    return rx.table.row(
        rx.table.cell(rx.text(version["label"], weight="medium")),
        rx.table.cell(rx.badge(version["status"], variant="soft")),
        rx.table.cell(version["format"]),
        rx.table.cell(rx.text(version["created"], size="1")),
        rx.table.cell(
            rx.cond(
                current,
                rx.badge(t("service.current"), color_scheme="green"),
                rx.cond(
                    ServiceState.may_deploy,
                    rx.button(
                        rx.icon("refresh-cw", size=12),
                        t("service.update_to"),
                        size="1",
                        variant="soft",
                        on_click=ServiceState.update_to(version["id"]),
                    ),
                ),
            )
        ),
        data_version=version["label"],
    )


def _versions() -> rx.Component:
    return section(
        "service.versions",
        "service.versions_intro",
        rx.cond(
            ServiceState.may_deploy & (ServiceState.service["previous"] != ""),
            rx.button(
                rx.icon("undo-2", size=14),
                t("service.rollback"),
                " → ",
                ServiceState.service["previous"],
                on_click=ServiceState.rollback,
                variant="soft",
                color_scheme="amber",
                id="service-rollback",
            ),
        ),
        rx.table.root(
            headers("serving.version", "serving.status", "service.format", "service.created", ""),
            rx.table.body(rx.foreach(ServiceState.versions, _version_row)),
            variant="surface",
            width="100%",
            id="version-list",
        ),
    )


def _usage_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(row["key"])),
        rx.table.cell(row["requests"]),
        rx.table.cell(row["tokens"]),
        rx.table.cell(row["latency"]),
        rx.table.cell(row["errors"]),
    )


def _usage() -> rx.Component:
    return section(
        "service.usage",
        "service.usage_intro",
        rx.cond(
            ServiceState.usage.length() > 0,
            rx.table.root(
                headers(
                    "service.caller", "serving.requests", "service.tokens_split", "serving.latency", "serving.errors"
                ),
                rx.table.body(rx.foreach(ServiceState.usage, _usage_row)),
                variant="surface",
                width="100%",
                id="service-usage",
            ),
            rx.text(t("service.no_usage"), size="2", color=rx.color("gray", 10)),
        ),
    )


def _api_docs() -> rx.Component:
    return section(
        "service.api",
        "service.api_intro",
        rx.hstack(
            rx.text(t("service.base_url"), weight="medium", size="2"),
            rx.code(ServiceState.base_url, id="service-base-url"),
            rx.text(t("service.model_name"), weight="medium", size="2"),
            rx.code(ServiceState.service["name"]),
            align="center",
            wrap="wrap",
        ),
        rx.text("curl", weight="bold", size="2"),
        rx.code_block(ServiceState.curl, language="bash", width="100%", id="snippet-curl", can_copy=True),
        rx.text("Python (openai)", weight="bold", size="2"),
        rx.code_block(ServiceState.python, language="python", width="100%", id="snippet-python", can_copy=True),
    )


def service_detail() -> rx.Component:
    return page_shell(
        "service.title",
        rx.cond(
            ServiceState.missing,
            rx.callout(t("service.missing"), icon="circle-alert", color_scheme="amber", width="100%"),
            rx.vstack(
                _heading(), _overview(), _replicas(), _versions(), _usage(), _api_docs(), spacing="5", width="100%"
            ),
        ),
    )
