"""Orchestration: resource pools with each node's capacity and usage, the tenant's queues with
quotas (nominal, borrowing limit, per user) and what they use, the jobs waiting with their
position and reason; platform admins create or change pools and tenant queue quotas."""

import reflex as rx

from components.forms import field, form_input, section
from components.i18n import t
from components.navigation import area_tabs
from components.shell import page_shell
from components.tables import headers
from state.auth import AuthState
from state.orchestration import OrchestrationState


def _usage(text: rx.Var, percent: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.progress(
            value=percent,
            max=100,
            width="100%",
            color_scheme=rx.cond(percent >= 90, "red", rx.cond(percent >= 70, "amber", "teal")),
        ),
        rx.text(text, size="1", color=rx.color("gray", 11)),
        spacing="1",
        min_width="120px",
    )


# pools ------------------------------------------------------------------------------------------


def _node_row(node: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(rx.text(node.pool, weight="medium"), rx.badge(node.compute, variant="soft"), spacing="2")
        ),
        rx.table.cell(
            rx.hstack(
                rx.code(node.name, size="1"),
                rx.cond(node.draining, rx.badge(t("orch.draining"), color_scheme="orange")),
                rx.cond(
                    AuthState.is_platform_admin,
                    rx.button(
                        rx.cond(node.draining, t("orch.undrain"), t("orch.drain")),
                        size="1",
                        variant="ghost",
                        on_click=OrchestrationState.set_draining(node.pool, node.name, ~node.draining),
                    ),
                ),
                spacing="2",
                align="center",
            )
        ),
        rx.table.cell(rx.cond(node.gpu_type != "", node.gpu_type, "—")),
        rx.table.cell(_usage(node.gpus, node.gpu_pct)),
        rx.table.cell(_usage(node.cpu, node.cpu_pct)),
        rx.table.cell(_usage(node.memory, node.memory_pct)),
        data_pool=node.pool,
        data_node=node.name,
        data_draining=node.draining,
    )


def _pools() -> rx.Component:
    return section(
        "orch.pools",
        "orch.pools_intro",
        rx.table.root(
            headers("orch.pool", "orch.node", "orch.gpu_type", "orch.gpus", "orch.cpu", "orch.memory"),
            rx.table.body(rx.foreach(OrchestrationState.nodes, _node_row)),
            variant="surface",
            width="100%",
            id="pool-nodes",
        ),
    )


# queues and waiting jobs ------------------------------------------------------------------------


def _queue_row(queue: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(queue["name"], weight="medium")),
        rx.table.cell(queue["pool"]),
        rx.table.cell(queue["nominal_gpus"]),
        rx.table.cell(queue["borrowing_limit_gpus"]),
        rx.table.cell(queue["nominal_cpu"]),
        rx.table.cell(queue["per_user_gpus"]),
        rx.table.cell(
            rx.cond(
                queue["preempt_lower_priority"] == "yes",
                rx.badge(t("orch.preempts"), color_scheme="orange"),
                rx.text("—", color=rx.color("gray", 9)),
            )
        ),
        rx.table.cell(queue["gpus_used"]),
        rx.table.cell(rx.badge(queue["running"], color_scheme="blue")),
        rx.table.cell(rx.badge(queue["waiting"], color_scheme="amber")),
        rx.table.cell(
            rx.cond(
                AuthState.is_platform_admin,
                rx.button(
                    rx.icon("pencil", size=12),
                    t("orch.edit"),
                    size="1",
                    variant="soft",
                    on_click=OrchestrationState.edit_queue(queue["name"]),
                ),
            )
        ),
        data_queue=queue["name"],
    )


def _queues() -> rx.Component:
    return section(
        "orch.queues",
        "orch.queues_intro",
        rx.cond(
            OrchestrationState.queues.length() > 0,
            rx.table.root(
                headers(
                    "orch.queue",
                    "orch.pool",
                    "orch.nominal_gpus",
                    "orch.borrowing_limit",
                    "orch.nominal_cpu",
                    "orch.per_user_gpus",
                    "orch.preemption",
                    "orch.gpus_used",
                    "orch.running",
                    "orch.waiting",
                    "",
                ),
                rx.table.body(rx.foreach(OrchestrationState.queues, _queue_row)),
                variant="surface",
                width="100%",
                id="queue-list",
            ),
            rx.text(t("orch.no_queues"), size="2", color=rx.color("gray", 10), id="no-queues"),
        ),
    )


def _waiting_row(job: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(job["position"], color_scheme="amber")),
        rx.table.cell(rx.link(job["name"], href="/training/jobs/" + job["id"])),
        rx.table.cell(job["queue"]),
        rx.table.cell(job["priority"]),
        rx.table.cell(rx.text(job["request"], size="1", white_space="nowrap")),
        rx.table.cell(rx.text(job["reason"], size="1"), max_width="420px"),
        rx.table.cell(rx.text(job["created"], size="1", white_space="nowrap")),
        data_name=job["name"],
    )


def _waiting() -> rx.Component:
    return section(
        "orch.waiting_jobs",
        "orch.waiting_intro",
        rx.cond(
            OrchestrationState.waiting.length() > 0,
            rx.table.root(
                headers(
                    "training.position",
                    "training.job_name",
                    "orch.queue",
                    "res.priority",
                    "orch.request",
                    "training.reason",
                    "training.created",
                ),
                rx.table.body(rx.foreach(OrchestrationState.waiting, _waiting_row)),
                variant="surface",
                width="100%",
                id="waiting-jobs",
            ),
            rx.text(t("orch.none_waiting"), size="2", color=rx.color("gray", 10), id="none-waiting"),
        ),
    )


# the platform admin's forms ---------------------------------------------------------------------


def _pool_field(key: str, label_key: str, **props: object) -> rx.Component:
    form, setter = OrchestrationState.pool_form, OrchestrationState.set_pool_field
    return form_input(form, setter, key, label_key, "pool", **props)


def _node_input(index: rx.Var, node: rx.Var, key: str, label_key: str) -> rx.Component:
    return rx.input(
        value=node[key],
        on_change=lambda v: OrchestrationState.set_node_field(index, key, v),
        placeholder=t(label_key),
        aria_label=t(label_key),
        size="2",
        width="100%",
        data_field=key,
    )


def _node_form_row(node: rx.Var, index: rx.Var) -> rx.Component:
    return rx.hstack(
        _node_input(index, node, "name", "orch.node"),
        _node_input(index, node, "gpus", "orch.gpus"),
        _node_input(index, node, "gpu_type", "orch.gpu_type"),
        _node_input(index, node, "cpu", "orch.cpu"),
        _node_input(index, node, "memory_gb", "orch.memory_gb"),
        rx.icon_button(
            rx.icon("trash-2", size=14),
            on_click=OrchestrationState.remove_node_row(index),
            variant="ghost",
            color_scheme="red",
            aria_label=t("orch.remove_node"),
        ),
        spacing="2",
        align="center",
        width="100%",
        class_name="node-row",
    )


def _pool_form() -> rx.Component:
    return section(
        "orch.pool_form",
        "orch.pool_form_intro",
        rx.hstack(
            rx.text(t("orch.edit_existing"), size="2"),
            rx.foreach(
                OrchestrationState.pool_names,
                lambda name: rx.button(name, size="1", variant="soft", on_click=OrchestrationState.edit_pool(name)),
            ),
            rx.button(
                rx.icon("plus", size=12),
                t("orch.new_pool"),
                size="1",
                variant="outline",
                on_click=OrchestrationState.new_pool,
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.grid(
            _pool_field("name", "orch.pool_name", placeholder="a100-pool"),
            field(
                "orch.compute",
                rx.select.root(
                    rx.select.trigger(id="pool-compute", width="100%"),
                    rx.select.content(
                        rx.select.item("kubernetes", value="kubernetes"), rx.select.item("local", value="local")
                    ),
                    value=OrchestrationState.pool_form["compute"],
                    on_change=lambda v: OrchestrationState.set_pool_field("compute", v),
                ),
                "pool-compute",
            ),
            _pool_field("kueue_queue", "orch.kueue_queue"),
            _pool_field("node_selector", "orch.node_selector", placeholder="nvidia.com/gpu.product=A100"),
            _pool_field("tolerations", "orch.tolerations", placeholder='[{"key": "gpu", "operator": "Exists"}]'),
            columns=rx.breakpoints(initial="1", md="3", lg="5"),
            spacing="3",
            width="100%",
        ),
        rx.text(t("orch.nodes"), size="2", weight="medium"),
        rx.vstack(
            rx.hstack(
                *[
                    rx.text(t(key), size="1", color=rx.color("gray", 11), width="100%")
                    for key in ("orch.node", "orch.gpus", "orch.gpu_type", "orch.cpu", "orch.memory_gb")
                ],
                rx.box(width="32px", min_width="32px"),
                spacing="2",
                width="100%",
            ),
            rx.foreach(OrchestrationState.node_rows, _node_form_row),
            spacing="2",
            width="100%",
            id="pool-node-rows",
        ),
        rx.hstack(
            rx.button(
                rx.icon("plus", size=14),
                t("orch.add_node"),
                variant="soft",
                on_click=OrchestrationState.add_node_row,
                id="add-node",
            ),
            rx.spacer(),
            rx.button(
                rx.icon("save", size=14), t("orch.save_pool"), on_click=OrchestrationState.save_pool, id="save-pool"
            ),
            width="100%",
        ),
        id="pool-form",
    )


def _queue_field(key: str, label_key: str) -> rx.Component:
    return form_input(OrchestrationState.queue_form, OrchestrationState.set_queue_field, key, label_key, "queue")


def _tenant_item(tenant: rx.Var) -> rx.Component:
    return rx.select.item(tenant["name"], value=tenant["id"])


def _queue_form() -> rx.Component:
    return section(
        "orch.queue_form",
        "orch.queue_form_intro",
        rx.grid(
            field(
                "header.tenant",
                rx.select.root(
                    rx.select.trigger(id="queue-tenant", width="100%"),
                    rx.select.content(rx.foreach(AuthState.tenants, _tenant_item)),
                    value=OrchestrationState.queue_tenant,
                    on_change=OrchestrationState.set_queue_tenant,
                ),
                "queue-tenant",
            ),
            _queue_field("name", "orch.queue"),
            field(
                "orch.pool",
                rx.select.root(
                    rx.select.trigger(id="queue-pool", width="100%"),
                    rx.select.content(rx.foreach(OrchestrationState.pool_names, lambda n: rx.select.item(n, value=n))),
                    value=OrchestrationState.queue_form["pool"],
                    on_change=lambda v: OrchestrationState.set_queue_field("pool", v),
                ),
                "queue-pool",
            ),
            _queue_field("nominal_gpus", "orch.nominal_gpus"),
            _queue_field("borrowing_limit_gpus", "orch.borrowing_limit"),
            _queue_field("nominal_cpu", "orch.nominal_cpu"),
            _queue_field("per_user_gpus", "orch.per_user_gpus"),
            field(
                "orch.preemption",
                rx.hstack(
                    rx.switch(
                        checked=OrchestrationState.queue_form["preempt_lower_priority"] == "yes",
                        on_change=OrchestrationState.set_queue_preemption,
                        id="queue-preemption",
                    ),
                    rx.text(t("orch.preemption_hint"), size="1", color=rx.color("gray", 10)),
                    align="center",
                ),
                "queue-preemption",
            ),
            columns=rx.breakpoints(initial="1", md="4", lg="7"),
            spacing="3",
            width="100%",
        ),
        rx.text(t("orch.quota_hint"), size="1", color=rx.color("gray", 10)),
        rx.hstack(
            rx.spacer(),
            rx.button(
                rx.icon("save", size=14), t("orch.save_queue"), on_click=OrchestrationState.save_queue, id="save-queue"
            ),
            width="100%",
        ),
        id="queue-form",
    )


def orchestration() -> rx.Component:
    return page_shell(
        "orch.title",
        rx.cond(
            OrchestrationState.allowed,
            rx.vstack(
                rx.hstack(
                    area_tabs("/orchestration"),
                    rx.spacer(),
                    rx.cond(
                        OrchestrationState.live,
                        rx.badge(rx.icon("radio", size=12), t("serving.live"), color_scheme="green", id="orch-live"),
                    ),
                    width="100%",
                    align="center",
                ),
                _pools(),
                rx.cond(
                    AuthState.tenant_id == "",
                    rx.callout(t("training.pick_tenant"), icon="info", width="100%"),
                    rx.fragment(_queues(), _waiting()),
                ),
                rx.cond(AuthState.is_platform_admin, rx.fragment(_pool_form(), _queue_form())),
                spacing="5",
                width="100%",
            ),
            rx.callout(t("orch.not_allowed"), icon="lock", color_scheme="amber", width="100%"),
        ),
    )
