"""Operations: the live dashboards (this node's host and GPUs, the tenant's services and jobs,
resource-hours) refreshed every POLL_S seconds while the page is open, and log search with a
live tail."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import reflex as rx

from backend.errors import MedAIError
from backend.services.ops import views as ops_views
from backend.services.ops.views import LogFilter, OpsDashboard
from backend.services.space import costs as workbench_costs
from state.auth import AuthState
from state.feedback import error_toast
from state.live import POLL_S, connected

ROUTE = "/ops"
HOST_CARDS = ops_views.HOST_CARDS
GPU_FIELDS = ("util_pct", "mem_pct", "temperature_c", "power_w")
TAIL_LINES = ops_views.TAIL_LINES
SINCE = ops_views.SINCE
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


def _cost_rows(found: OpsDashboard, report: Any) -> list[dict[str, str]]:
    """Resource-hours of jobs and services (30 days) and of workbenches (this month), priced."""
    rows = [
        {
            "kind": r.kind,
            "name": r.name,
            "gpu_hours": f"{r.gpu_hours:.2f}",
            "cpu_hours": f"{r.cpu_hours:.2f}",
            "cost": f"{r.cost:.2f}",
        }
        for r in found.cost
    ]
    if report is None:
        return rows
    return rows + [
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


def dashboard_vars(found: OpsDashboard, report: Any = None) -> Dashboard:
    """The dashboard as the page's vars; ``report`` is the AI space's workbench cost report, if read."""
    shown = Dashboard(may_view=found.may_view)
    if not found.may_view:
        return shown
    shown.points = found.points
    shown.latest_at = (
        datetime.fromisoformat(found.latest_at).astimezone().strftime("%H:%M:%S") if found.latest_at else ""
    )
    shown.host = {name: f"{value:.1f}" for name, value in found.host.items()}
    shown.host_figure = _layout_figure(
        [
            _line(f"{s.tags.get('node', '')} {s.field}", s.times, s.values, COLORS[i % 6])
            for i, s in enumerate(found.host_series)
        ]
    )
    if found.gpus is not None:
        shown.gpu_available, shown.gpu_driver = found.gpus.available, found.gpus.driver
        shown.gpus = [
            {
                "index": str(g.index),
                "name": g.name,
                "util": f"{g.utilization_pct}",
                "memory": f"{g.memory_used_mib} / {g.memory_total_mib} MiB",
                "temperature": f"{g.temperature_c}",
                "power": f"{g.power_w:.0f}",
            }
            for g in found.gpus.gpus
        ]
    shown.gpu_series = bool(found.gpu_series)
    shown.gpu_figure = _layout_figure(
        [
            _line(f"{s.tags.get('node', '')} GPU {s.tags.get('gpu', '')} {s.field}", s.times, s.values, COLORS[i % 6])
            for i, s in enumerate(found.gpu_series)
        ]
    )
    shown.services = [
        {
            "model": t.model,
            "requests": f"{t.requests:.0f}",
            "errors": f"{t.errors:.0f}",
            "tokens": f"{t.tokens:.0f}",
            "p95": f"{t.p95_ms:.0f} ms",
        }
        for t in found.services
    ]
    shown.jobs = {k: f"{v:.0f}" for k, v in found.jobs.items()}
    shown.cost = _cost_rows(found, report)
    if report is not None and report.budget:
        shown.budget = f"{report.month}: {report.total:.2f} / {report.budget:.2f}"
        shown.over_budget = report.over_budget
    return shown


def _prices(rt: Any) -> tuple[float, float]:
    prices = workbench_costs.Prices.of(rt.settings)
    return prices.gpu_hour, prices.cpu_hour


def log_row(line: Any) -> dict[str, Any]:
    return {
        "id": line.id,
        "at": line.at.isoformat(),
        "source": line.source,
        "source_id": line.source_id,
        "level": line.level,
        "message": line.message,
        "time": line.at.astimezone().strftime("%m-%d %H:%M:%S"),
    }


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
        found = await self._as_user(
            lambda rt, session, principal: ops_views.dashboard(
                session, principal, rt.metrics, rt.collectors, _prices(rt)
            )
        )
        report = None
        if found.may_view_workbench_cost:  # the AI space's: the operations domain does not read it
            report = await self._as_user(
                lambda rt, session, principal: workbench_costs.cost_report(session, rt.settings, principal)
            )
        self._show(dashboard_vars(found, report), with_cost=True)
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
                found = await self._as_user(
                    lambda rt, session, principal: ops_views.dashboard(session, principal, rt.metrics, rt.collectors)
                )
                async with self:
                    if round_ != self._round:
                        return
                    self._show(dashboard_vars(found), with_cost=False)
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
            found = await self._as_user(
                lambda rt, session, principal: ops_views.search_log_page(session, rt.logs, principal, wanted)
            )
            self.log_lines = [log_row(x) for x in found]
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
                lines = await self._as_user(
                    lambda rt, session, principal, after=newest: ops_views.search_log_page(
                        session, rt.logs, principal, wanted, after
                    )
                )
                found = [log_row(x) for x in lines]
            except MedAIError:
                found = []
            async with self:
                if round_ != self._tail_round:
                    return
                if found:
                    newest = max(int(x["id"]) for x in found)
                    self.log_lines = [*reversed(found), *self.log_lines][:TAIL_LINES]
