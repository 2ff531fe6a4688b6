"""The AI space area: the workbenches one may see (live while they start or stop), the create
form, the approvals queue and the month's cost against the budget for tenant admins."""

from __future__ import annotations

from dataclasses import dataclass, field

import reflex as rx
from sqlmodel import Session

from backend.errors import ErrorCode, MedAIError
from backend.runtime import Runtime
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.space import costs as workbench_costs
from backend.services.space import workbenches
from state import live
from state.auth import AuthState
from state.feedback import error_toast, input_toast, success_toast

ROUTE = "/space"
MOVING = ("starting", "stopping")
FORM_DEFAULTS = {
    "name": "",
    "description": "",
    "image": "",
    "cpu": "2",
    "gpus": "0",
    "memory_gb": "4",
    "storage_gb": "10",
    "idle_timeout_min": "",  # empty: the platform's default
    "reason": "",
}
_NUMBERS = ("cpu", "gpus", "memory_gb", "storage_gb", "idle_timeout_min")


def when(moment) -> str:  # noqa: ANN001 (a datetime or None)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def money(amount: float) -> str:
    return f"{amount:,.2f}"


def workbench_spec(form: dict[str, str]) -> workbenches.WorkbenchSpec:
    numbers: dict[str, float | None] = {}
    for key in _NUMBERS:
        text = form.get(key, FORM_DEFAULTS[key]).strip()
        if not text and key == "idle_timeout_min":
            numbers[key] = None
            continue
        try:
            numbers[key] = float(text)
        except ValueError:
            raise MedAIError(
                ErrorCode.DATA_INVALID, f"{key} must be a number, not '{text}'.", "Type a number."
            ) from None
    return workbenches.WorkbenchSpec(
        name=form.get("name", "").strip(),
        description=form.get("description", ""),
        image=form.get("image", ""),
        cpu=numbers["cpu"] or 0.0,
        gpus=int(numbers["gpus"] or 0),
        memory_gb=numbers["memory_gb"] or 0.0,
        storage_gb=numbers["storage_gb"] or 0.0,
        idle_timeout_min=numbers["idle_timeout_min"],
        reason=form.get("reason", ""),
    )


def resources(wb) -> str:  # noqa: ANN001 (a Workbench row)
    return f"{wb.cpu:g} CPU · {wb.memory_gb:g} GiB · {wb.gpus} GPU · {wb.storage_gb:g} GiB disk"


@dataclass
class Overview:
    may_create: bool = False
    may_approve: bool = False
    workbenches: list[dict[str, str]] = field(default_factory=list)
    approvals: list[dict[str, str]] = field(default_factory=list)
    cost: dict[str, str] = field(default_factory=dict)
    limits: str = ""
    default_idle: str = ""


def workbench_rows(session: Session, who: Principal, costs: dict[str, float]) -> list[dict[str, str]]:
    return [
        {
            "id": wb.id,
            "name": wb.name,
            "description": wb.description,
            "status": wb.status,
            "reason": wb.reason,
            "role": role,
            "resources": resources(wb),
            "owner": wb.created_by,
            "activity": when(wb.last_activity_at),
            "cost": money(costs.get(wb.id, 0.0)),
        }
        for wb, role in workbenches.list_workbenches(session, who)
    ]


def overview(rt: Runtime, session: Session, who: Principal) -> Overview:
    found = Overview(
        may_create=may(session, who, Area.SPACE, Action.CREATE),
        may_approve=may(session, who, Area.SPACE, Action.APPROVE),
    )
    if not may(session, who, Area.SPACE, Action.VIEW):
        return found
    report = workbench_costs.cost_report(session, rt.settings, who)
    found.workbenches = workbench_rows(session, who, {c.workbench_id: c.cost for c in report.workbenches})
    found.cost = {
        "month": report.month,
        "total": money(report.total),
        "budget": money(report.budget) if report.budget else "",
        "over": "yes" if report.over_budget else "",
    }
    found.default_idle = f"{rt.settings.workbench_idle_timeout_min:g}"
    limits = workbenches.Limits.of(rt.settings)
    found.limits = f"{limits.cpu:g} CPU · {limits.memory_gb:g} GiB · {limits.gpus} GPU · {limits.storage_gb:g} GiB disk"
    if found.may_approve:
        found.approvals = [
            {
                "workbench_id": wb.id,
                "name": wb.name,
                "requested_by": request.requested_by,
                "reason": request.reason,
                "exceeds": request.exceeds,
                "resources": resources(wb),
                "created": when(request.created_at),
            }
            for request, wb in workbenches.list_approvals(session, who)
        ]
    return found


class SpaceState(AuthState):
    may_create: bool = False
    may_approve: bool = False
    workbenches: list[dict[str, str]] = []
    approvals: list[dict[str, str]] = []
    cost: dict[str, str] = {}
    limits: str = ""
    default_idle: str = ""
    form: dict[str, str] = dict(FORM_DEFAULTS)
    budget: str = ""
    creating: bool = False
    _follow_round: int = 0

    @rx.var
    def live(self) -> bool:
        return any(w["status"] in MOVING for w in self.workbenches)

    def _apply(self, found: Overview) -> None:
        self.may_create, self.may_approve = found.may_create, found.may_approve
        self.workbenches, self.approvals, self.cost, self.limits = (
            found.workbenches,
            found.approvals,
            found.cost,
            found.limits,
        )
        self.default_idle = found.default_idle

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            self.workbenches, self.approvals, self.cost = [], [], {}
            return
        self._apply(await self._as_user(overview))
        yield SpaceState.follow

    @rx.event
    def set_field(self, key: str, value: str) -> None:
        if key in FORM_DEFAULTS:
            self.form = {**self.form, key: value}

    @rx.event
    def set_budget(self, value: str) -> None:
        self.budget = value

    @rx.event
    async def create(self):  # noqa: ANN201 (Reflex event generator)
        if not self.form.get("name", "").strip():
            yield await input_toast(self, "space.name_missing")
            return
        self.creating = True
        yield
        try:
            spec = workbench_spec(self.form)
            made = await self._as_user(lambda rt, session, who: workbenches.create(session, rt.settings, who, spec))
            pending = made.status == "pending_approval"
            self._apply(await self._as_user(overview))
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.creating = False
            yield error_toast(error)
            return
        self.creating, self.form = False, dict(FORM_DEFAULTS)
        yield await success_toast(self, "space.pending" if pending else "space.created_toast")
        yield SpaceState.follow

    @rx.event
    async def decide(self, workbench_id: str, approve: bool):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(lambda _rt, session, who: workbenches.decide(session, who, workbench_id, approve))
        self._apply(await self._as_user(overview))
        yield await success_toast(self, "space.approved" if approve else "space.rejected")
        yield SpaceState.follow

    @rx.event
    async def save_budget(self):  # noqa: ANN201 (Reflex event generator)
        try:
            amount = float(self.budget.strip() or 0)
        except ValueError:
            yield await input_toast(self, "space.budget_invalid")
            return
        await self._as_user(lambda _rt, session, who: workbench_costs.set_budget(session, who, amount))
        self._apply(await self._as_user(overview))
        yield await success_toast(self, "space.budget_saved")

    @rx.event(background=True)
    async def follow(self) -> None:
        """Refresh the list while a workbench is starting or stopping and this page is open."""
        await live.follow(
            self, lambda: self._as_user(overview), self._apply, lambda: self.live and live.on_page(self, ROUTE)
        )
