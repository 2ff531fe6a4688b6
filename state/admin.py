"""The admin page: tenants and users (platform admins), the current tenant's members
(tenant owners and admins). Tenant API keys: state.api_keys; the audit trail: state.audit."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend.services.identity import permissions, tenancy, views
from state.auth import AuthState
from state.feedback import success_toast
from state.format import when

TABS = ("tenants", "members", "users", "keys", "permissions", "audit")
Role = permissions.Role  # for pages.admin (pages do not import the backend)
TENANT_ROLES = permissions.TENANT_ROLES


def _flag(value: bool) -> str:
    return "yes" if value else "no"


def tenant_row(t: tenancy.TenantView) -> dict[str, str]:
    return {
        "id": t.id,
        "slug": t.slug,
        "name": t.name,
        "status": t.status,
        "members": str(t.members),
        "created": when(t.created_at),
    }


def user_row(u: tenancy.UserView) -> dict[str, str]:
    return {
        "id": u.id,
        "email": u.email,
        "name": u.display_name,
        "status": u.status,
        "platform_admin": _flag(u.is_platform_admin),
        "mfa": _flag(u.mfa_enabled),
        "locked": _flag(u.locked),
        "tenants": ", ".join(u.tenants),
        "last_login": when(u.last_login_at),
    }


def member_row(m: tenancy.MemberView) -> dict[str, str]:
    return {
        "user_id": m.user_id,
        "email": m.email,
        "name": m.display_name,
        "role": m.role,
        "status": m.status,
        "mfa": _flag(m.mfa_enabled),
        "last_login": when(m.last_login_at),
    }


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
        view = await self._as_user(lambda _rt, session, principal: views.admin_overview(session, principal))
        self.may_members, self.may_edit_members, self.may_audit = (
            view.may_members,
            view.may_edit_members,
            view.may_audit,
        )
        self.tenant_rows = [tenant_row(t) for t in view.tenants]
        self.members = [member_row(m) for m in view.members]
        self.users = [user_row(u) for u in view.users]

    @rx.event
    def set_tab(self, tab: str) -> None:
        if tab in TABS:
            self.tab = tab

    # tenants (platform admins) ----------------------------------------------------------------

    @rx.event
    async def create_tenant(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        slug, name = str(form.get("slug", "")), str(form.get("name", ""))
        await self._as_user(lambda _rt, session, principal: tenancy.create_tenant(session, principal, slug, name))
        await self._reload()
        await self._refresh_identity()  # the header's tenant switcher lists it too
        yield [rx.set_value("tenant-slug", ""), rx.set_value("tenant-name", "")]
        yield await success_toast(self, "admin.tenant_created")

    @rx.event
    async def set_tenant_status(self, tenant_id: str, status: str) -> None:
        await self._as_user(
            lambda _rt, session, principal: tenancy.set_tenant_status(session, principal, tenant_id, status)
        )
        await self._reload()
        await self._refresh_identity()

    # members of the current tenant ------------------------------------------------------------

    @rx.event
    async def invite(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        email, name = str(form.get("email", "")), str(form.get("display_name", ""))
        role, tenant_id = str(form.get("role", "")), self.tenant_id
        invitation = await self._as_user(
            lambda _rt, session, principal: tenancy.invite_member(session, principal, tenant_id, email, name, role)
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
        await self._as_user(
            lambda _rt, session, principal: tenancy.set_member_role(session, principal, tenant_id, user_id, role)
        )
        await self._reload()
        yield await success_toast(self, "admin.role_changed")

    @rx.event
    async def remove_member(self, user_id: str):  # noqa: ANN201 (Reflex event generator)
        tenant_id = self.tenant_id
        await self._as_user(
            lambda _rt, session, principal: tenancy.remove_member(session, principal, tenant_id, user_id)
        )
        await self._reload()
        yield await success_toast(self, "admin.member_removed")

    # users (platform admins) ------------------------------------------------------------------

    @rx.event
    async def set_user_status(self, user_id: str, status: str) -> None:
        await self._as_user(
            lambda _rt, session, principal: tenancy.set_user_status(session, principal, user_id, status)
        )
        await self._reload()

    @rx.event
    async def reset_mfa(self, user_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(lambda _rt, session, principal: tenancy.reset_mfa(session, principal, user_id))
        await self._reload()
        yield await success_toast(self, "admin.mfa_reset")
