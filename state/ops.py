"""Operations: the live dashboards (this node's host and GPUs, the tenant's services and jobs,
resource-hours) refreshed every POLL_S seconds while the page is open, and log search with a
live tail."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import reflex as rx
from sqlmodel import Session

from backend.errors import ErrorCode, MedAIError
from backend.runtime import Runtime
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.ops import logs as ops_logs
from backend.services.ops import metrics as ops_metrics
from backend.services.space import costs as workbench_costs
from state.auth import AuthState
from state.feedback import error_toast
from state.live import POLL_S, connected

ROUTE = "/ops"
WINDOW_MIN = 10
HOST_CARDS = ("cpu_pct", "mem_pct", "mem_used_gb", "disk_pct", "load_1m")
GPU_FIELDS = ("util_pct", "mem_pct", "temperature_c", "power_w")
TAIL_LINES = 300
SINCE = {"15m": 15, "1h": 60, "24h": 1440, "7d": 10080, "all": 0}
COLORS = ("#0d9488", "#6366f1", "#f59e0b", "#ef4444", "#8b5cf6", "#0ea5e9")


def _layout_figure(traces: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": traces, "layout": {}}


def _line(name: str, times: list[str], values: list[float], color: str) -> dict[str, Any]:
    return {"type": "scatter", "mode": "lines", "name": name, "x": times, "y": values, "line": {"color": color}}


@dataclass
class Dashboard:
    may_view: bool = False
    gpu_available: bool = False
    gpu_driver: str = ""
    gpus: list[dict[str, str]] = field(default_factory=list)
    host: dict[str, str] = field(default_factory=dict)
    host_figure: dict[str, Any] = field(default_factory=dict)
    gpu_figure: dict[str, Any] = field(default_factory=dict)
    gpu_series: bool = False
    services: list[dict[str, str]] = field(default_factory=list)
    jobs: dict[str, str] = field(default_factory=dict)
    cost: list[dict[str, str]] = field(default_factory=list)
    budget: str = ""  # this month's workbench cost against the tenant's budget
    over_budget: bool = False
    points: int = 0
    latest_at: str = ""  # time of the newest host sample


def _host(session: Session, rt: Runtime, who: Principal, found: Dashboard) -> None:
    series = ops_metrics.query_metrics(session, rt.metrics, who, "host", HOST_CARDS, minutes=WINDOW_MIN)
    found.points += sum(len(s.values) for s in series)
    latest = ops_metrics.latest(series)
    newest = max((s.times[-1] for s in series if s.times), default="")
    found.latest_at = datetime.fromisoformat(newest).astimezone().strftime("%H:%M:%S") if newest else ""
    found.host = {name: f"{latest[name]:.1f}" for name in HOST_CARDS if name in latest}
    wanted = [s for s in series if s.field in ("cpu_pct", "mem_pct", "disk_pct")]
    found.host_figure = _layout_figure(
        [_line(f"{s.tags.get('node', '')} {s.field}", s.times, s.values, COLORS[i % 6]) for i, s in enumerate(wanted)]
    )


def _gpus(session: Session, rt: Runtime, who: Principal, found: Dashboard) -> None:
    inventory = ops_metrics.gpu_inventory(session, who, rt.collectors)
    found.gpu_available, found.gpu_driver = inventory.available, inventory.driver
    found.gpus = [
        {
            "index": str(g.index),
            "name": g.name,
            "util": f"{g.utilization_pct}",
            "memory": f"{g.memory_used_mib} / {g.memory_total_mib} MiB",
            "temperature": f"{g.temperature_c}",
            "power": f"{g.power_w:.0f}",
        }
        for g in inventory.gpus
    ]
    series = ops_metrics.query_metrics(session, rt.metrics, who, "gpu", ("util_pct", "mem_pct"), minutes=WINDOW_MIN)
    found.points += sum(len(s.values) for s in series)
    found.gpu_series = bool(series)  # this node's (NVML) and cluster nodes' (DCGM exporters)
    found.gpu_figure = _layout_figure(
        [
            _line(f"{s.tags.get('node', '')} GPU {s.tags.get('gpu', '')} {s.field}", s.times, s.values, COLORS[i % 6])
            for i, s in enumerate(series)
        ]
    )


def _services(session: Session, rt: Runtime, who: Principal, found: Dashboard) -> None:
    series = ops_metrics.query_metrics(session, rt.metrics, who, "gateway", minutes=60)
    per: dict[str, dict[str, list[float]]] = {}
    for s in series:
        per.setdefault(s.tags.get("model", ""), {})[s.field] = s.values
    found.services = [
        {
            "model": model,
            "requests": f"{sum(fields.get('requests', [])):.0f}",
            "errors": f"{sum(fields.get('errors', [])):.0f}",
            "tokens": f"{sum(fields.get('prompt_tokens', [])) + sum(fields.get('completion_tokens', [])):.0f}",
            "p95": f"{max(fields.get('latency_p95_ms', [0])):.0f} ms",
        }
        for model, fields in sorted(per.items())
    ]
    jobs = ops_metrics.latest(ops_metrics.query_metrics(session, rt.metrics, who, "jobs", minutes=1))
    found.jobs = {k: f"{jobs.get(k, 0):.0f}" for k in ("running", "queued", "gpus_in_use")}


def dashboard(rt: Runtime, session: Session, who: Principal, with_cost: bool = False) -> Dashboard:
    found = Dashboard(may_view=may(session, who, Area.OPS, Action.VIEW))
    if not found.may_view:
        return found
    _host(session, rt, who, found)
    _gpus(session, rt, who, found)
    _services(session, rt, who, found)
    if with_cost:
        _cost(rt, session, who, found)
    return found


def _cost(rt: Runtime, session: Session, who: Principal, found: Dashboard) -> None:
    """Resource-hours of jobs and services (30 days) and of workbenches (this month), priced with the
    workbench price table, and the month's workbench cost against the tenant's budget."""
    prices = workbench_costs.Prices.of(rt.settings)

    def priced(gpu_hours: float, cpu_hours: float) -> str:
        return f"{gpu_hours * prices.gpu_hour + cpu_hours * prices.cpu_hour:.2f}"

    found.cost = [
        {
            "kind": r.kind,
            "name": r.name,
            "gpu_hours": f"{r.gpu_hours:.2f}",
            "cpu_hours": f"{r.cpu_hours:.2f}",
            "cost": priced(r.gpu_hours, r.cpu_hours),
        }
        for r in ops_metrics.resource_hours(session, who)
    ]
    if not may(session, who, Area.SPACE, Action.VIEW):
        return
    report = workbench_costs.cost_report(session, rt.settings, who)
    found.cost += [
        {
            "kind": "workbench",
            "name": w.name,
            "gpu_hours": f"{w.gpu_hours:.2f}",
            "cpu_hours": f"{w.cpu_hours:.2f}",
            "cost": f"{w.cost:.2f}",
        }
        for w in report.workbenches
        if w.hours > 0
    ]
    if report.budget:
        found.budget = f"{report.month}: {report.total:.2f} / {report.budget:.2f}"
        found.over_budget = report.over_budget


@dataclass(frozen=True)
class LogFilter:
    text: str = ""
    source: str = "all"
    level: str = ""
    since: str = "24h"


def search(session: Session, rt: Runtime, who: Principal, wanted: LogFilter, after_id: int = 0) -> list[dict[str, Any]]:
    if wanted.since not in SINCE:
        raise MedAIError(ErrorCode.DATA_INVALID, "Unknown time range.", "Pick a range from the list.")
    minutes = SINCE[wanted.since]
    start = datetime.now(UTC) - timedelta(minutes=minutes) if minutes else None
    sources = () if wanted.source == "all" else (wanted.source,)
    lines = ops_logs.search_logs(
        session,
        rt.logs,
        who,
        wanted.text,
        start,
        None,
        sources,
        ops_logs.levels_from(wanted.level),
        after_id=after_id,
        limit=TAIL_LINES,
    )
    return [{**ops_logs.line_view(x), "time": x.at.astimezone().strftime("%m-%d %H:%M:%S")} for x in lines]


class OpsState(AuthState):
    tab: str = "dashboards"
    may_view: bool = True
    gpu_available: bool = False
    gpu_driver: str = ""
    gpus: list[dict[str, str]] = []
    host: dict[str, str] = {}
    host_figure: dict[str, Any] = {}
    gpu_figure: dict[str, Any] = {}
    gpu_series: bool = False
    services: list[dict[str, str]] = []
    jobs: dict[str, str] = {}
    cost: list[dict[str, str]] = []
    budget: str = ""
    over_budget: bool = False
    points: int = 0
    latest_at: str = ""
    updated_at: str = ""
    refreshes: int = 0
    live: bool = False
    log_text: str = ""
    log_source: str = "all"
    log_level: str = "all"
    log_since: str = "24h"
    log_lines: list[dict[str, Any]] = []
    tailing: bool = False
    _round: int = 0
    _tail_round: int = 0

    def _filter(self) -> LogFilter:
        level = "" if self.log_level == "all" else self.log_level
        return LogFilter(self.log_text, self.log_source, level, self.log_since)

    def _show(self, found: Dashboard, with_cost: bool) -> None:
        self.may_view = found.may_view
        self.gpu_available, self.gpu_driver, self.gpus = found.gpu_available, found.gpu_driver, found.gpus
        self.host, self.host_figure, self.gpu_figure = found.host, found.host_figure, found.gpu_figure
        self.gpu_series = found.gpu_series
        self.services, self.jobs, self.points, self.latest_at = (
            found.services,
            found.jobs,
            found.points,
            found.latest_at,
        )
        if with_cost:
            self.cost, self.budget, self.over_budget = found.cost, found.budget, found.over_budget
        self.updated_at = datetime.now(UTC).astimezone().strftime("%H:%M:%S")
        self.refreshes += 1

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            self.may_view = False
            return
        self._tail_round += 1
        self.tailing, self.log_lines = False, []
        found = await self._as_user(lambda rt, session, who: dashboard(rt, session, who, with_cost=True))
        self._show(found, with_cost=True)
        if self.may_view:
            yield OpsState.follow

    @rx.event
    def set_tab(self, tab: str):  # noqa: ANN201 (Reflex event handler)
        self.tab = tab
        if tab == "logs" and not self.log_lines:
            return OpsState.search_logs
        return None

    @rx.event(background=True)
    async def follow(self) -> None:
        """Refresh the dashboards every POLL_S seconds while this page is open."""
        async with self:
            self._round += 1
            round_, self.live = self._round, True
        try:
            while True:
                await asyncio.sleep(POLL_S)
                async with self:
                    if round_ != self._round or self.router.url.path.rstrip("/") != ROUTE or not connected(self):
                        return
                    if self.tab != "dashboards":
                        continue
                found = await self._as_user(dashboard)
                async with self:
                    if round_ != self._round:
                        return
                    self._show(found, with_cost=False)
        finally:
            async with self:
                if round_ == self._round:
                    self.live = False

    @rx.event
    def set_log_text(self, value: str) -> None:
        self.log_text = value

    @rx.event
    def set_log_source(self, value: str) -> None:
        self.log_source = value

    @rx.event
    def set_log_level(self, value: str) -> None:
        self.log_level = value

    @rx.event
    def set_log_since(self, value: str) -> None:
        self.log_since = value

    @rx.event
    async def search_logs(self):  # noqa: ANN201 (Reflex event generator)
        wanted = self._filter()
        try:
            self.log_lines = await self._as_user(lambda rt, session, who: search(session, rt, who, wanted))
        except Exception as error:  # shown as a toast with the remedy
            yield error_toast(error)

    @rx.event
    def toggle_tail(self):  # noqa: ANN201 (Reflex event handler)
        self._tail_round += 1
        self.tailing = not self.tailing
        return OpsState.tail if self.tailing else None

    @rx.event(background=True)
    async def tail(self) -> None:
        """New lines matching the search, added at the top every POLL_S seconds while tailing."""
        async with self:
            round_, wanted = self._tail_round, self._filter()
            newest = max((int(x["id"]) for x in self.log_lines), default=0)
        while True:
            await asyncio.sleep(POLL_S)
            async with self:
                if round_ != self._tail_round or not self.tailing or not connected(self):
                    return
            try:
                found = await self._as_user(
                    lambda rt, session, who, after=newest: search(session, rt, who, wanted, after)
                )
            except MedAIError:
                found = []
            async with self:
                if round_ != self._tail_round:
                    return
                if found:
                    newest = max(int(x["id"]) for x in found)
                    self.log_lines = [*reversed(found), *self.log_lines][:TAIL_LINES]
