"""What the identity pages read, each as one use case returning dataclasses: who is signed in (with
the tenants to switch to), the admin page's tenants, users and members, one's two-step sign-in state,
the API keys a page lists and a page of the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from backend.services.identity import api_keys, audit_log, mfa, tenancy
from backend.services.identity.access import Principal, may
from backend.services.identity.api_keys import KeyView
from backend.services.identity.audit_log import AuditFilter
from backend.services.identity.permissions import Action, Area
from backend.services.identity.tenancy import MemberView, TenantView, UserView


@dataclass(frozen=True)
class SignedIn:
    """What the header and the guards need to know about the signed-in person."""

    email: str
    role: str
    is_platform_admin: bool
    tenant_id: str
    tenants: list[TenantView]
    must_change_password: bool
    can_administer: bool


def signed_in(session: Session, principal: Principal) -> SignedIn:
    """The signed-in person, the tenants they may switch to and whether the admin page is theirs."""
    return SignedIn(
        email=principal.label,
        role=principal.role or "",
        is_platform_admin=principal.is_platform_admin,
        tenant_id=principal.tenant_id or "",
        tenants=tenancy.list_tenants(session, principal),
        must_change_password=principal.must_change_password,
        can_administer=not principal.must_change_password
        and (principal.is_platform_admin or may(session, principal, Area.MEMBERS, Action.UPDATE)),
    )


@dataclass(frozen=True)
class AdminOverview:
    may_members: bool
    may_edit_members: bool
    may_audit: bool
    tenants: list[TenantView]  # platform admins only; empty for others
    users: list[UserView]  # platform admins only
    members: list[MemberView]  # the current tenant's, for those who may see them


def admin_overview(session: Session, principal: Principal) -> AdminOverview:
    """The admin page: what the caller may do there and the tenants, users and members they may see."""
    in_tenant = principal.tenant_id is not None
    may_members = in_tenant and may(session, principal, Area.MEMBERS, Action.VIEW)
    return AdminOverview(
        may_members=may_members,
        may_edit_members=in_tenant and may(session, principal, Area.MEMBERS, Action.UPDATE),
        may_audit=may(session, principal, Area.AUDIT, Action.VIEW),
        tenants=tenancy.list_tenants(session, principal) if principal.is_platform_admin else [],
        users=tenancy.list_users(session, principal) if principal.is_platform_admin else [],
        members=tenancy.list_members(session, principal, principal.tenant_id)
        if may_members and principal.tenant_id is not None
        else [],
    )


@dataclass(frozen=True)
class MfaStatus:
    enabled: bool
    recovery_left: int


def mfa_status(session: Session, principal: Principal) -> MfaStatus:
    """Whether one's two-step sign-in is on and how many recovery codes are left."""
    return MfaStatus(mfa.is_enabled(session, principal), mfa.remaining_recovery_codes(session, principal))


def listed_keys(session: Session, principal: Principal, personal_only: bool) -> list[KeyView]:
    """The API keys a page lists: the tenant's (admins) or, with ``personal_only``, one's own personal keys."""
    views = api_keys.list_api_keys(session, principal)
    if personal_only:  # admins see the whole tenant's keys on the admin page, only their own on the account page
        views = [k for k in views if k.kind == "personal" and k.owner_email == principal.label]
    return views


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor_label: str
    tenant_id: str | None
    action: str
    target_type: str
    target_id: str
    outcome: str
    client_address: str


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int


def audit_page(
    session: Session, principal: Principal, wanted: AuditFilter, limit: int, offset: int
) -> AuditPage | None:
    """One page of the audit trail, newest first; None for those who may not see it (the admin page
    does not show the tab, so there is nothing to refuse and audit)."""
    if not may(session, principal, Area.AUDIT, Action.VIEW):
        return None
    events, total = audit_log.search(session, principal, wanted, limit, offset)
    rows = [
        AuditRow(
            id=e.id or 0,
            at=e.at,
            actor_label=e.actor_label,
            tenant_id=e.tenant_id,
            action=e.action,
            target_type=e.target_type,
            target_id=e.target_id,
            outcome=e.outcome,
            client_address=e.client_address,
        )
        for e in events
    ]
    return AuditPage(rows, total)
