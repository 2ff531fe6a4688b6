"""What the Operations pages read, as dataclasses: the live dashboard (this node's host and GPUs,
the tenant's services and jobs, resource-hours priced), a log search by time range, the alerts
page (rules, silences, history, work orders and what an order's action may name) and one work
order with its comments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from backend.adapters.gpus import GpuInventory
from backend.adapters.logs import LogIndex, LogLine
from backend.adapters.metrics import MetricsStore
from backend.errors import ErrorCode, MedAIError
from backend.services.identity import tenancy
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.ops import alerts, work_orders
from backend.services.ops import logs as ops_logs
from backend.services.ops import metrics as ops_metrics
from backend.services.ops.metrics import CollectorState, SeriesView
from backend.services.orchestration import pools as orchestration
from backend.services.serving import deployments as serving

WINDOW_MIN = 10  # minutes of host and GPU series the dashboard shows
HOST_CARDS = ("cpu_pct", "mem_pct", "mem_used_gb", "disk_pct", "load_1m")
HOST_FIGURE = ("cpu_pct", "mem_pct", "disk_pct")
JOB_CARDS = ("running", "queued", "gpus_in_use")
TAIL_LINES = 300
SINCE = {"15m": 15, "1h": 60, "24h": 1440, "7d": 10080, "all": 0}  # a log search's time range, in minutes


# the dashboard ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceTraffic:
    """One model's gateway traffic over the last hour."""

    model: str
    requests: float
    errors: float
    tokens: float
    p95_ms: float


@dataclass(frozen=True)
class CostLine:
    kind: str  # job | service
    name: str
    gpu_hours: float
    cpu_hours: float
    cost: float  # priced with the workbench price table


@dataclass
class OpsDashboard:
    may_view: bool = False
    host: dict[str, float] = field(default_factory=dict)  # the newest value of each host card
    host_series: list[SeriesView] = field(default_factory=list)  # cpu, memory and disk use
    host_points: int = 0
    latest_at: str = ""  # ISO time of the newest host sample
    gpus: GpuInventory | None = None  # this node's GPUs, or why there are none
    gpu_series: list[SeriesView] = field(default_factory=list)  # this node's (NVML) and cluster nodes' (DCGM)
    gpu_points: int = 0
    services: list[ServiceTraffic] = field(default_factory=list)
    jobs: dict[str, float] = field(default_factory=dict)  # running, queued, gpus_in_use
    cost: list[CostLine] = field(default_factory=list)
    may_view_workbench_cost: bool = False  # whether the AI space's cost report is the principal's to read

    @property
    def points(self) -> int:
        return self.host_points + self.gpu_points


def _points(series: Sequence[SeriesView]) -> int:
    return sum(len(s.values) for s in series)


def _services(series: Sequence[SeriesView]) -> list[ServiceTraffic]:
    per: dict[str, dict[str, list[float]]] = {}
    for s in series:
        per.setdefault(s.tags.get("model", ""), {})[s.field] = s.values
    return [
        ServiceTraffic(
            model,
            sum(fields.get("requests", [])),
            sum(fields.get("errors", [])),
            sum(fields.get("prompt_tokens", [])) + sum(fields.get("completion_tokens", [])),
            max(fields.get("latency_p95_ms", [0])),
        )
        for model, fields in sorted(per.items())
    ]


def dashboard(
    session: Session,
    principal: Principal,
    metrics: MetricsStore,
    collectors: CollectorState,
    prices: tuple[float, float] | None = None,
) -> OpsDashboard:
    """The Operations dashboard; with ``prices`` (per GPU-hour, per CPU-hour) also the tenant's
    resource-hours over 30 days, priced. Nothing but ``may_view`` for one who may not view operations."""
    found = OpsDashboard(may_view=may(session, principal, Area.OPS, Action.VIEW))
    if not found.may_view:
        return found
    host = ops_metrics.query_metrics(session, metrics, principal, "host", HOST_CARDS, minutes=WINDOW_MIN)
    latest = ops_metrics.latest(host)
    found.host = {name: latest[name] for name in HOST_CARDS if name in latest}
    found.host_series = [s for s in host if s.field in HOST_FIGURE]
    found.host_points = _points(host)
    found.latest_at = max((s.times[-1] for s in host if s.times), default="")
    found.gpus = ops_metrics.gpu_inventory(session, principal, collectors)
    found.gpu_series = ops_metrics.query_metrics(
        session, metrics, principal, "gpu", ("util_pct", "mem_pct"), minutes=WINDOW_MIN
    )
    found.gpu_points = _points(found.gpu_series)
    found.services = _services(ops_metrics.query_metrics(session, metrics, principal, "gateway", minutes=60))
    jobs = ops_metrics.latest(ops_metrics.query_metrics(session, metrics, principal, "jobs", minutes=1))
    found.jobs = {k: float(jobs.get(k, 0)) for k in JOB_CARDS}
    if prices is not None:
        gpu_hour, cpu_hour = prices
        found.cost = [
            CostLine(r.kind, r.name, r.gpu_hours, r.cpu_hours, r.gpu_hours * gpu_hour + r.cpu_hours * cpu_hour)
            for r in ops_metrics.resource_hours(session, principal)
        ]
        found.may_view_workbench_cost = may(session, principal, Area.SPACE, Action.VIEW)
    return found


# logs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilter:
    text: str = ""
    source: str = "all"  # all | job | service | platform
    level: str = ""  # the lowest level shown, "" for all
    since: str = "24h"  # a key of SINCE


def search_log_page(
    session: Session, logs: LogIndex, principal: Principal, wanted: LogFilter, after_id: int = 0
) -> list[LogLine]:
    """Up to TAIL_LINES lines matching ``wanted`` (newest first), or with ``after_id`` those after it."""
    if wanted.since not in SINCE:
        raise MedAIError(ErrorCode.DATA_INVALID, "Unknown time range.", "Pick a range from the list.")
    minutes = SINCE[wanted.since]
    start = datetime.now(UTC) - timedelta(minutes=minutes) if minutes else None
    sources = () if wanted.source == "all" else (wanted.source,)
    return ops_logs.search_logs(
        session,
        logs,
        principal,
        wanted.text,
        start,
        None,
        sources,
        ops_logs.levels_from(wanted.level),
        after_id=after_id,
        limit=TAIL_LINES,
    )


# alerts and work orders -------------------------------------------------------------------


@dataclass(frozen=True)
class RuleView:
    id: str
    name: str
    kind: str  # metric | event
    measurement: str
    field: str
    comparison: str
    threshold: float
    duration_s: int
    event: str
    severity: str
    channels: tuple[str, ...]
    state: str
    enabled: bool


@dataclass(frozen=True)
class SilenceView:
    id: str
    rule: str  # the rule's name, "*" for every rule
    ends_at: datetime
    reason: str


@dataclass(frozen=True)
class AlertView:
    id: str
    at: datetime
    rule: str
    status: str
    severity: str
    message: str
    silenced: bool
    deliveries: dict[str, str]
    acknowledged: bool


@dataclass(frozen=True)
class OrderView:
    id: str
    title: str
    type: str
    priority: str
    status: str
    action: dict[str, Any]
    emergency: bool
    assignee: str
    assignee_id: str
    created_by: str
    approved_by: str
    outcome: str
    description: str
    created_at: datetime

    @classmethod
    def of(cls, order: Any) -> OrderView:
        return cls(
            order.id,
            order.title,
            order.type,
            order.priority,
            order.status,
            dict(order.action),
            order.emergency,
            order.assignee,
            order.assignee_id or "",
            order.created_by,
            order.approved_by,
            order.outcome,
            order.description,
            order.created_at,
        )


@dataclass(frozen=True)
class Named:
    id: str
    name: str


@dataclass
class AlertsOverview:
    may_edit: bool = False
    may_approve: bool = False
    rules: list[RuleView] = field(default_factory=list)
    silences: list[SilenceView] = field(default_factory=list)
    history: list[AlertView] = field(default_factory=list)  # the newest 50
    orders: list[OrderView] = field(default_factory=list)
    services: list[Named] = field(default_factory=list)  # what a scale or restart may name
    nodes: list[str] = field(default_factory=list)  # pool/node, what a drain may name


def alerts_overview(session: Session, principal: Principal) -> AlertsOverview:
    """The alerts page: rules, silences, the newest alerts and the work orders."""
    found = AlertsOverview(
        may_edit=may(session, principal, Area.OPS, Action.UPDATE),
        may_approve=may(session, principal, Area.OPS, Action.APPROVE),
    )
    if not may(session, principal, Area.OPS, Action.VIEW):
        return found
    rules = alerts.list_rules(session, principal)
    found.rules = [
        RuleView(
            r.id,
            r.name,
            r.kind,
            r.measurement,
            r.field,
            r.comparison,
            r.threshold,
            r.duration_s,
            r.event,
            r.severity,
            tuple(r.channels),
            r.state,
            r.enabled,
        )
        for r in rules
    ]
    names = {r.id: r.name for r in rules}
    found.silences = [
        SilenceView(s.id, names.get(s.rule_id or "", "*"), s.ends_at, s.reason)
        for s in alerts.list_silences(session, principal)
    ]
    found.history = [
        AlertView(
            e.id, e.at, e.rule_name, e.status, e.severity, e.message, e.silenced, dict(e.deliveries), e.acknowledged
        )
        for e in alerts.history(session, principal, 50)
    ]
    found.orders = [OrderView.of(o) for o in work_orders.list_orders(session, principal)]
    if may(session, principal, Area.SERVING, Action.VIEW):
        found.services = [Named(d.id, d.name) for d in serving.list_deployments(session, principal)]
    if may(session, principal, Area.ORCHESTRATION, Action.VIEW):
        found.nodes = [f"{p.name}/{n.name}" for p in orchestration.list_pools(session, principal) for n in p.nodes]
    return found


@dataclass(frozen=True)
class CommentView:
    author: str
    body: str
    at: datetime


@dataclass
class WorkOrderDetail:
    order: OrderView
    comments: list[CommentView]
    members: list[Named]  # whom it may be assigned to (name: the e-mail address)


def work_order_detail(session: Session, principal: Principal, order_id: str) -> WorkOrderDetail:
    """One work order with its comments, and the tenant's members for one who may list them."""
    order, comments = work_orders.get_order(session, principal, order_id)
    members = []
    if principal.tenant_id and may(session, principal, Area.MEMBERS, Action.VIEW):
        members = [Named(m.user_id, m.email) for m in tenancy.list_members(session, principal, principal.tenant_id)]
    return WorkOrderDetail(OrderView.of(order), [CommentView(c.author, c.body, c.at) for c in comments], members)
