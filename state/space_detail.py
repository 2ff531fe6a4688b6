"""One workbench: status followed live, start and stop, the IDE button (owners and editors get a
link with JupyterLab's token), members, the dependency panel, this month's cost and activity."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import reflex as rx

from backend.errors import MedAIError
from backend.services.assets import model_registry
from backend.services.space import packages as workbench_packages
from backend.services.space import publishing as workbench_publishing
from backend.services.space import views, workbenches
from backend.services.space.views import WorkbenchDetail
from state.auth import AuthState
from state.feedback import error_toast, input_toast, success_toast
from state.format import when
from state.live import POLL_S, connected
from state.space import money, resources

ROUTE_PREFIX = "/space/"
MOVING = ("starting", "stopping")


@dataclass
class WorkbenchView:
    workbench: dict[str, str] = field(default_factory=dict)
    role: str = ""
    members: list[dict[str, str]] = field(default_factory=list)
    packages: list[dict[str, str]] = field(default_factory=list)
    activity: list[dict[str, str]] = field(default_factory=list)


def present(found: WorkbenchDetail) -> WorkbenchView:
    """One workbench as the page's vars hold it."""
    wb, cost = found.workbench, found.cost
    view = WorkbenchView(role=found.role)
    view.workbench = {
        "id": wb.id,
        "name": wb.name,
        "description": wb.description,
        "status": wb.status,
        "reason": wb.reason,
        "image": wb.image,
        "resources": resources(wb),
        "idle_timeout": f"{wb.idle_timeout_s / 60:g}" if wb.idle_timeout_s else "—",
        "activity": when(wb.last_activity_at),
        "started": when(wb.started_at),
        "created": f"{when(wb.created_at)} · {wb.created_by}",
        "cost": money(cost.cost if cost else 0.0),
        "hours": f"{cost.hours:.1f}" if cost else "0.0",
    }
    view.members = [{"user_id": m.user_id, "email": m.email, "name": m.name, "role": m.role} for m in found.members]
    view.packages = [
        {"requirement": p.requirement, "status": p.status, "detail": p.detail, "by": p.requested_by}
        for p in found.packages
    ]
    view.activity = [
        {"at": when(a.at), "action": a.action.removeprefix("workbench."), "actor": a.actor, "outcome": a.outcome}
        for a in found.activity
    ]
    return view


class WorkbenchState(AuthState):
    workbench: dict[str, str] = {}
    role: str = ""
    members: list[dict[str, str]] = []
    packages: list[dict[str, str]] = []
    activity: list[dict[str, str]] = []
    member_email: str = ""
    member_role: str = "editor"
    requirement: str = ""
    folder: str = ""
    model_name: str = ""
    registered: dict[str, str] = {}  # the last version registered from here: model id and label
    missing: bool = False
    following: bool = False
    _follow_round: int = 0

    @rx.var
    def may_work(self) -> bool:
        return self.role in ("owner", "editor")

    @rx.var
    def is_owner(self) -> bool:
        return self.role == "owner"

    def _route_id(self) -> str:
        path = self.router.url.path.rstrip("/")
        return path[len(ROUTE_PREFIX) :] if path.startswith(ROUTE_PREFIX) else ""

    def _apply(self, view: WorkbenchView) -> None:
        self.workbench, self.role, self.members = view.workbench, view.role, view.members
        self.packages, self.activity = view.packages, view.activity

    async def _view(self, workbench_id: str) -> WorkbenchView:
        return present(
            await self._as_user(
                lambda rt, session, principal: views.workbench_detail(session, principal, rt.settings, workbench_id)
            )
        )

    async def _refresh(self, workbench_id: str) -> None:
        self._apply(await self._view(workbench_id))

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        self.workbench, self.members, self.packages, self.activity, self.missing = {}, [], [], [], False
        workbench_id = self._route_id()
        if not self.signed_in or self.must_change_password or not self.tenant_id or not workbench_id:
            self.missing = bool(self.signed_in and not self.must_change_password)
            return
        try:
            await self._refresh(workbench_id)
        except MedAIError as error:
            self.missing = True
            yield error_toast(error)
            return
        yield WorkbenchState.follow

    @rx.event(background=True)
    async def follow(self) -> None:
        """Refresh status, packages and activity every POLL_S seconds while the page is open."""
        async with self:
            self._follow_round += 1
            round_, workbench_id, self.following = self._follow_round, self.workbench.get("id", ""), True
        try:
            while True:
                await asyncio.sleep(POLL_S)
                async with self:
                    if round_ != self._follow_round or self._route_id() != workbench_id or not connected(self):
                        return
                try:
                    view = await self._view(workbench_id)
                except MedAIError:
                    return
                async with self:
                    if round_ != self._follow_round:
                        return
                    self._apply(view)
        finally:
            async with self:
                if round_ == self._follow_round:
                    self.following = False

    async def _act(self, work, done_key: str):  # noqa: ANN001, ANN202 (a service call for this workbench)
        workbench_id = self.workbench.get("id", "")
        await self._as_user(lambda _rt, session, principal: work(session, principal, workbench_id))
        await self._refresh(workbench_id)
        return await success_toast(self, done_key)

    @rx.event
    async def start(self):  # noqa: ANN201 (Reflex event generator)
        yield await self._act(workbenches.start, "space.starting")
        yield WorkbenchState.follow

    @rx.event
    async def stop(self):  # noqa: ANN201 (Reflex event generator)
        yield await self._act(workbenches.stop, "space.stopping")
        yield WorkbenchState.follow

    @rx.event
    async def open_ide(self):  # noqa: ANN201 (Reflex event generator)
        workbench_id = self.workbench.get("id", "")
        link = await self._as_user(
            lambda rt, session, principal: workbenches.open_ide(session, rt.keys, principal, workbench_id)
        )
        yield rx.redirect(link, is_external=True)

    @rx.event
    def set_member_email(self, value: str) -> None:
        self.member_email = value

    @rx.event
    def set_member_role(self, value: str) -> None:
        self.member_role = value

    @rx.event
    def set_requirement(self, value: str) -> None:
        self.requirement = value

    @rx.event
    async def add_member(self):  # noqa: ANN201 (Reflex event generator)
        if not self.member_email.strip():
            yield await input_toast(self, "space.member_email_missing")
            return
        email, role = self.member_email, self.member_role
        yield await self._act(
            lambda s, principal, w: workbenches.add_member(s, principal, w, email, role), "space.member_added"
        )
        self.member_email = ""

    @rx.event
    async def remove_member(self, user_id: str):  # noqa: ANN201 (Reflex event generator)
        yield await self._act(
            lambda s, principal, w: workbenches.remove_member(s, principal, w, user_id), "space.member_removed"
        )

    @rx.event
    async def install(self):  # noqa: ANN201 (Reflex event generator)
        requirement = self.requirement
        if not requirement.strip():
            yield await input_toast(self, "space.requirement_missing")
            return
        work = lambda s, principal, w: workbench_packages.request_install(s, principal, w, requirement)  # noqa: E731
        yield await self._act(work, "space.install_queued")
        self.requirement = ""
        yield WorkbenchState.follow

    @rx.event
    def set_folder(self, value: str) -> None:
        self.folder = value

    @rx.event
    def set_model_name(self, value: str) -> None:
        self.model_name = value

    @rx.event
    async def register_folder(self):  # noqa: ANN201 (Reflex event generator)
        folder, name = self.folder.strip(), self.model_name.strip()
        if not folder or not name:
            yield await input_toast(self, "space.publish_incomplete")
            return
        workbench_id = self.workbench.get("id", "")
        spec = model_registry.VersionSpec(model_name=name)
        version = await self._as_user(
            lambda rt, session, principal: workbench_publishing.register_model(
                session, rt.objects, rt.settings, principal, workbench_id, folder, spec
            )
        )
        self.registered = {"model_id": version.model_id, "label": f"{name} v{version.version}"}
        await self._refresh(workbench_id)
        yield await success_toast(self, "space.registered")
