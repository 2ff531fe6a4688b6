"""One workbench: status and reason, start/stop, the IDE button, resources and cost, members,
the dependency panel and the activity trail."""

import reflex as rx

from components.display import fact
from components.forms import section
from components.i18n import t, t_choice
from components.shell import page_shell
from components.space import workbench_status
from components.tables import headers
from state.space_detail import WorkbenchState

ROLES = ("owner", "editor", "viewer")
PACKAGE_STATUSES = ("pending", "installing", "installed", "failed")


def _actions() -> rx.Component:
    status = WorkbenchState.workbench["status"]
    return rx.cond(
        WorkbenchState.may_work,
        rx.hstack(
            rx.cond(
                status == "running",
                rx.button(
                    rx.icon("square-terminal", size=14),
                    t("space.open_ide"),
                    on_click=WorkbenchState.open_ide,
                    id="wb-open-ide",
                ),
            ),
            rx.cond(
                (status == "stopped") | (status == "failed"),
                rx.button(
                    rx.icon("play", size=14),
                    t("space.start"),
                    on_click=WorkbenchState.start,
                    variant="soft",
                    id="wb-start",
                ),
            ),
            rx.cond(
                (status == "running") | (status == "starting"),
                rx.button(
                    rx.icon("square", size=14),
                    t("space.stop"),
                    on_click=WorkbenchState.stop,
                    color_scheme="red",
                    variant="soft",
                    id="wb-stop",
                ),
            ),
            spacing="3",
        ),
    )


def _heading() -> rx.Component:
    wb = WorkbenchState.workbench
    return rx.vstack(
        rx.link(rx.hstack(rx.icon("arrow-left", size=14), t("space.back"), align="center"), href="/space"),
        rx.hstack(
            rx.heading(wb["name"], size="5", id="wb-title"),
            workbench_status(wb["status"], "wb-status"),
            rx.cond(
                WorkbenchState.following,
                rx.badge(rx.icon("radio", size=12), t("serving.live"), color_scheme="green", variant="soft"),
            ),
            rx.spacer(),
            _actions(),
            align="center",
            spacing="3",
            width="100%",
        ),
        rx.text(wb["reason"], size="2", color=rx.color("gray", 11), id="wb-reason"),
        rx.text(wb["description"], size="2"),
        width="100%",
    )


def _overview() -> rx.Component:
    wb = WorkbenchState.workbench
    return rx.card(
        rx.grid(
            rx.data_list.root(
                fact("space.resources", wb["resources"], "wb-resources"),
                fact("space.image", wb["image"]),
                fact("space.idle_timeout", wb["idle_timeout"]),
            ),
            rx.data_list.root(
                fact("space.last_activity", rx.cond(wb["activity"] != "", wb["activity"], "—")),
                fact("space.started", rx.cond(wb["started"] != "", wb["started"], "—")),
                fact("space.cost_month", wb["cost"] + " · " + wb["hours"] + " h", "wb-cost"),
                fact("space.created", wb["created"]),
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="5",
            width="100%",
        ),
        width="100%",
    )


def _member(member: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(member["name"]),
        rx.table.cell(member["email"]),
        rx.table.cell(t_choice("space.role", member["role"], ROLES)),
        rx.table.cell(
            rx.cond(
                WorkbenchState.is_owner,
                rx.icon_button(
                    rx.icon("user-minus", size=14),
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=WorkbenchState.remove_member(member["user_id"]),
                    aria_label=t("space.remove_member"),
                ),
            )
        ),
        data_email=member["email"],
        data_role=member["role"],
    )


def _members() -> rx.Component:
    return section(
        "space.members",
        "space.members_intro",
        rx.table.root(
            headers("space.member_name", "space.email", "space.role_label", ""),
            rx.table.body(rx.foreach(WorkbenchState.members, _member)),
            variant="surface",
            width="100%",
            id="member-list",
        ),
        rx.cond(
            WorkbenchState.is_owner,
            rx.hstack(
                rx.input(
                    value=WorkbenchState.member_email,
                    on_change=WorkbenchState.set_member_email,
                    placeholder="name@hospital.cn",
                    id="member-email",
                    width="260px",
                ),
                rx.select(
                    list(ROLES),
                    value=WorkbenchState.member_role,
                    on_change=WorkbenchState.set_member_role,
                    id="member-role",
                ),
                rx.button(
                    rx.icon("user-plus", size=14),
                    t("space.add_member"),
                    on_click=WorkbenchState.add_member,
                    variant="soft",
                    id="member-add",
                ),
                align="center",
            ),
        ),
    )


def _package(package: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(package["requirement"])),
        rx.table.cell(rx.badge(t_choice("space.package", package["status"], PACKAGE_STATUSES))),
        rx.table.cell(package["by"]),
        rx.table.cell(rx.text(package["detail"], size="1", white_space="pre-wrap"), max_width="420px"),
        data_requirement=package["requirement"],
        data_status=package["status"],
    )


def _packages() -> rx.Component:
    return section(
        "space.packages",
        "space.packages_intro",
        rx.cond(
            WorkbenchState.may_work,
            rx.hstack(
                rx.input(
                    value=WorkbenchState.requirement,
                    on_change=WorkbenchState.set_requirement,
                    placeholder="pandas==2.3.1",
                    id="package-requirement",
                    width="260px",
                ),
                rx.button(
                    rx.icon("package-plus", size=14),
                    t("space.install"),
                    on_click=WorkbenchState.install,
                    variant="soft",
                    id="package-install",
                ),
                align="center",
            ),
        ),
        rx.table.root(
            headers("space.requirement", "space.status", "space.requested_by", "space.detail"),
            rx.table.body(rx.foreach(WorkbenchState.packages, _package)),
            variant="surface",
            width="100%",
            id="package-list",
        ),
    )


def _publish() -> rx.Component:
    registered = WorkbenchState.registered
    return section(
        "space.publish",
        "space.publish_intro",
        rx.hstack(
            rx.input(
                value=WorkbenchState.folder,
                on_change=WorkbenchState.set_folder,
                placeholder="outputs/ecg-model",
                id="publish-folder",
                width="260px",
            ),
            rx.input(
                value=WorkbenchState.model_name,
                on_change=WorkbenchState.set_model_name,
                placeholder="ecg-classifier",
                id="publish-model-name",
                width="220px",
            ),
            rx.button(
                rx.icon("package-check", size=14),
                t("space.register"),
                on_click=WorkbenchState.register_folder,
                variant="soft",
                id="publish-register",
            ),
            align="center",
            wrap="wrap",
        ),
        rx.cond(
            registered.contains("model_id"),
            rx.link(registered["label"], href="/assets/models/" + registered["model_id"], id="publish-registered"),
        ),
        rx.hstack(
            rx.link(
                rx.button(rx.icon("flask-conical", size=14), t("space.to_training"), variant="outline"),
                href="/training",
            ),
            rx.link(rx.button(rx.icon("rocket", size=14), t("space.to_deploy"), variant="outline"), href="/serving"),
        ),
    )


def _activity() -> rx.Component:
    return section(
        "space.activity",
        "space.activity_intro",
        rx.table.root(
            headers("space.when", "space.action", "space.actor", "space.outcome"),
            rx.table.body(
                rx.foreach(
                    WorkbenchState.activity,
                    lambda a: rx.table.row(
                        rx.table.cell(rx.text(a["at"], size="1")),
                        rx.table.cell(rx.code(a["action"])),
                        rx.table.cell(a["actor"]),
                        rx.table.cell(a["outcome"]),
                        data_action=a["action"],
                    ),
                )
            ),
            variant="surface",
            width="100%",
            id="activity-list",
        ),
    )


def workbench_detail() -> rx.Component:
    return page_shell(
        "space.title",
        rx.cond(
            WorkbenchState.missing,
            rx.callout(t("space.missing"), icon="info", width="100%", id="wb-missing"),
            rx.vstack(
                _heading(),
                _overview(),
                _members(),
                _packages(),
                rx.cond(WorkbenchState.may_work, _publish()),
                _activity(),
                spacing="5",
                width="100%",
            ),
        ),
    )
