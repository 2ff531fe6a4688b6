"""What the AI space pages read, each as one use case returning dataclasses: the overview (the
workbenches one may see with this month's cost, the approvals queue, the cost against the budget and
the self-service limits) and one workbench in detail (members, packages, activity and cost)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from backend.models import Workbench
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.space import costs, packages, workbenches
from backend.services.space.costs import CostReport, WorkbenchCost
from backend.services.space.workbenches import ActivityRow, Limits, MemberView
from backend.settings import Settings


@dataclass(frozen=True)
class WorkbenchSummary:
    """A workbench as the pages show it (never its sealed token or compute reference)."""

    id: str
    name: str
    description: str
    image: str
    status: str
    reason: str
    cpu: float
    gpus: int
    memory_gb: float
    storage_gb: float
    idle_timeout_s: int
    last_activity_at: datetime | None
    started_at: datetime | None
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, wb: Workbench) -> WorkbenchSummary:
        return cls(
            id=wb.id,
            name=wb.name,
            description=wb.description,
            image=wb.image,
            status=wb.status,
            reason=wb.reason,
            cpu=wb.cpu,
            gpus=wb.gpus,
            memory_gb=wb.memory_gb,
            storage_gb=wb.storage_gb,
            idle_timeout_s=wb.idle_timeout_s,
            last_activity_at=wb.last_activity_at,
            started_at=wb.started_at,
            created_by=wb.created_by,
            created_at=wb.created_at,
        )


@dataclass(frozen=True)
class WorkbenchRow:
    workbench: WorkbenchSummary
    role: str  # the caller's role in it ("" for a tenant admin who is not a member)
    cost: float  # this month's


@dataclass(frozen=True)
class ApprovalRow:
    workbench: WorkbenchSummary
    requested_by: str
    reason: str
    exceeds: str
    created_at: datetime


@dataclass(frozen=True)
class SpaceOverview:
    may_create: bool
    may_approve: bool
    may_view: bool  # without it everything below is empty
    workbenches: list[WorkbenchRow]
    approvals: list[ApprovalRow]  # tenant admins only
    cost: CostReport | None
    limits: Limits | None
    default_idle_min: float | None


def overview(session: Session, principal: Principal, settings: Settings) -> SpaceOverview:
    """The AI space page: the workbenches one may see with this month's cost, the approvals queue
    (tenant admins), the tenant's cost against its budget and the self-service limits."""
    may_create = may(session, principal, Area.SPACE, Action.CREATE)
    may_approve = may(session, principal, Area.SPACE, Action.APPROVE)
    if not may(session, principal, Area.SPACE, Action.VIEW):
        return SpaceOverview(may_create, may_approve, False, [], [], None, None, None)
    report = costs.cost_report(session, settings, principal)
    by_workbench = {c.workbench_id: c.cost for c in report.workbenches}
    rows = [
        WorkbenchRow(WorkbenchSummary.of(wb), role, by_workbench.get(wb.id, 0.0))
        for wb, role in workbenches.list_workbenches(session, principal)
    ]
    approvals = (
        [
            ApprovalRow(
                WorkbenchSummary.of(wb), request.requested_by, request.reason, request.exceeds, request.created_at
            )
            for request, wb in workbenches.list_approvals(session, principal)
        ]
        if may_approve
        else []
    )
    return SpaceOverview(
        may_create=may_create,
        may_approve=may_approve,
        may_view=True,
        workbenches=rows,
        approvals=approvals,
        cost=report,
        limits=Limits.of(settings),
        default_idle_min=settings.workbench_idle_timeout_min,
    )


@dataclass(frozen=True)
class PackageRow:
    requirement: str
    status: str
    detail: str
    requested_by: str


@dataclass(frozen=True)
class WorkbenchDetail:
    workbench: WorkbenchSummary
    role: str
    members: list[MemberView]
    packages: list[PackageRow]
    activity: list[ActivityRow]
    cost: WorkbenchCost | None  # this month's; None before it ever ran


def workbench_detail(session: Session, principal: Principal, settings: Settings, workbench_id: str) -> WorkbenchDetail:
    """One workbench: the caller's role, its members, packages, activity and this month's cost."""
    wb, role, members = workbenches.get_workbench(session, principal, workbench_id)
    cost = next(
        (c for c in costs.cost_report(session, settings, principal).workbenches if c.workbench_id == wb.id), None
    )
    return WorkbenchDetail(
        workbench=WorkbenchSummary.of(wb),
        role=role,
        members=members,
        packages=[
            PackageRow(p.requirement, p.status, p.detail, p.requested_by)
            for p in packages.list_packages(session, principal, wb.id)
        ],
        activity=workbenches.activity(session, principal, wb.id),
        cost=cost,
    )
