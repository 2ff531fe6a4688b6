"""AI space: the workbenches one may see, the create form (resources, image, idle timeout, and a
reason when the request goes beyond the self-service limits), the approvals queue and the
month's cost against the budget for tenant admins."""

import reflex as rx

from components.forms import form_input, section
from components.i18n import t, t_choice
from components.shell import page_shell
from components.space import workbench_status
from components.tables import headers
from state.space import SpaceState


def _row(wb: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(wb["name"], href="/space/" + wb["id"], weight="medium")),
        rx.table.cell(workbench_status(wb["status"])),
        rx.table.cell(rx.text(wb["resources"], size="2")),
        rx.table.cell(
            rx.cond(wb["role"] != "", t_choice("space.role", wb["role"], ("owner", "editor", "viewer")), "—")
        ),
        rx.table.cell(rx.text(wb["owner"], size="2")),
        rx.table.cell(rx.text(wb["cost"], class_name="cost")),
        rx.table.cell(rx.text(wb["reason"], size="1", color=rx.color("gray", 11)), max_width="320px"),
        data_name=wb["name"],
        data_status=wb["status"],
    )


def workbench_list() -> rx.Component:
    return section(
        "space.workbenches",
        "space.workbenches_intro",
        rx.cond(
            SpaceState.live,
            rx.badge(rx.icon("radio", size=12), t("serving.live"), color_scheme="green", variant="soft"),
        ),
        rx.cond(
            SpaceState.workbenches.length() > 0,
            rx.table.root(
                headers(
                    "space.name",
                    "space.status",
                    "space.resources",
                    "space.my_role",
                    "space.owner",
                    "space.cost_month",
                    "space.reason",
                ),
                rx.table.body(rx.foreach(SpaceState.workbenches, _row)),
                variant="surface",
                width="100%",
                id="workbench-list",
            ),
            rx.text(t("space.none"), size="2", color=rx.color("gray", 10), id="no-workbenches"),
        ),
    )


def _input(key: str, label_key: str, hint_key: str = "", placeholder: str | rx.Var = "") -> rx.Component:
    return form_input(SpaceState.form, SpaceState.set_field, key, label_key, "wb", hint_key, placeholder=placeholder)


def create_form() -> rx.Component:
    return section(
        "space.new",
        "space.new_intro",
        rx.text(t("space.limits"), ": ", SpaceState.limits, size="2", id="space-limits"),
        rx.grid(
            _input("name", "space.name", "space.name_hint", "ecg-lab"),
            _input("description", "space.description"),
            _input("image", "space.image", "space.image_hint"),
            _input("idle_timeout_min", "space.idle_timeout", "space.idle_hint", SpaceState.default_idle),
            _input("cpu", "serving.cpu"),
            _input("memory_gb", "serving.memory_gb"),
            _input("gpus", "serving.gpus"),
            _input("storage_gb", "space.storage_gb"),
            columns=rx.breakpoints(initial="2", md="4"),
            spacing="4",
            width="100%",
        ),
        _input("reason", "space.request_reason", "space.request_reason_hint"),
        rx.hstack(
            rx.button(
                rx.icon("laptop", size=16),
                t("space.create"),
                on_click=SpaceState.create,
                loading=SpaceState.creating,
                id="wb-create",
                size="3",
            ),
            justify="end",
            width="100%",
        ),
        id="new-workbench",
    )


def _approval(request: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(request["name"], weight="medium")),
        rx.table.cell(request["requested_by"]),
        rx.table.cell(rx.text(request["resources"], size="2")),
        rx.table.cell(rx.text(request["exceeds"], size="2", color=rx.color("amber", 11))),
        rx.table.cell(rx.text(request["reason"], size="2"), max_width="320px"),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    t("space.approve"),
                    size="1",
                    color_scheme="green",
                    on_click=SpaceState.decide(request["workbench_id"], True),
                    class_name="approve",
                ),
                rx.button(
                    t("space.reject"),
                    size="1",
                    color_scheme="red",
                    variant="soft",
                    on_click=SpaceState.decide(request["workbench_id"], False),
                    class_name="reject",
                ),
            )
        ),
        data_name=request["name"],
    )


def approvals() -> rx.Component:
    return section(
        "space.approvals",
        "space.approvals_intro",
        rx.cond(
            SpaceState.approvals.length() > 0,
            rx.table.root(
                headers("space.name", "space.requested_by", "space.resources", "space.exceeds", "space.reason", ""),
                rx.table.body(rx.foreach(SpaceState.approvals, _approval)),
                variant="surface",
                width="100%",
                id="approval-list",
            ),
            rx.text(t("space.no_approvals"), size="2", color=rx.color("gray", 10), id="no-approvals"),
        ),
    )


def cost_card() -> rx.Component:
    cost = SpaceState.cost
    return section(
        "space.cost",
        "space.cost_intro",
        rx.hstack(
            rx.vstack(
                rx.text(t("space.cost_month"), " ", cost["month"], size="2", color=rx.color("gray", 11)),
                rx.heading(cost["total"], size="6", id="space-cost-total"),
            ),
            rx.vstack(
                rx.text(t("space.budget"), size="2", color=rx.color("gray", 11)),
                rx.heading(rx.cond(cost["budget"] != "", cost["budget"], "—"), size="6", id="space-budget"),
            ),
            rx.cond(
                cost["over"] == "yes",
                rx.callout(t("space.over_budget"), icon="triangle-alert", color_scheme="red", id="space-over-budget"),
            ),
            spacing="8",
            align="center",
        ),
        rx.cond(
            SpaceState.may_approve,
            rx.hstack(
                rx.input(
                    value=SpaceState.budget,
                    on_change=SpaceState.set_budget,
                    placeholder=t("space.budget_placeholder"),
                    id="budget-input",
                    width="200px",
                ),
                rx.button(t("space.budget_save"), on_click=SpaceState.save_budget, variant="soft", id="budget-save"),
                align="center",
            ),
        ),
    )


def space() -> rx.Component:
    return page_shell(
        "space.title",
        rx.cond(
            SpaceState.tenant_id == "",
            rx.callout(t("serving.pick_tenant"), icon="info", width="100%"),
            rx.vstack(
                workbench_list(),
                rx.cond(SpaceState.may_create, create_form()),
                rx.cond(SpaceState.may_approve, approvals()),
                cost_card(),
                spacing="5",
                width="100%",
            ),
        ),
    )
