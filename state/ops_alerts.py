"""Operations: alert rules (with silences and history) and work orders with approvals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services.ops import alerts, work_orders
from backend.services.ops import views as ops_views
from state.auth import AuthState
from state.feedback import error_toast, success_toast
from state.format import when

RULE_DEFAULTS = {
    "name": "",
    "kind": "metric",
    "measurement": "host",
    "field": "cpu_pct",
    "comparison": ">",
    "threshold": "90",
    "duration_s": "60",
    "event": "job_failed",
    "severity": "warning",
    "emails": "",
    "webhook_url": "",
}
ORDER_DEFAULTS = {
    "title": "",
    "type": "incident",
    "priority": "medium",
    "description": "",
    "action": "none",
    "deployment_id": "",
    "replicas": "1",
    "node": "",  # pool/node, for a drain
}


def rule_spec(form: dict[str, str], channels: list[str]) -> alerts.RuleSpec:
    try:
        threshold, duration = float(form.get("threshold", "0") or 0), int(form.get("duration_s", "0") or 0)
    except ValueError:
        raise MedAIError(ErrorCode.DATA_INVALID, "Threshold and duration must be numbers.", "Type numbers.") from None
    return alerts.RuleSpec(
        name=form.get("name", "").strip(),
        kind=form.get("kind", "metric"),
        measurement=form.get("measurement", ""),
        field=form.get("field", ""),
        comparison=form.get("comparison", ">"),
        threshold=threshold,
        duration_s=duration,
        event=form.get("event", ""),
        severity=form.get("severity", "warning"),
        channels=tuple(channels),
        emails=tuple(e.strip() for e in form.get("emails", "").split(",") if e.strip()),
        webhook_url=form.get("webhook_url", "").strip(),
    )


def order_spec(form: dict[str, str], emergency: bool) -> work_orders.OrderSpec:
    action: dict[str, Any] = {}
    if form.get("action") == "drain":
        pool, _, node = form.get("node", "").partition("/")
        action = {"kind": "drain", "pool": pool, "node": node}
    elif form.get("action", "none") != "none":
        action = {"kind": form["action"], "deployment_id": form.get("deployment_id", "")}
        if form["action"] == "scale":
            try:
                action["replicas"] = int(form.get("replicas", "1"))
            except ValueError:
                raise MedAIError(ErrorCode.DATA_INVALID, "Replicas must be a whole number.", "Type 0-64.") from None
    return work_orders.OrderSpec(
        title=form.get("title", ""),
        type=form.get("type", "incident"),
        priority=form.get("priority", "medium"),
        description=form.get("description", ""),
        action=action,
        emergency=emergency,
    )


@dataclass
class AlertsView:
    may_edit: bool = False
    may_approve: bool = False
    rules: list[dict[str, str]] = field(default_factory=list)
    silences: list[dict[str, str]] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)
    orders: list[dict[str, str]] = field(default_factory=list)
    services: list[dict[str, str]] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)  # pool/node, what a drain may name


def _describe(rule: ops_views.RuleView) -> str:
    if rule.kind == "metric":
        return f"{rule.measurement}.{rule.field} {rule.comparison} {rule.threshold:g} for {rule.duration_s} s"
    return rule.event


def _order_row(order: ops_views.OrderView) -> dict[str, str]:
    action = order.action
    what = ""
    if action:
        target = action.get("deployment") or f"{action.get('pool', '')}/{action.get('node', '')}"
        what = f"{action['kind']} {target}" + (f" → {action['replicas']}" if action["kind"] == "scale" else "")
    return {
        "id": order.id,
        "title": order.title,
        "type": order.type,
        "priority": order.priority,
        "status": order.status,
        "action": what,
        "emergency": "yes" if order.emergency else "",
        "assignee": order.assignee,
        "created_by": order.created_by,
        "approved_by": order.approved_by,
        "outcome": order.outcome,
        "created_at": when(order.created_at),
    }


def alerts_vars(found: ops_views.AlertsOverview) -> AlertsView:
    """The alerts page's tables as its vars."""
    return AlertsView(
        may_edit=found.may_edit,
        may_approve=found.may_approve,
        rules=[
            {
                "id": r.id,
                "name": r.name,
                "condition": _describe(r),
                "severity": r.severity,
                "channels": ", ".join(r.channels),
                "state": r.state if r.enabled else "disabled",
                "enabled": "yes" if r.enabled else "",
            }
            for r in found.rules
        ],
        silences=[{"id": s.id, "rule": s.rule, "until": when(s.ends_at), "reason": s.reason} for s in found.silences],
        history=[
            {
                "id": e.id,
                "at": when(e.at),
                "rule": e.rule,
                "status": e.status,
                "severity": e.severity,
                "message": e.message,
                "silenced": "yes" if e.silenced else "",
                "deliveries": "; ".join(f"{k}: {v}" for k, v in e.deliveries.items()),
                "acknowledged": "yes" if e.acknowledged else "",
            }
            for e in found.history
        ],
        orders=[_order_row(o) for o in found.orders],
        services=[{"id": d.id, "name": d.name} for d in found.services],
        nodes=list(found.nodes),
    )


@dataclass
class OrderDetail:
    order: dict[str, str]
    comments: list[dict[str, str]]
    members: list[dict[str, str]]


def order_vars(found: ops_views.WorkOrderDetail) -> OrderDetail:
    """One work order as the page's vars."""
    return OrderDetail(
        {**_order_row(found.order), "description": found.order.description, "assignee_id": found.order.assignee_id},
        [{"author": c.author, "body": c.body, "at": when(c.at)} for c in found.comments],
        [{"id": m.id, "email": m.name} for m in found.members],
    )


async def _overview(state: AuthState) -> AlertsView:
    found = await state._as_user(lambda _rt, session, principal: ops_views.alerts_overview(session, principal))
    return alerts_vars(found)


class OpsAlertsState(AuthState):
    may_edit: bool = False
    may_approve: bool = False
    rules: list[dict[str, str]] = []
    silences: list[dict[str, str]] = []
    history: list[dict[str, str]] = []
    orders: list[dict[str, str]] = []
    services: list[dict[str, str]] = []
    nodes: list[str] = []
    rule_form: dict[str, str] = dict(RULE_DEFAULTS)
    channels: list[str] = ["inapp"]
    order_form: dict[str, str] = dict(ORDER_DEFAULTS)
    emergency: bool = False
    order: dict[str, str] = {}  # the work order opened below the list
    comments: list[dict[str, str]] = []
    members: list[dict[str, str]] = []
    comment_text: str = ""
    order_open: bool = False

    def _show(self, found: AlertsView) -> None:
        self.may_edit, self.may_approve = found.may_edit, found.may_approve
        self.rules, self.silences, self.history = found.rules, found.silences, found.history
        self.orders, self.services, self.nodes = found.orders, found.services, found.nodes
        if self.nodes and self.order_form.get("node") not in self.nodes:
            self.order_form = {**self.order_form, "node": self.nodes[0]}
        if self.services and self.order_form.get("deployment_id") not in {s["id"] for s in self.services}:
            self.order_form = {**self.order_form, "deployment_id": self.services[0]["id"]}

    @rx.event
    async def load(self) -> None:
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            return
        self._show(await _overview(self))

    async def _act(self, work: Any, done_key: str):  # noqa: ANN202 (Reflex event generator)
        try:
            await self._as_user(work)
            self._show(await _overview(self))
        except Exception as error:  # shown as a toast with the remedy
            yield error_toast(error)
            return
        yield await success_toast(self, done_key)

    @rx.event
    def set_rule_field(self, key: str, value: str) -> None:
        if key in RULE_DEFAULTS:
            self.rule_form = {**self.rule_form, key: value}

    @rx.event
    def toggle_channel(self, channel: str, on: bool) -> None:
        self.channels = [c for c in self.channels if c != channel] + ([channel] if on else [])

    @rx.event
    async def create_rule(self):  # noqa: ANN201 (Reflex event generator)
        try:
            spec = rule_spec(self.rule_form, self.channels)
        except MedAIError as error:
            yield error_toast(error)
            return
        async for event in self._act(
            lambda _rt, s, principal: alerts.create_rule(s, principal, spec), "ops.rule_created"
        ):
            yield event
        if spec.name and any(r["name"] == spec.name for r in self.rules):
            self.rule_form = {**self.rule_form, "name": ""}

    @rx.event
    async def set_enabled(self, rule_id: str, enabled: bool):  # noqa: ANN201 (Reflex event generator)
        async for event in self._act(
            lambda _rt, s, principal: alerts.set_enabled(s, principal, rule_id, enabled), "ops.saved"
        ):
            yield event

    @rx.event
    async def delete_rule(self, rule_id: str):  # noqa: ANN201 (Reflex event generator)
        async for event in self._act(lambda _rt, s, principal: alerts.delete_rule(s, principal, rule_id), "ops.saved"):
            yield event

    @rx.event
    async def silence(self, rule_id: str):  # noqa: ANN201 (Reflex event generator)
        work = lambda _rt, s, principal: alerts.silence(s, principal, rule_id, 60, "silenced from the Operations page")  # noqa: E731
        async for event in self._act(work, "ops.silenced"):
            yield event

    @rx.event
    async def end_silence(self, silence_id: str):  # noqa: ANN201 (Reflex event generator)
        async for event in self._act(
            lambda _rt, s, principal: alerts.end_silence(s, principal, silence_id), "ops.saved"
        ):
            yield event

    @rx.event
    async def acknowledge(self, event_id: str):  # noqa: ANN201 (Reflex event generator)
        async for event in self._act(lambda _rt, s, principal: alerts.acknowledge(s, principal, event_id), "ops.saved"):
            yield event

    @rx.event
    def set_order_field(self, key: str, value: str) -> None:
        if key in ORDER_DEFAULTS:
            self.order_form = {**self.order_form, key: value}

    @rx.event
    def set_emergency(self, value: bool) -> None:
        self.emergency = value

    @rx.event
    async def create_order(self):  # noqa: ANN201 (Reflex event generator)
        try:
            spec = order_spec(self.order_form, self.emergency)
        except MedAIError as error:
            yield error_toast(error)
            return
        key = "ops.order_emergency" if spec.emergency else "ops.order_created"
        before = len(self.orders)
        async for event in self._act(lambda _rt, s, principal: work_orders.create_order(s, principal, spec), key):
            yield event
        if len(self.orders) > before:
            self.order_form, self.emergency = (
                {**ORDER_DEFAULTS, "deployment_id": spec.action.get("deployment_id", "")},
                False,
            )

    @rx.event
    async def approve(self, order_id: str):  # noqa: ANN201 (Reflex event generator)
        async for event in self._act(
            lambda _rt, s, principal: work_orders.approve(s, principal, order_id), "ops.approved"
        ):
            yield event

    @rx.event
    async def reject(self, order_id: str):  # noqa: ANN201 (Reflex event generator)
        async for event in self._act(
            lambda _rt, s, principal: work_orders.reject(s, principal, order_id), "ops.rejected"
        ):
            yield event

    @rx.event
    async def set_status(self, order_id: str, status: str):  # noqa: ANN201 (Reflex event generator)
        work = lambda _rt, s, principal: work_orders.set_status(s, principal, order_id, status)  # noqa: E731
        async for event in self._act(work, "ops.saved"):
            yield event

    async def _show_order(self, order_id: str) -> None:
        found = order_vars(
            await self._as_user(
                lambda _rt, session, principal: ops_views.work_order_detail(session, principal, order_id)
            )
        )
        self.order, self.comments, self.members = found.order, found.comments, found.members
        self.order_open = True

    @rx.event
    async def open_order(self, order_id: str):  # noqa: ANN201 (Reflex event generator)
        try:
            await self._show_order(order_id)
        except Exception as error:  # shown as a toast with the remedy
            yield error_toast(error)

    @rx.event
    def close_order(self) -> None:
        self.order, self.comments, self.comment_text, self.order_open = {}, [], "", False

    @rx.event
    def set_comment_text(self, value: str) -> None:
        self.comment_text = value

    @rx.event
    async def add_comment(self):  # noqa: ANN201 (Reflex event generator)
        order_id, body = self.order.get("id", ""), self.comment_text
        async for event in self._act(
            lambda _rt, s, principal: work_orders.comment(s, principal, order_id, body), "ops.commented"
        ):
            yield event
        await self._show_order(order_id)
        if any(c["body"] == body for c in self.comments):
            self.comment_text = ""

    @rx.event
    async def assign(self, user_id: str):  # noqa: ANN201 (Reflex event generator)
        order_id = self.order.get("id", "")
        async for event in self._act(
            lambda _rt, s, principal: work_orders.assign(s, principal, order_id, user_id), "ops.saved"
        ):
            yield event
        await self._show_order(order_id)
