"""Operations REST: /api/logs (source §3.4 log query), /api/metrics, /api/ops/* (GPU
inventory, resource-hours), /api/alerts/* (rules, silences, history) and /api/work-orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from backend.api.auth import CurrentPrincipal, RuntimeDep
from backend.api.dependencies import SessionDep
from backend.services.ops import alerts, work_orders
from backend.services.ops import logs as ops_logs
from backend.services.ops import metrics as ops_metrics

router = APIRouter(prefix="/api", tags=["ops"])


class LogLineOut(BaseModel):
    id: int
    at: datetime
    source: str
    source_id: str
    level: str
    message: str


@router.get("/logs", response_model=list[LogLineOut])
def get_logs(
    principal: CurrentPrincipal,
    session: SessionDep,
    rt: RuntimeDep,
    q: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    source: list[str] = Query(default=[]),  # noqa: B008 (FastAPI's way to declare a repeated parameter)
    level: str = "",
    source_id: str = "",
    after_id: int = 0,
    limit: int = 200,
) -> Any:
    """Job and service log lines of the acting tenant (``source=platform``: the platform's own, for
    platform admins), matching every word of ``q``, at or above ``level``; newest first, or with
    ``after_id`` the lines after that one, oldest first (live tail)."""
    lines = ops_logs.search_logs(
        session,
        rt.logs,
        principal,
        q,
        start,
        end,
        tuple(source),
        ops_logs.levels_from(level.upper()),
        source_id,
        after_id,
        limit,
    )
    return [LogLineOut(**{k: v for k, v in vars(x).items() if k != "tenant_id"}) for x in lines]


@router.get("/metrics", response_model=list[ops_metrics.SeriesView])
def get_metrics(
    principal: CurrentPrincipal,
    session: SessionDep,
    rt: RuntimeDep,
    measurement: str,
    field: list[str] = Query(default=[]),  # noqa: B008
    minutes: float = 10,
    every_s: float = 0,
    node: str = "",
    deployment_id: str = "",
    job_id: str = "",
) -> Any:
    """Series of a measurement (host, gpu, engine, gateway, jobs, train) over the last minutes."""
    tags = {k: v for k, v in {"node": node, "deployment_id": deployment_id, "job_id": job_id}.items() if v}
    return ops_metrics.query_metrics(session, rt.metrics, principal, measurement, field, tags, minutes, every_s)


class GpuOut(BaseModel):
    available: bool
    driver: str
    gpus: list[dict[str, Any]]


@router.get("/ops/gpus", response_model=GpuOut)
def get_gpus(principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    """This node's GPUs as NVML last read them, or why there are none."""
    found = ops_metrics.gpu_inventory(session, principal, rt.collectors)
    return GpuOut(available=found.available, driver=found.driver, gpus=[vars(g) for g in found.gpus])


@router.get("/ops/cost", response_model=list[ops_metrics.CostRow])
def get_cost(principal: CurrentPrincipal, session: SessionDep, days: float = 30) -> Any:
    """GPU- and CPU-hours of the tenant's jobs and services."""
    return ops_metrics.resource_hours(session, principal, days)


# alerts ----------------------------------------------------------------------------------


class RuleIn(BaseModel):
    name: str
    kind: str
    measurement: str = ""
    field: str = ""
    comparison: str = ">"
    threshold: float = 0.0
    duration_s: int = 0
    event: str = ""
    severity: str = "warning"
    channels: list[str] = ["inapp"]
    emails: list[str] = []
    webhook_url: str = ""


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: str
    measurement: str
    field: str
    comparison: str
    threshold: float
    duration_s: int
    event: str
    severity: str
    channels: list[str]
    emails: list[str]
    webhook_url: str
    enabled: bool
    state: str
    created_by: str
    created_at: datetime


class RuleSwitch(BaseModel):
    enabled: bool


class SilenceIn(BaseModel):
    rule_id: str = ""
    minutes: float = 60
    reason: str = ""


class SilenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    rule_id: str | None
    reason: str
    starts_at: datetime
    ends_at: datetime
    created_by: str


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    rule_id: str
    rule_name: str
    at: datetime
    status: str
    severity: str
    message: str
    value: float | None
    subject_type: str
    subject_id: str
    silenced: bool
    deliveries: dict[str, str]
    acknowledged: bool


@router.get("/alerts/rules", response_model=list[RuleOut])
def get_rules(principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [RuleOut.model_validate(r) for r in alerts.list_rules(session, principal)]


@router.post("/alerts/rules", response_model=RuleOut, status_code=201)
def post_rule(body: RuleIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    data = body.model_dump()
    spec = alerts.RuleSpec(**{**data, "channels": tuple(data["channels"]), "emails": tuple(data["emails"])})
    return RuleOut.model_validate(alerts.create_rule(session, principal, spec))


@router.patch("/alerts/rules/{rule_id}", response_model=RuleOut)
def patch_rule(rule_id: str, body: RuleSwitch, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return RuleOut.model_validate(alerts.set_enabled(session, principal, rule_id, body.enabled))


@router.delete("/alerts/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    alerts.delete_rule(session, principal, rule_id)


@router.get("/alerts/silences", response_model=list[SilenceOut])
def get_silences(principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [SilenceOut.model_validate(s) for s in alerts.list_silences(session, principal)]


@router.post("/alerts/silences", response_model=SilenceOut, status_code=201)
def post_silence(body: SilenceIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    row = alerts.silence(session, principal, body.rule_id or None, body.minutes, body.reason)
    return SilenceOut.model_validate(row)


@router.delete("/alerts/silences/{silence_id}", response_model=SilenceOut)
def delete_silence(silence_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return SilenceOut.model_validate(alerts.end_silence(session, principal, silence_id))


@router.get("/alerts/history", response_model=list[AlertOut])
def get_alert_history(principal: CurrentPrincipal, session: SessionDep, limit: int = 100, firing: bool = False) -> Any:
    return [AlertOut.model_validate(e) for e in alerts.history(session, principal, limit, firing)]


@router.post("/alerts/history/{event_id}/ack", response_model=AlertOut)
def post_ack(event_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return AlertOut.model_validate(alerts.acknowledge(session, principal, event_id))


# work orders -----------------------------------------------------------------------------


class OrderIn(BaseModel):
    title: str
    type: str = "incident"
    priority: str = "medium"
    description: str = ""
    assignee_id: str = ""
    links: list[dict[str, str]] = []
    action: dict[str, Any] = {}
    emergency: bool = False


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    type: str
    priority: str
    status: str
    description: str
    assignee_id: str | None
    assignee: str
    links: list[dict[str, str]]
    action: dict[str, Any]
    emergency: bool
    approved_by: str
    approved_at: datetime | None
    executed_at: datetime | None
    outcome: str
    created_by: str
    created_at: datetime
    updated_at: datetime


class CommentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    author: str
    body: str
    at: datetime


class OrderDetail(BaseModel):
    order: OrderOut
    comments: list[CommentOut]


class CommentIn(BaseModel):
    body: str


class StatusIn(BaseModel):
    status: str


class AssignIn(BaseModel):
    user_id: str = ""


class RejectIn(BaseModel):
    reason: str = ""


@router.get("/work-orders", response_model=list[OrderOut])
def get_orders(principal: CurrentPrincipal, session: SessionDep, status: str = "") -> Any:
    return [OrderOut.model_validate(o) for o in work_orders.list_orders(session, principal, status)]


@router.post("/work-orders", response_model=OrderOut, status_code=201)
def post_order(body: OrderIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """A work order; one with an operations action waits for a tenant admin's approval, or runs at
    once (flagged and audited) with ``emergency``."""
    data = body.model_dump()
    spec = work_orders.OrderSpec(**{**data, "links": tuple(data["links"])})
    return OrderOut.model_validate(work_orders.create_order(session, principal, spec))


@router.get("/work-orders/{order_id}", response_model=OrderDetail)
def get_order(order_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    order, comments = work_orders.get_order(session, principal, order_id)
    return OrderDetail(order=OrderOut.model_validate(order), comments=[CommentOut.model_validate(c) for c in comments])


@router.post("/work-orders/{order_id}/comments", response_model=CommentOut, status_code=201)
def post_comment(order_id: str, body: CommentIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return CommentOut.model_validate(work_orders.comment(session, principal, order_id, body.body))


@router.post("/work-orders/{order_id}/status", response_model=OrderOut)
def post_status(order_id: str, body: StatusIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return OrderOut.model_validate(work_orders.set_status(session, principal, order_id, body.status))


@router.post("/work-orders/{order_id}/assign", response_model=OrderOut)
def post_assign(order_id: str, body: AssignIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return OrderOut.model_validate(work_orders.assign(session, principal, order_id, body.user_id))


@router.post("/work-orders/{order_id}/approve", response_model=OrderOut)
def post_approve(order_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """A tenant admin approves: the action runs now, through the serving service, as the approver."""
    return OrderOut.model_validate(work_orders.approve(session, principal, order_id))


@router.post("/work-orders/{order_id}/reject", response_model=OrderOut)
def post_reject(order_id: str, body: RejectIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return OrderOut.model_validate(work_orders.reject(session, principal, order_id, body.reason))
