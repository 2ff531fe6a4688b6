"""The AI space area: the workbenches one may see (live while they start or stop), the create
form, the approvals queue and the month's cost against the budget for tenant admins."""

from __future__ import annotations

from dataclasses import dataclass, field

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services.space import costs as workbench_costs
from backend.services.space import views, workbenches
from backend.services.space.views import SpaceOverview, WorkbenchSummary
from state import live
from state.auth import AuthState
from state.feedback import error_toast, input_toast, success_toast
from state.format import when

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


def resources(wb: WorkbenchSummary) -> str:
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


def present(found: SpaceOverview) -> Overview:
    """The overview as the page's vars hold it."""
    shown = Overview(may_create=found.may_create, may_approve=found.may_approve)
    if not found.may_view:
        return shown
    shown.workbenches = [
        {
            "id": row.workbench.id,
            "name": row.workbench.name,
            "description": row.workbench.description,
            "status": row.workbench.status,
            "reason": row.workbench.reason,
            "role": row.role,
            "resources": resources(row.workbench),
            "owner": row.workbench.created_by,
            "activity": when(row.workbench.last_activity_at),
            "cost": money(row.cost),
        }
        for row in found.workbenches
    ]
    if found.cost is not None:
        shown.cost = {
            "month": found.cost.month,
            "total": money(found.cost.total),
            "budget": money(found.cost.budget) if found.cost.budget else "",
            "over": "yes" if found.cost.over_budget else "",
        }
    if found.default_idle_min is not None:
        shown.default_idle = f"{found.default_idle_min:g}"
    if found.limits is not None:
        limits = found.limits
        shown.limits = (
            f"{limits.cpu:g} CPU · {limits.memory_gb:g} GiB · {limits.gpus} GPU · {limits.storage_gb:g} GiB disk"
        )
    shown.approvals = [
        {
            "workbench_id": a.workbench.id,
            "name": a.workbench.name,
            "requested_by": a.requested_by,
            "reason": a.reason,
            "exceeds": a.exceeds,
            "resources": resources(a.workbench),
            "created": when(a.created_at),
        }
        for a in found.approvals
    ]
    return shown


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

    async def _overview(self) -> Overview:
        return present(
            await self._as_user(lambda rt, session, principal: views.overview(session, principal, rt.settings))
        )

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
        self._apply(await self._overview())
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
            made = await self._as_user(
                lambda rt, session, principal: workbenches.create(session, rt.settings, principal, spec)
            )
            pending = made.status == "pending_approval"
            self._apply(await self._overview())
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.creating = False
            yield error_toast(error)
            return
        self.creating, self.form = False, dict(FORM_DEFAULTS)
        yield await success_toast(self, "space.pending" if pending else "space.created_toast")
        yield SpaceState.follow

    @rx.event
    async def decide(self, workbench_id: str, approve: bool):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(
            lambda _rt, session, principal: workbenches.decide(session, principal, workbench_id, approve)
        )
        self._apply(await self._overview())
        yield await success_toast(self, "space.approved" if approve else "space.rejected")
        yield SpaceState.follow

    @rx.event
    async def save_budget(self):  # noqa: ANN201 (Reflex event generator)
        try:
            amount = float(self.budget.strip() or 0)
        except ValueError:
            yield await input_toast(self, "space.budget_invalid")
            return
        await self._as_user(lambda _rt, session, principal: workbench_costs.set_budget(session, principal, amount))
        self._apply(await self._overview())
        yield await success_toast(self, "space.budget_saved")

    @rx.event(background=True)
    async def follow(self) -> None:
        """Refresh the list while a workbench is starting or stopping and this page is open."""
        await live.follow(self, lambda: self._overview(), self._apply, lambda: self.live and live.on_page(self, ROUTE))
