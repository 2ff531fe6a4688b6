"""The admin page: tenants and users (platform admins), the current tenant's members
(tenant owners and admins). Tenant API keys: state.api_keys; the audit trail: state.audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import reflex as rx
from sqlmodel import Session

from backend.runtime import Runtime
from backend.services.identity import tenancy
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from state.auth import AuthState
from state.feedback import success_toast

TABS = ("tenants", "members", "users", "keys", "permissions", "audit")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _flag(value: bool) -> str:
    return "yes" if value else "no"


@dataclass
class AdminView:
    may_members: bool = False
    may_edit_members: bool = False
    may_audit: bool = False
    tenants: list[dict[str, str]] = field(default_factory=list)
    members: list[dict[str, str]] = field(default_factory=list)
    users: list[dict[str, str]] = field(default_factory=list)


def _admin_view(_rt: Runtime, session: Session, who: Principal) -> AdminView:
    view = AdminView(
        may_members=who.tenant_id is not None and may(session, who, Area.MEMBERS, Action.VIEW),
        may_edit_members=who.tenant_id is not None and may(session, who, Area.MEMBERS, Action.UPDATE),
        may_audit=may(session, who, Area.AUDIT, Action.VIEW),
    )
    if who.is_platform_admin:
        view.tenants = [
            {
                "id": t.id,
                "slug": t.slug,
                "name": t.name,
                "status": t.status,
                "members": str(t.members),
                "created": _when(t.created_at),
            }
            for t in tenancy.list_tenants(session, who)
        ]
        view.users = [
            {
                "id": u.id,
                "email": u.email,
                "name": u.display_name,
                "status": u.status,
                "platform_admin": _flag(u.is_platform_admin),
                "mfa": _flag(u.mfa_enabled),
                "locked": _flag(u.locked),
                "tenants": ", ".join(u.tenants),
                "last_login": _when(u.last_login_at),
            }
            for u in tenancy.list_users(session, who)
        ]
    if view.may_members and who.tenant_id is not None:
        view.members = [
            {
                "user_id": m.user_id,
                "email": m.email,
                "name": m.display_name,
                "role": m.role,
                "status": m.status,
                "mfa": _flag(m.mfa_enabled),
                "last_login": _when(m.last_login_at),
            }
            for m in tenancy.list_members(session, who, who.tenant_id)
        ]
    return view


class AdminState(AuthState):
    tab: str = "members"
    may_members: bool = False
    may_edit_members: bool = False
    may_audit: bool = False
    tenant_rows: list[dict[str, str]] = []
    members: list[dict[str, str]] = []
    users: list[dict[str, str]] = []
    invited_email: str = ""
    temporary_password: str = ""  # shown once, cleared when dismissed or the page is left

    @rx.event
    async def load(self) -> None:
        self.invited_email = self.temporary_password = ""
        if not self.signed_in or self.must_change_password:
            return
        await self._reload()
        if self.tab not in TABS or (self.tab == "members" and not self.may_members):
            self.tab = "tenants" if self.is_platform_admin else "permissions"

    async def _reload(self) -> None:
        view = await self._as_user(_admin_view)
        self.may_members, self.may_edit_members, self.may_audit = (
            view.may_members,
            view.may_edit_members,
            view.may_audit,
        )
        self.tenant_rows, self.members, self.users = view.tenants, view.members, view.users

    @rx.event
    def set_tab(self, tab: str) -> None:
        if tab in TABS:
            self.tab = tab

    # tenants (platform admins) ----------------------------------------------------------------

    @rx.event
    async def create_tenant(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        slug, name = str(form.get("slug", "")), str(form.get("name", ""))
        await self._as_user(lambda _rt, session, who: tenancy.create_tenant(session, who, slug, name))
        await self._reload()
        await self._refresh_identity()  # the header's tenant switcher lists it too
        yield [rx.set_value("tenant-slug", ""), rx.set_value("tenant-name", "")]
        yield await success_toast(self, "admin.tenant_created")

    @rx.event
    async def set_tenant_status(self, tenant_id: str, status: str) -> None:
        await self._as_user(lambda _rt, session, who: tenancy.set_tenant_status(session, who, tenant_id, status))
        await self._reload()
        await self._refresh_identity()

    # members of the current tenant ------------------------------------------------------------

    @rx.event
    async def invite(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        email, name = str(form.get("email", "")), str(form.get("display_name", ""))
        role, tenant_id = str(form.get("role", "")), self.tenant_id
        invitation = await self._as_user(
            lambda _rt, session, who: tenancy.invite_member(session, who, tenant_id, email, name, role)
        )
        self.invited_email, self.temporary_password = invitation.email, invitation.temporary_password or ""
        await self._reload()
        yield [rx.set_value("invite-email", ""), rx.set_value("invite-name", "")]
        yield await success_toast(self, "admin.member_added")

    @rx.event
    def dismiss_invitation(self) -> None:
        self.invited_email = self.temporary_password = ""

    @rx.event
    async def set_member_role(self, user_id: str, role: str):  # noqa: ANN201 (Reflex event generator)
        tenant_id = self.tenant_id
        await self._as_user(lambda _rt, session, who: tenancy.set_member_role(session, who, tenant_id, user_id, role))
        await self._reload()
        yield await success_toast(self, "admin.role_changed")

    @rx.event
    async def remove_member(self, user_id: str):  # noqa: ANN201 (Reflex event generator)
        tenant_id = self.tenant_id
        await self._as_user(lambda _rt, session, who: tenancy.remove_member(session, who, tenant_id, user_id))
        await self._reload()
        yield await success_toast(self, "admin.member_removed")

    # users (platform admins) ------------------------------------------------------------------

    @rx.event
    async def set_user_status(self, user_id: str, status: str) -> None:
        await self._as_user(lambda _rt, session, who: tenancy.set_user_status(session, who, user_id, status))
        await self._reload()

    @rx.event
    async def reset_mfa(self, user_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(lambda _rt, session, who: tenancy.reset_mfa(session, who, user_id))
        await self._reload()
        yield await success_toast(self, "admin.mfa_reset")
