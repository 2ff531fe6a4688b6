"""Deploy: the tenant's model services with status, replicas, version and gateway figures;
a form to deploy a model version on the local engine or vLLM; the clusters work runs on."""

import plotly.graph_objects as go
import reflex as rx

from components.forms import field, form_input, section, select
from components.i18n import t
from components.services import service_badge
from components.shell import page_shell
from components.tables import data_table, empty_state, headers
from state.serving import ServingState


def _input(key: str, label_key: str, hint_key: str = "", placeholder: str = "") -> rx.Component:
    form, setter = ServingState.form, ServingState.set_field
    return form_input(form, setter, key, label_key, "deploy", hint_key, placeholder=placeholder)


def _grid(*children: rx.Component) -> rx.Component:
    return rx.grid(*children, columns=rx.breakpoints(initial="2", md="3", lg="4"), spacing="4", width="100%")


def deploy_form() -> rx.Component:
    return section(
        "serving.new",
        "serving.new_intro",
        rx.cond(
            ServingState.models.length() > 0,
            rx.fragment(),
            rx.callout(t("serving.no_models"), icon="info", color_scheme="amber", width="100%", id="deploy-no-models"),
        ),
        _grid(
            _input("name", "serving.name", "serving.name_hint", "bp-advice-chat"),
            field(
                "serving.model",
                select(
                    "deploy-model",
                    [rx.foreach(ServingState.models, lambda m: rx.select.item(m["name"], value=m["id"]))],
                    ServingState.model_id,
                    ServingState.set_model,
                ),
                "deploy-model",
            ),
            field(
                "serving.version",
                select(
                    "deploy-version",
                    [
                        rx.foreach(
                            ServingState.model_versions,
                            lambda v: rx.select.item(v["label"], " · ", v["format"], value=v["id"]),
                        )
                    ],
                    ServingState.version_id,
                    ServingState.set_version,
                ),
                "deploy-version",
            ),
            field(
                "serving.engine",
                select(
                    "deploy-engine",
                    [
                        rx.select.item(t("serving.engine_local"), value="local"),
                        rx.select.item(t("serving.engine_vllm"), value="vllm"),
                    ],
                    ServingState.form["engine"],
                    lambda v: ServingState.set_field("engine", v),
                ),
                "deploy-engine",
            ),
        ),
        rx.heading(t("serving.resources"), size="3"),
        _grid(
            _input("replicas", "serving.replicas"),
            _input("cpu", "serving.cpu"),
            _input("memory_gb", "serving.memory_gb"),
            _input("gpus", "serving.gpus"),
            _input("max_model_len", "serving.max_model_len"),
            _input("gpu_memory_utilization", "serving.gpu_memory_utilization", "serving.memory_share_hint"),
            _input("tensor_parallel_size", "serving.tensor_parallel_size", "serving.vllm_only"),
            _input("requests_per_minute", "serving.requests_per_minute", "serving.rpm_hint"),
            _input(
                "engine_args", "serving.engine_args", "serving.engine_args_hint", "--enforce-eager --max-num-seqs 64"
            ),
            field(
                "serving.standby",
                select(
                    "deploy-standby",
                    [
                        rx.foreach(
                            ServingState.standby_choices,
                            lambda name: rx.select.item(
                                rx.cond(name == "-", t("serving.no_standby"), name), value=name
                            ),
                        )
                    ],
                    rx.cond(ServingState.form["standby"] == "", "-", ServingState.form["standby"]),
                    lambda v: ServingState.set_field("standby", v),
                ),
                "deploy-standby",
                "serving.standby_hint",
            ),
        ),
        rx.hstack(
            rx.button(
                rx.icon("rocket", size=16),
                t("serving.submit"),
                on_click=ServingState.deploy,
                loading=ServingState.deploying,
                disabled=ServingState.models.length() == 0,
                id="deploy-submit",
                size="3",
            ),
            justify="end",
            width="100%",
        ),
        id="new-service",
    )


def _service_row(service: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(service.name, href="/serving/" + service.id, weight="medium")),
        rx.table.cell(service_badge(service.status)),
        rx.table.cell(rx.text(service.replicas, class_name="replicas")),
        rx.table.cell(rx.text(service.version, size="2")),
        rx.table.cell(rx.badge(service.engine, variant="outline")),
        rx.table.cell(rx.text(service.requests, class_name="requests")),
        rx.table.cell(rx.text(service.tokens)),
        rx.table.cell(rx.text(rx.cond(service.latency != "", service.latency, "—"), white_space="nowrap")),
        rx.table.cell(rx.text(service.errors)),
        rx.table.cell(rx.text(rx.cond(service.recent != "", service.recent, "—"), white_space="nowrap")),
        rx.table.cell(rx.text(service.reason, size="1", color=rx.color("gray", 11)), max_width="320px"),
        data_name=service.name,
        data_status=service.status,
    )


def service_list() -> rx.Component:
    return section(
        "serving.services",
        "serving.services_intro",
        rx.cond(
            ServingState.live,
            rx.badge(
                rx.icon("radio", size=12), t("serving.live"), color_scheme="green", variant="soft", id="deploy-live"
            ),
        ),
        data_table(
            ServingState.services,
            _service_row,
            [
                ("serving.name", "name"),
                ("serving.status", "status"),
                ("serving.ready_replicas", "replicas"),
                ("serving.version", "version"),
                ("serving.engine", "engine"),
                ("serving.requests", "requests"),
                ("serving.tokens", "tokens"),
                ("serving.latency", "latency"),
                ("serving.errors", "errors"),
                "serving.traffic",
                ("serving.reason", "reason"),
            ],
            "service-list",
            empty=empty_state("serving.no_services", "no-services"),
        ),
        rx.cond(
            ServingState.has_traffic,
            rx.vstack(
                rx.text(t("serving.traffic_chart"), size="2", weight="medium"),
                rx.plotly(
                    data=ServingState.traffic_chart.to(go.Figure),
                    config={"displaylogo": False, "responsive": True},
                    width="100%",
                    id="traffic-chart",
                ),
                width="100%",
                spacing="1",
            ),
        ),
    )


def _platform_actions(service: rx.Var) -> rx.Component:
    """Start or stop: for platform admins only; everyone else reads the row."""
    busy = ServingState.scaling == service.id
    return rx.cond(
        ServingState.may_manage_platform,
        rx.cond(
            service.status == "stopped",
            rx.button(
                rx.icon("play", size=14),
                t("serving.platform_start"),
                on_click=ServingState.scale_platform(service.id, 1),
                loading=busy,
                size="1",
                variant="soft",
                id="platform-service-start-" + service.name,
            ),
            rx.button(
                rx.icon("square", size=14),
                t("serving.platform_stop"),
                on_click=ServingState.scale_platform(service.id, 0),
                loading=busy,
                size="1",
                variant="soft",
                color_scheme="red",
                id="platform-service-stop-" + service.name,
            ),
        ),
        rx.badge(t("serving.platform_read_only"), variant="outline", color_scheme="gray"),
    )


def _platform_row(service: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(service.name, weight="medium")),
        rx.table.cell(service_badge(service.status), class_name="platform-service-status"),
        rx.table.cell(rx.text(service.model, size="2")),
        rx.table.cell(rx.text(t("serving.platform_callable"), " ", rx.code(service.name), size="2")),
        rx.table.cell(rx.text(service.reason, size="1", color=rx.color("gray", 11)), max_width="320px"),
        rx.table.cell(_platform_actions(service)),
        data_name=service.name,
        data_status=service.status,
    )


def platform_services() -> rx.Component:
    """The platform's own services every tenant may call (the starter model)."""
    return section(
        "serving.platform_services",
        "serving.platform_services_intro",
        rx.table.root(
            headers(
                "serving.name",
                "serving.status",
                "serving.model",
                "serving.platform_how",
                "serving.reason",
                "",
            ),
            rx.table.body(rx.foreach(ServingState.platform_services, _platform_row)),
            variant="surface",
            width="100%",
        ),
        id="platform-services",
    )


def starter_hint() -> rx.Component:
    """No service of the tenant's own yet: the starter model answers already; how to deploy one's own."""
    return rx.callout(
        rx.text(t("serving.starter_hint"), " ", rx.link(t("serving.starter_try"), href="/playground?service=starter")),
        icon="sparkles",
        color_scheme="teal",
        width="100%",
        id="deploy-starter-hint",
    )


def _cluster_row(node: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(node["cluster"], weight="medium")),
        rx.table.cell(rx.badge(node["kind"], variant="outline")),
        rx.table.cell(node["node"]),
        rx.table.cell(node["cpu"]),
        rx.table.cell(node["memory"]),
        rx.table.cell(rx.text(node["gpus"], rx.cond(node["gpu_type"] != "", " · " + node["gpu_type"], ""))),
        rx.table.cell(rx.text(node["node_detail"], " ", node["detail"], size="1", color=rx.color("gray", 11))),
        data_cluster=node["cluster"],
    )


def _step(step: rx.Var) -> rx.Component:
    ok = step["ok"] == "ok"
    return rx.hstack(
        rx.cond(
            ok, rx.icon("circle-check", color=rx.color("green", 10)), rx.icon("circle-x", color=rx.color("red", 10))
        ),
        rx.vstack(
            rx.hstack(
                rx.text(step["name"], weight="bold", size="2"),
                rx.badge(
                    rx.cond(ok, t("serving.step_ok"), t("serving.step_failed")),
                    color_scheme=rx.cond(ok, "green", "red"),
                ),
                align="center",
            ),
            rx.text(step["detail"], size="2"),
            rx.cond(step["remedy"] != "", rx.text(step["remedy"], size="2", color=rx.color("amber", 11))),
            spacing="1",
        ),
        align="start",
        data_step=step["name"],
        data_ok=step["ok"],
    )


def cluster_panel() -> rx.Component:
    return section(
        "serving.clusters",
        "serving.clusters_intro",
        rx.table.root(
            headers(
                "serving.cluster",
                "serving.kind",
                "serving.node",
                "serving.cpu",
                "serving.memory_gb",
                "serving.gpus",
                "serving.detail",
            ),
            rx.table.body(rx.foreach(ServingState.clusters, _cluster_row)),
            variant="surface",
            width="100%",
            id="cluster-list",
        ),
        rx.button(
            rx.icon("plug-zap", size=14),
            t("serving.test_connection"),
            on_click=ServingState.test_connection,
            loading=ServingState.testing,
            variant="soft",
            id="test-connection",
        ),
        rx.cond(
            ServingState.steps.length() > 0,
            rx.vstack(rx.foreach(ServingState.steps, _step), spacing="3", id="connection-steps", width="100%"),
        ),
    )


def serving() -> rx.Component:
    return page_shell(
        "serving.title",
        rx.cond(
            ServingState.tenant_id == "",
            rx.callout(t("serving.pick_tenant"), icon="info", width="100%"),
            rx.cond(
                ServingState.may_view,
                rx.vstack(
                    rx.cond(ServingState.starter_hint, starter_hint()),
                    service_list(),
                    rx.cond(ServingState.platform_services.length() > 0, platform_services()),
                    rx.cond(ServingState.may_deploy, deploy_form()),
                    rx.cond(ServingState.may_see_clusters, cluster_panel()),
                    spacing="5",
                    width="100%",
                ),
                rx.callout(t("serving.not_allowed"), icon="lock", color_scheme="amber", width="100%"),
            ),
        ),
    )
