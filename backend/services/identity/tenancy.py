"""Tenants, their members and roles, and the users behind them (source §6.5.1).

Platform admins create and suspend tenants and manage every user. Tenant owners and
admins manage their own tenant's members; making someone an owner or admin is an
approval only owners hold. Every write is authorized and audited here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from backend.errors import ErrorCode, MedAIError
from backend.models import Membership, Tenant, User, UserSession
from backend.models.base import utcnow
from backend.services.identity import audit, key_cache
from backend.services.identity.access import Principal, authorize, deny, granting_needs_approval
from backend.services.identity.mfa import clear_mfa
from backend.services.identity.permissions import TENANT_ROLES, Action, Area
from backend.services.identity.platform_assets import PLATFORM_STATUS
from backend.services.identity.users import hash_password

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class TenantView:
    id: str
    slug: str
    name: str
    status: str
    members: int
    created_at: datetime


@dataclass(frozen=True)
class MemberView:
    user_id: str
    email: str
    display_name: str
    role: str
    status: str
    mfa_enabled: bool
    last_login_at: datetime | None


@dataclass(frozen=True)
class UserView:
    id: str
    email: str
    display_name: str
    status: str
    is_platform_admin: bool
    mfa_enabled: bool
    locked: bool
    tenants: tuple[str, ...]
    last_login_at: datetime | None


@dataclass(frozen=True)
class Invitation:
    user_id: str
    email: str
    temporary_password: str | None  # shown once; None when the user already had an account


def _record(
    session: Session, principal: Principal, action: str, target_type: str, target_id: str, **kw: object
) -> None:
    tenant_id = kw.pop("tenant_id", None)
    audit.record(
        session,
        action=action,
        outcome="ok",
        actor_id=principal.user_id,
        actor_label=principal.label,
        tenant_id=tenant_id if isinstance(tenant_id, str) else principal.tenant_id,
        target_type=target_type,
        target_id=target_id,
        client_address=principal.client_address,
        detail=dict(kw),
    )


def _tenant(session: Session, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or tenant.status == PLATFORM_STATUS:  # the platform's own has no members or status
        raise MedAIError(ErrorCode.NOT_FOUND, "No such tenant.", "Pick a tenant from the list.")
    return tenant


# tenants ---------------------------------------------------------------------------------


def create_tenant(session: Session, principal: Principal, slug: str, name: str) -> Tenant:
    authorize(session, principal, Area.PLATFORM, Action.CREATE)
    slug, name = slug.strip().lower(), name.strip()
    if not SLUG.match(slug):
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"'{slug}' is not a valid short name.",
            "Use 3-64 lowercase letters, digits and hyphens, e.g. ruijin-cardiology.",
        )
    if not name or len(name) > 128:
        raise MedAIError(ErrorCode.DATA_INVALID, "The tenant needs a name of 1-128 characters.", "Type a name.")
    if session.exec(select(Tenant.id).where(Tenant.slug == slug)).first() is not None:
        raise MedAIError(ErrorCode.CONFLICT, f"A tenant '{slug}' already exists.", "Choose another short name.")
    tenant = Tenant(slug=slug, name=name)
    session.add(tenant)
    _record(session, principal, "tenant.create", "tenant", tenant.id, tenant_id=tenant.id, slug=slug)
    return tenant


def set_tenant_status(session: Session, principal: Principal, tenant_id: str, status: str) -> Tenant:
    """Suspend (members can no longer act in it) or reactivate a tenant."""
    authorize(session, principal, Area.PLATFORM, Action.UPDATE)
    if status not in ("active", "suspended"):
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown tenant status '{status}'.", "Use active or suspended.")
    tenant = _tenant(session, tenant_id)
    tenant.status = status
    session.add(tenant)
    key_cache.mark_changed(session)  # cached API keys of this tenant or person are stale now
    _record(
        session,
        principal,
        f"tenant.{'suspend' if status == 'suspended' else 'activate'}",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
    )
    return tenant


def list_tenants(session: Session, principal: Principal) -> list[TenantView]:
    """Every tenant for a platform admin; otherwise the tenants the user belongs to. The platform's
    own (which holds the starter model) is not among them."""
    query = select(Tenant).where(Tenant.status != PLATFORM_STATUS).order_by(Tenant.name)
    if principal.via_api_key:  # a key sees only the tenant it belongs to
        query = query.where(Tenant.id == principal.tenant_id)
    elif not principal.is_platform_admin:
        query = query.join(Membership, Membership.tenant_id == Tenant.id).where(Membership.user_id == principal.user_id)
    tenants = session.exec(query).all()
    counts = dict(
        session.exec(
            select(Membership.tenant_id, func.count())
            .where(Membership.tenant_id.in_([t.id for t in tenants]))
            .group_by(Membership.tenant_id)
        ).all()
    )
    return [TenantView(t.id, t.slug, t.name, t.status, counts.get(t.id, 0), t.created_at) for t in tenants]


# members ---------------------------------------------------------------------------------


def _check_role(session: Session, principal: Principal, tenant_id: str, role: str) -> None:
    if role not in TENANT_ROLES:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"Unknown role '{role}'.",
            "Use one of: " + ", ".join(r.value for r in TENANT_ROLES) + ".",
        )
    if granting_needs_approval(role):
        authorize(session, principal, Area.MEMBERS, Action.APPROVE, tenant_id)


def _membership(session: Session, tenant_id: str, user_id: str) -> Membership:
    member = session.exec(
        select(Membership).where(Membership.tenant_id == tenant_id, Membership.user_id == user_id)
    ).first()
    if member is None:
        raise MedAIError(ErrorCode.NOT_FOUND, "This person is not a member of the tenant.", "Reload the member list.")
    return member


def _owners(session: Session, tenant_id: str) -> int:
    return len(
        session.exec(
            select(Membership.id).where(Membership.tenant_id == tenant_id, Membership.role == "tenant_owner")
        ).all()
    )


def list_members(session: Session, principal: Principal, tenant_id: str) -> list[MemberView]:
    authorize(session, principal, Area.MEMBERS, Action.VIEW, tenant_id)
    rows = session.exec(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id)
        .order_by(User.email)
    ).all()
    return [
        MemberView(u.id, u.email, u.display_name, m.role, u.status, u.mfa_enabled, u.last_login_at) for m, u in rows
    ]


def invite_member(
    session: Session, principal: Principal, tenant_id: str, email: str, display_name: str, role: str
) -> Invitation:
    """Add a person to the tenant. A new account gets a temporary password, shown once and
    to be changed at first sign-in; an existing account just gains the membership."""
    authorize(session, principal, Area.MEMBERS, Action.CREATE, tenant_id)
    _check_role(session, principal, tenant_id, role)
    tenant = _tenant(session, tenant_id)
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise MedAIError(ErrorCode.DATA_INVALID, f"'{email}' is not an e-mail address.", "Type a full address.")
    user = session.exec(select(User).where(User.email == email)).first()
    temporary = None
    if user is None:
        temporary = secrets.token_urlsafe(12)
        user = User(
            email=email,
            display_name=display_name.strip() or email.split("@")[0],
            password_hash=hash_password(temporary),
            must_change_password=True,
        )
        session.add(user)
        session.flush()  # the membership's foreign key needs the row
        _record(session, principal, "user.create", "user", user.id, tenant_id=tenant.id, email=email)
    else:
        elsewhere = set(session.exec(select(Membership.tenant_id).where(Membership.user_id == user.id)).all())
        if tenant_id in elsewhere:
            raise MedAIError(ErrorCode.CONFLICT, f"{email} is already a member of {tenant.name}.", "Change their role.")
        if elsewhere and not principal.is_platform_admin:
            # staff of another hospital join only through a platform admin, never by a tenant's own say
            raise deny(session, principal, "member.add", "cross_tenant_invite", tenant_id)
    session.add(Membership(user_id=user.id, tenant_id=tenant_id, role=role))
    _record(session, principal, "member.add", "user", user.id, tenant_id=tenant_id, role=role)
    return Invitation(user.id, email, temporary)


def set_member_role(session: Session, principal: Principal, tenant_id: str, user_id: str, role: str) -> None:
    authorize(session, principal, Area.MEMBERS, Action.UPDATE, tenant_id)
    _check_role(session, principal, tenant_id, role)
    member = _membership(session, tenant_id, user_id)
    if granting_needs_approval(member.role):  # taking owner/admin away is an approval too
        authorize(session, principal, Area.MEMBERS, Action.APPROVE, tenant_id)
    if member.role == "tenant_owner" and role != "tenant_owner" and _owners(session, tenant_id) == 1:
        raise MedAIError(ErrorCode.CONFLICT, "A tenant needs at least one owner.", "Make someone else owner first.")
    before, member.role = member.role, role
    session.add(member)
    key_cache.mark_changed(session)  # cached API keys of this tenant or person are stale now
    _record(session, principal, "member.role", "user", user_id, tenant_id=tenant_id, before=before, after=role)


def remove_member(session: Session, principal: Principal, tenant_id: str, user_id: str) -> None:
    authorize(session, principal, Area.MEMBERS, Action.DELETE, tenant_id)
    member = _membership(session, tenant_id, user_id)
    if granting_needs_approval(member.role):
        authorize(session, principal, Area.MEMBERS, Action.APPROVE, tenant_id)
    if member.role == "tenant_owner" and _owners(session, tenant_id) == 1:
        raise MedAIError(ErrorCode.CONFLICT, "A tenant needs at least one owner.", "Make someone else owner first.")
    session.delete(member)
    key_cache.mark_changed(session)  # cached API keys of this tenant or person are stale now
    for row in session.exec(
        select(UserSession).where(UserSession.user_id == user_id, UserSession.tenant_id == tenant_id)
    ):
        row.tenant_id = None  # the member's open sessions stop acting in this tenant at once
        session.add(row)
    _record(session, principal, "member.remove", "user", user_id, tenant_id=tenant_id)


# users -----------------------------------------------------------------------------------


def list_users(session: Session, principal: Principal) -> list[UserView]:
    """Every account on the platform (platform admins only)."""
    authorize(session, principal, Area.PLATFORM, Action.VIEW)
    users = session.exec(select(User).order_by(User.email)).all()
    names: dict[str, list[str]] = {}
    for user_id, slug in session.exec(select(Membership.user_id, Tenant.slug).join(Tenant)).all():
        names.setdefault(user_id, []).append(slug)
    now = utcnow()
    return [
        UserView(
            u.id,
            u.email,
            u.display_name,
            u.status,
            u.is_platform_admin,
            u.mfa_enabled,
            u.locked_until is not None and u.locked_until > now,
            tuple(sorted(names.get(u.id, []))),
            u.last_login_at,
        )
        for u in users
    ]


def _manageable_user(session: Session, principal: Principal, user_id: str, action: str) -> User:
    """A platform admin manages anyone; a tenant admin only people who belong to no other tenant
    than the one they administer, so one tenant can never lock out another's staff; and owners or
    admins only with the approval right (owners), as for changing their role."""
    user = session.get(User, user_id)
    if user is None:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such user.", "Reload the user list.")
    if principal.is_platform_admin:
        authorize(session, principal, Area.PLATFORM, Action.UPDATE)
        return user
    if user.is_platform_admin or user.id == principal.user_id:
        raise deny(session, principal, action, "role", principal.tenant_id)
    memberships = dict(
        session.exec(select(Membership.tenant_id, Membership.role).where(Membership.user_id == user.id)).all()
    )
    if set(memberships) != {principal.tenant_id}:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such user in this tenant.", "Reload the member list.")
    authorize(session, principal, Area.MEMBERS, Action.UPDATE)
    if granting_needs_approval(memberships[principal.tenant_id]):  # owners and admins: as for their role
        authorize(session, principal, Area.MEMBERS, Action.APPROVE)
    return user


def set_user_status(session: Session, principal: Principal, user_id: str, status: str) -> None:
    """Disable (every session ends at once) or enable an account; enabling also unlocks it."""
    if status not in ("active", "disabled"):
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown user status '{status}'.", "Use active or disabled.")
    user = _manageable_user(session, principal, user_id, f"user.{status}")
    if user.id == principal.user_id:
        raise MedAIError(ErrorCode.CONFLICT, "You cannot disable your own account.", "Ask another admin.")
    user.status = status
    user.failed_logins, user.locked_until = 0, None
    session.add(user)
    key_cache.mark_changed(session)  # cached API keys of this tenant or person are stale now
    if status == "disabled":
        for row in session.exec(select(UserSession).where(UserSession.user_id == user.id)):
            row.revoked_at = row.revoked_at or utcnow()
            session.add(row)
    _record(session, principal, "user.disable" if status == "disabled" else "user.enable", "user", user.id)


def reset_mfa(session: Session, principal: Principal, user_id: str) -> None:
    """For a lost phone: the user signs in with the password alone and can enroll again."""
    user = _manageable_user(session, principal, user_id, "user.reset_mfa")
    clear_mfa(session, user)
    _record(session, principal, "user.reset_mfa", "user", user.id)
