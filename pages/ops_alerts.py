"""The Alerts and Work orders tabs of the Operations page."""

import reflex as rx

from components.forms import field, form_input, form_select, plain_options, section
from components.i18n import t
from components.tables import headers
from state.ops_alerts import OpsAlertsState

MEASUREMENTS = ("host", "gpu", "gateway", "engine", "jobs", "train")
EVENTS = ("job_failed", "service_unhealthy", "quota_exhausted")


def _choice(form: rx.Var, setter: rx.EventHandler, key: str, label_key: str, prefix: str, values) -> rx.Component:  # noqa: ANN001
    return form_select(form, setter, key, label_key, prefix, plain_options(values))


def _grid(*children: rx.Component) -> rx.Component:
    return rx.grid(*children, columns=rx.breakpoints(initial="2", md="3", lg="4"), spacing="4", width="100%")


def _channel(channel: str, label_key: str) -> rx.Component:
    return rx.checkbox(
        t(label_key),
        checked=OpsAlertsState.channels.contains(channel),
        on_change=lambda on: OpsAlertsState.toggle_channel(channel, on),
        id=f"rule-channel-{channel}",
    )


def rule_form() -> rx.Component:
    form, setter = OpsAlertsState.rule_form, OpsAlertsState.set_rule_field
    metric = form["kind"] == "metric"
    return section(
        "ops.new_rule",
        "ops.new_rule_intro",
        _grid(
            form_input(form, setter, "name", "ops.rule_name", "rule"),
            _choice(form, setter, "kind", "ops.rule_kind", "rule", ("metric", "event")),
            _choice(form, setter, "severity", "ops.severity", "rule", ("info", "warning", "critical")),
        ),
        rx.cond(
            metric,
            _grid(
                _choice(form, setter, "measurement", "ops.measurement", "rule", MEASUREMENTS),
                form_input(form, setter, "field", "ops.field", "rule"),
                _choice(form, setter, "comparison", "ops.comparison", "rule", (">", ">=", "<", "<=")),
                form_input(form, setter, "threshold", "ops.threshold", "rule"),
                form_input(form, setter, "duration_s", "ops.duration", "rule"),
            ),
            _grid(_choice(form, setter, "event", "ops.event", "rule", EVENTS)),
        ),
        rx.hstack(
            _channel("inapp", "ops.channel_inapp"),
            _channel("email", "ops.channel_email"),
            _channel("webhook", "ops.channel_webhook"),
            spacing="4",
        ),
        _grid(
            form_input(form, setter, "emails", "ops.emails", "rule"),
            form_input(form, setter, "webhook_url", "ops.webhook_url", "rule"),
        ),
        rx.button(t("ops.create_rule"), on_click=OpsAlertsState.create_rule, id="rule-create"),
    )


def _rule_row(rule: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(rule["name"], weight="medium")),
        rx.table.cell(rx.code(rule["condition"])),
        rx.table.cell(rx.badge(rule["severity"])),
        rx.table.cell(rule["channels"]),
        rx.table.cell(rx.badge(rule["state"], color_scheme=rx.cond(rule["state"] == "firing", "red", "gray"))),
        rx.table.cell(
            rx.cond(
                OpsAlertsState.may_edit,
                rx.hstack(
                    rx.button(
                        rx.cond(rule["enabled"] == "yes", t("ops.disable"), t("ops.enable")),
                        on_click=OpsAlertsState.set_enabled(rule["id"], rule["enabled"] != "yes"),
                        size="1",
                        variant="soft",
                    ),
                    rx.button(t("ops.silence"), on_click=OpsAlertsState.silence(rule["id"]), size="1", variant="soft"),
                    rx.button(
                        t("ops.delete"),
                        on_click=OpsAlertsState.delete_rule(rule["id"]),
                        size="1",
                        variant="soft",
                        color_scheme="red",
                    ),
                ),
            )
        ),
        data_rule=rule["name"],
    )


def _silence_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["rule"]),
        rx.table.cell(row["until"]),
        rx.table.cell(row["reason"]),
        rx.table.cell(
            rx.cond(
                OpsAlertsState.may_edit,
                rx.button(t("ops.end"), on_click=OpsAlertsState.end_silence(row["id"]), size="1", variant="soft"),
            )
        ),
    )


def _event_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["at"], white_space="nowrap", size="1")),
        rx.table.cell(row["rule"]),
        rx.table.cell(rx.badge(row["status"], color_scheme=rx.cond(row["status"] == "firing", "red", "green"))),
        rx.table.cell(rx.badge(row["severity"], variant="outline")),
        rx.table.cell(rx.text(row["message"], size="1")),
        rx.table.cell(rx.text(rx.cond(row["silenced"] == "yes", t("ops.silenced_mark"), row["deliveries"]), size="1")),
        rx.table.cell(
            rx.cond(
                (row["acknowledged"] != "yes") & OpsAlertsState.may_edit,
                rx.button(t("ops.ack"), on_click=OpsAlertsState.acknowledge(row["id"]), size="1", variant="soft"),
                rx.text(rx.cond(row["acknowledged"] == "yes", "✓", "")),
            )
        ),
        class_name="alert-event",
    )


def alerts_panel() -> rx.Component:
    return rx.vstack(
        section(
            "ops.rules",
            "ops.rules_intro",
            rx.table.root(
                headers("ops.rule_name", "ops.condition", "ops.severity", "ops.channels", "ops.state", "ops.actions"),
                rx.table.body(rx.foreach(OpsAlertsState.rules, _rule_row)),
                variant="surface",
                width="100%",
                id="rule-list",
            ),
            rx.cond(
                OpsAlertsState.silences.length() > 0,
                rx.table.root(
                    headers("ops.rule_name", "ops.until", "ops.reason", "ops.actions"),
                    rx.table.body(rx.foreach(OpsAlertsState.silences, _silence_row)),
                    variant="surface",
                    width="100%",
                    id="silence-list",
                ),
            ),
        ),
        rx.cond(OpsAlertsState.may_edit, rule_form()),
        section(
            "ops.history",
            "ops.history_intro",
            rx.table.root(
                headers(
                    "ops.at", "ops.rule_name", "ops.state", "ops.severity", "ops.message", "ops.deliveries", "ops.ack"
                ),
                rx.table.body(rx.foreach(OpsAlertsState.history, _event_row)),
                variant="surface",
                width="100%",
                id="alert-history",
            ),
        ),
        spacing="4",
        width="100%",
    )


def order_form() -> rx.Component:
    form, setter = OpsAlertsState.order_form, OpsAlertsState.set_order_field
    return section(
        "ops.new_order",
        "ops.new_order_intro",
        _grid(
            form_input(form, setter, "title", "ops.order_title", "order"),
            _choice(form, setter, "type", "ops.order_type", "order", ("incident", "change", "request", "maintenance")),
            _choice(form, setter, "priority", "ops.priority", "order", ("low", "medium", "high", "urgent")),
            _choice(form, setter, "action", "ops.order_action", "order", ("none", "scale", "stop", "delete", "drain")),
        ),
        rx.cond(
            form["action"] != "none",
            _grid(
                rx.cond(
                    form["action"] == "drain",
                    field(
                        "ops.node",
                        rx.select.root(
                            rx.select.trigger(id="order-node", width="100%"),
                            rx.select.content(rx.foreach(OpsAlertsState.nodes, lambda n: rx.select.item(n, value=n))),
                            value=form["node"],
                            on_change=lambda value: setter("node", value),
                        ),
                        "order-node",
                    ),
                    field(
                        "ops.service",
                        rx.select.root(
                            rx.select.trigger(id="order-deployment", width="100%"),
                            rx.select.content(
                                rx.foreach(OpsAlertsState.services, lambda s: rx.select.item(s["name"], value=s["id"]))
                            ),
                            value=form["deployment_id"],
                            on_change=lambda value: setter("deployment_id", value),
                        ),
                        "order-deployment",
                    ),
                ),
                rx.cond(form["action"] == "scale", form_input(form, setter, "replicas", "ops.replicas", "order")),
                rx.checkbox(
                    t("ops.emergency"),
                    checked=OpsAlertsState.emergency,
                    on_change=OpsAlertsState.set_emergency,
                    id="order-emergency",
                ),
            ),
        ),
        rx.text_area(
            value=form["description"],
            on_change=lambda value: setter("description", value),
            placeholder=t("ops.description"),
            id="order-description",
            width="100%",
        ),
        rx.button(t("ops.create_order"), on_click=OpsAlertsState.create_order, id="order-create"),
    )


def _order_row(row: rx.Var) -> rx.Component:
    pending = row["status"] == "pending_approval"
    return rx.table.row(
        rx.table.cell(
            rx.link(
                row["title"], on_click=OpsAlertsState.open_order(row["id"]), weight="medium", class_name="order-open"
            ),
            rx.text(row["created_at"], size="1"),
        ),
        rx.table.cell(rx.badge(row["type"], variant="outline"), " ", rx.badge(row["priority"])),
        rx.table.cell(rx.badge(row["status"], class_name="order-status")),
        rx.table.cell(
            rx.text(row["action"], size="2"),
            rx.cond(row["emergency"] == "yes", rx.badge(t("ops.emergency_flag"), color_scheme="red")),
        ),
        rx.table.cell(rx.text(row["created_by"], size="1"), rx.text(row["approved_by"], size="1")),
        rx.table.cell(rx.text(row["outcome"], size="1")),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    pending & OpsAlertsState.may_approve,
                    rx.hstack(
                        rx.button(t("ops.approve"), on_click=OpsAlertsState.approve(row["id"]), size="1"),
                        rx.button(
                            t("ops.reject"),
                            on_click=OpsAlertsState.reject(row["id"]),
                            size="1",
                            variant="soft",
                            color_scheme="red",
                        ),
                    ),
                ),
                rx.cond(
                    ~pending & (row["status"] != "closed") & OpsAlertsState.may_edit,
                    rx.button(
                        t("ops.close"),
                        on_click=OpsAlertsState.set_status(row["id"], "closed"),
                        size="1",
                        variant="soft",
                    ),
                ),
            )
        ),
        data_order=row["title"],
    )


def _comment(comment: rx.Var) -> rx.Component:
    return rx.box(
        rx.text(comment["author"], " · ", comment["at"], size="1", color=rx.color("gray", 10)),
        rx.text(comment["body"], size="2", white_space="pre-wrap"),
        class_name="order-comment",
    )


def order_panel() -> rx.Component:
    order = OpsAlertsState.order
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(order["title"], size="4"),
                rx.badge(order["status"]),
                rx.spacer(),
                rx.icon_button(rx.icon("x", size=14), on_click=OpsAlertsState.close_order, variant="ghost"),
                width="100%",
                align="center",
            ),
            rx.text(order["description"], size="2", white_space="pre-wrap"),
            rx.text(t("ops.assignee"), ": ", rx.cond(order["assignee"] != "", order["assignee"], "—"), size="2"),
            rx.cond(
                (OpsAlertsState.members.length() > 0) & OpsAlertsState.may_edit,
                rx.select.root(
                    rx.select.trigger(placeholder=t("ops.assign"), id="order-assignee"),
                    rx.select.content(
                        rx.foreach(OpsAlertsState.members, lambda m: rx.select.item(m["email"], value=m["id"]))
                    ),
                    value=order["assignee_id"],
                    on_change=OpsAlertsState.assign,
                ),
            ),
            rx.heading(t("ops.comments"), size="3"),
            rx.vstack(rx.foreach(OpsAlertsState.comments, _comment), spacing="2", width="100%", id="order-comments"),
            rx.text_area(
                value=OpsAlertsState.comment_text,
                on_change=OpsAlertsState.set_comment_text,
                placeholder=t("ops.comment_hint"),
                id="order-comment-text",
                width="100%",
            ),
            rx.button(t("ops.comment"), on_click=OpsAlertsState.add_comment, id="order-comment"),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="order-detail",
    )


def work_orders_panel() -> rx.Component:
    return rx.vstack(
        order_form(),
        section(
            "ops.orders",
            "ops.orders_intro",
            rx.table.root(
                headers(
                    "ops.order_title",
                    "ops.order_type",
                    "ops.state",
                    "ops.order_action",
                    "ops.people",
                    "ops.outcome",
                    "ops.actions",
                ),
                rx.table.body(rx.foreach(OpsAlertsState.orders, _order_row)),
                variant="surface",
                width="100%",
                id="order-list",
            ),
        ),
        rx.cond(OpsAlertsState.order_open, order_panel()),
        spacing="4",
        width="100%",
    )
