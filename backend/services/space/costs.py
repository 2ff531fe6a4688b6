"""Workbench cost: resource-hours from the recorded usage intervals × the price table, per
workbench and per tenant for a month, against the tenant's monthly budget; crossing the budget
is recorded once a month as a ``workbench.budget_exceeded`` event in the tenant's audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from backend.errors import ErrorCode, MedAIError
from backend.models import Workbench, WorkbenchBudget, WorkbenchUsage
from backend.models.base import utcnow
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, may
from backend.services.identity.permissions import Action, Area
from backend.services.space.workbenches import list_workbenches
from backend.settings import Settings


@dataclass(frozen=True)
class Prices:
    cpu_hour: float
    gpu_hour: float
    memory_gb_hour: float
    storage_gb_hour: float

    @classmethod
    def of(cls, settings: Settings) -> Prices:
        return cls(
            settings.workbench_price_cpu_hour,
            settings.workbench_price_gpu_hour,
            settings.workbench_price_memory_gb_hour,
            settings.workbench_price_storage_gb_hour,
        )


@dataclass(frozen=True)
class WorkbenchCost:
    workbench_id: str
    name: str
    hours: float
    cpu_hours: float
    gpu_hours: float
    memory_gb_hours: float
    storage_gb_hours: float
    cost: float


@dataclass(frozen=True)
class CostReport:
    month: str  # "2026-11"
    workbenches: list[WorkbenchCost]
    total: float
    budget: float  # 0: none set
    over_budget: bool


def month_bounds(month: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise MedAIError(ErrorCode.DATA_INVALID, f"'{month}' is not a month.", "Write it as YYYY-MM.") from None
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def interval_hours(usage: WorkbenchUsage, start: datetime, end: datetime, now: datetime) -> float:
    """Hours of ``usage`` inside [start, end); an interval still open counts until ``now``."""
    began = max(_aware(usage.started_at), start)
    ended = min(_aware(usage.ended_at) if usage.ended_at else now, end)
    return max(0.0, (ended - began).total_seconds() / 3600)


def _costs(session: Session, tenant_id: str, prices: Prices, month: str, now: datetime) -> list[WorkbenchCost]:
    start, end = month_bounds(month)
    names = {w.id: w.name for w in session.exec(select(Workbench).where(Workbench.tenant_id == tenant_id)).all()}
    totals: dict[str, list[float]] = {}
    usages = session.exec(
        select(WorkbenchUsage).where(WorkbenchUsage.tenant_id == tenant_id, WorkbenchUsage.started_at < end)
    ).all()
    for usage in usages:
        hours = interval_hours(usage, start, end, now)
        if hours <= 0:
            continue
        row = totals.setdefault(usage.workbench_id, [0.0] * 5)
        for i, amount in enumerate((1.0, usage.cpu, usage.gpus, usage.memory_gb, usage.storage_gb)):
            row[i] += hours * amount
    found = []
    for workbench_id, (hours, cpu, gpu, memory, storage) in totals.items():
        cost = (
            cpu * prices.cpu_hour
            + gpu * prices.gpu_hour
            + memory * prices.memory_gb_hour
            + storage * prices.storage_gb_hour
        )
        found.append(WorkbenchCost(workbench_id, names.get(workbench_id, ""), hours, cpu, gpu, memory, storage, cost))
    return sorted(found, key=lambda c: -c.cost)


def _budget(session: Session, tenant_id: str) -> WorkbenchBudget | None:
    return session.get(WorkbenchBudget, tenant_id)


def tenant_report(session: Session, tenant_id: str, prices: Prices, month: str, now: datetime) -> CostReport:
    rows = _costs(session, tenant_id, prices, month, now)
    total = sum(r.cost for r in rows)
    budget = _budget(session, tenant_id)
    limit = budget.monthly_budget if budget else 0.0
    return CostReport(month, rows, total, limit, bool(limit) and total > limit)


def cost_report(session: Session, settings: Settings, principal: Principal, month: str = "") -> CostReport:
    """The month's cost per workbench and for the tenant (default: this month). Tenant admins see
    every workbench; others see the tenant's total and budget, and only their own workbenches' rows."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.VIEW)
    assert tenant_id is not None
    now = utcnow()
    report = tenant_report(session, tenant_id, Prices.of(settings), month or now.strftime("%Y-%m"), now)
    if may(session, principal, Area.SPACE, Action.APPROVE):
        return report
    mine = {wb.id for wb, _ in list_workbenches(session, principal)}  # the member's own workbenches
    return CostReport(
        report.month,
        [r for r in report.workbenches if r.workbench_id in mine],
        report.total,
        report.budget,
        report.over_budget,
    )


def set_budget(session: Session, principal: Principal, monthly_budget: float) -> WorkbenchBudget:
    """The tenant's monthly workbench budget (0 removes it); tenant admins."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.APPROVE)
    assert tenant_id is not None
    if not 0 <= monthly_budget <= 1e9:
        raise MedAIError(ErrorCode.DATA_INVALID, "The budget must be 0 or more.", "0 means no budget.")
    budget = _budget(session, tenant_id) or WorkbenchBudget(tenant_id=tenant_id)
    before = budget.monthly_budget
    budget.monthly_budget, budget.updated_by, budget.updated_at = monthly_budget, principal.label, utcnow()
    budget.alerted_month = ""  # a new budget is checked afresh
    session.add(budget)
    audit.record_by(
        session, principal, "workbench.budget_set", "tenant", tenant_id, before=before, after=monthly_budget
    )
    return budget


def check_budgets(session: Session, prices: Prices, now: datetime) -> list[str]:
    """The controller's check: a tenant whose month crosses its budget gets one event this month.
    Returns the tenants alerted now."""
    month, alerted = now.strftime("%Y-%m"), []
    for budget in session.exec(select(WorkbenchBudget).where(WorkbenchBudget.monthly_budget > 0)).all():
        if budget.alerted_month == month:
            continue
        report = tenant_report(session, budget.tenant_id, prices, month, now)
        if report.over_budget:
            budget.alerted_month = month
            session.add(budget)
            audit.record_by(
                session,
                None,
                "workbench.budget_exceeded",
                "tenant",
                budget.tenant_id,
                tenant_id=budget.tenant_id,
                outcome="alert",
                month=month,
                total=round(report.total, 2),
                budget=budget.monthly_budget,
            )
            alerted.append(budget.tenant_id)
    return alerted
