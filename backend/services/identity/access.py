"""Who is acting, and whether they may: the one gate every service function passes.

``authorize`` combines the principal's tenant, its role in the matrix and, for API keys,
the key's scopes. A refusal is written to the audit trail (committed at once, so the
caller's rollback cannot erase it) and raised as FORBIDDEN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import Session, select

from backend.errors import ErrorCode, MedAIError
from backend.models import Membership, Tenant, User
from backend.services.identity import audit
from backend.services.identity.permissions import SCOPES, Action, Area, Role, allowed

T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """Who is acting, in which tenant, with which role; every service function takes one.

    ``scopes`` is None for a person signed in through the browser; for an API key it holds
    the key's scopes, which cap what the role allows.
    """

    user_id: str
    label: str
    is_platform_admin: bool = False
    tenant_id: str | None = None
    role: str | None = None
    client_address: str = ""
    scopes: frozenset[str] | None = None
    api_key_id: str | None = None
    must_change_password: bool = False

    @property
    def via_api_key(self) -> bool:
        return self.scopes is not None


def in_tenant(session: Session, model: type[T], row_id: str, tenant_id: str | None, what: str, remedy: str) -> T:
    """The row ``row_id`` of ``model`` when it belongs to ``tenant_id``; NOT_FOUND otherwise, so
    another tenant's rows look exactly like missing ones."""
    row = session.get(model, row_id)
    if row is None or getattr(row, "tenant_id", None) != tenant_id:
        raise MedAIError(ErrorCode.NOT_FOUND, f"No such {what} in this tenant.", remedy)
    return row


def on_behalf_of(session: Session, user_id: str, label: str, tenant_id: str) -> Principal:
    """The principal work started by a person runs as later (a job's registration, a pipeline's
    steps): that person, with the rights they hold in the tenant now, not when they asked."""
    user = session.get(User, user_id)
    membership = session.exec(
        select(Membership).where(Membership.user_id == user_id, Membership.tenant_id == tenant_id)
    ).first()
    active = user is not None and user.status == "active"
    return Principal(
        user_id=user_id,
        label=label,
        is_platform_admin=active and bool(user and user.is_platform_admin),
        tenant_id=tenant_id,
        role=membership.role if membership and active else None,
    )


def _scopes_allow(scopes: frozenset[str], area: Area, action: Action) -> bool:
    return any((area, action) in SCOPES.get(scope, frozenset()) for scope in scopes)


def _reason(session: Session, principal: Principal, area: Area, action: Action, tenant_id: str | None) -> str | None:
    """Why the principal may not act, or None when it may."""
    if principal.must_change_password:
        return "password_change_required"
    if principal.scopes is not None and not _scopes_allow(principal.scopes, area, action):
        return "scope"
    if principal.is_platform_admin:
        return None
    if area is Area.PLATFORM:
        return "platform_admin_only"
    if principal.tenant_id is None or (tenant_id is not None and tenant_id != principal.tenant_id):
        return "other_tenant"
    tenant = session.get(Tenant, principal.tenant_id)
    if tenant is None or tenant.status != "active":
        return "tenant_suspended"
    if not allowed(principal.role, area, action):
        return "role"
    return None


_ID_LENGTH = 32  # ids are 32 hex characters; the audit trail's tenant column holds no more

_MESSAGES = {
    "password_change_required": (
        "You must change your password before doing anything else.",
        "Open your account page and set a new password.",
    ),
    "scope": ("This API key's scopes do not cover this action.", "Create a key with the needed scope."),
    "platform_admin_only": ("Only a platform admin may do this.", "Ask a platform admin."),
    "other_tenant": (
        "This belongs to a tenant you are not acting in.",
        "Switch to that tenant in the header, or ask its admin for membership.",
    ),
    "tenant_suspended": ("This tenant is suspended.", "Ask a platform admin to reactivate it."),
    "role": ("Your role does not allow this action.", "Ask a tenant admin for a role that allows it."),
    "cross_tenant_invite": (
        "This person already belongs to another tenant.",
        "Ask a platform admin to add them to this tenant as well.",
    ),
    "interactive_only": ("API keys cannot do this.", "Sign in to the web app to manage keys and sign-in settings."),
}


def deny(session: Session, principal: Principal, action: str, reason: str, tenant_id: str | None) -> MedAIError:
    """Record a refusal (committed now) and return the FORBIDDEN error to raise."""
    detail = {"reason": reason, **({"api_key": principal.api_key_id} if principal.api_key_id else {})}
    recorded = tenant_id or principal.tenant_id
    if recorded is not None and len(recorded) > _ID_LENGTH:  # a made-up id from a request: no tenant has it
        detail["requested_tenant"] = recorded[:128]
        recorded = principal.tenant_id
    audit.record(
        session,
        action=action,
        outcome="denied",
        actor_id=principal.user_id,
        actor_label=principal.label,
        tenant_id=recorded,
        client_address=principal.client_address,
        detail=detail,
    )
    session.commit()
    message, remedy = _MESSAGES.get(reason, ("This action is not allowed.", None))
    return MedAIError(ErrorCode.FORBIDDEN, message, remedy)


def authorize(
    session: Session, principal: Principal, area: Area, action: Action, tenant_id: str | None = None
) -> str | None:
    """Allow or refuse ``action`` in ``area`` of ``tenant_id`` (default: the principal's tenant).

    Returns the tenant the action runs in. Raises FORBIDDEN, audited, when refused.
    """
    target = tenant_id if tenant_id is not None else principal.tenant_id
    reason = _reason(session, principal, area, action, target)
    if reason is not None:
        raise deny(session, principal, f"{area.value}.{action.value}", reason, target)
    return target


def require_member(session: Session, principal: Principal, action: str) -> str:
    """Acting inside a tenant with any role: for one's own things, such as personal API keys."""
    reason = "password_change_required" if principal.must_change_password else None
    tenant = session.get(Tenant, principal.tenant_id) if principal.tenant_id else None
    if reason is None and tenant is None:
        reason = "other_tenant"
    elif reason is None and tenant is not None and tenant.status != "active":
        reason = "tenant_suspended"
    elif reason is None and principal.role is None and not principal.is_platform_admin:
        reason = "role"
    if reason is not None or tenant is None:
        raise deny(session, principal, action, reason or "other_tenant", principal.tenant_id)
    return tenant.id


def require_interactive(session: Session, principal: Principal, action: str) -> None:
    """Some things only a person signed in through the browser may do (managing keys, MFA)."""
    if principal.via_api_key:
        raise deny(session, principal, action, "interactive_only", principal.tenant_id)


def may(session: Session, principal: Principal, area: Area, action: Action, tenant_id: str | None = None) -> bool:
    """The same decision as ``authorize`` without raising or auditing: for showing or hiding UI."""
    target = tenant_id if tenant_id is not None else principal.tenant_id
    return _reason(session, principal, area, action, target) is None


def granting_needs_approval(role: str) -> bool:
    """Making someone an owner or admin is an approval, which tenant admins do not hold."""
    return role in (Role.TENANT_OWNER, Role.TENANT_ADMIN)
