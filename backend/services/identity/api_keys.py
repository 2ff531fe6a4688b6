"""API keys (source §3.4): tenant/app keys and personal keys.

A key reads ``medai_<prefix>_<secret>``. The prefix is stored in clear for lookup and for
people to recognise their keys; the whole key is stored only as a SHA-256 hash (it is a
random 256-bit value, so a fast hash is enough) and is shown once, at creation.

A personal key acts as its owner, with the owner's current role in the key's tenant,
capped by the key's scopes. A tenant key acts for the tenant with a developer's rights,
capped by its scopes; only tenant owners and admins make or see tenant keys.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from backend.errors import ErrorCode, MedAIError
from backend.models import ApiKey, Membership, Tenant, User
from backend.models.base import utcnow
from backend.services.identity import audit, key_cache
from backend.services.identity.access import Principal, authorize, may, require_interactive, require_member
from backend.services.identity.permissions import SCOPES, Action, Area, Role
from backend.services.identity.users import token_hash

TOKEN_PREFIX = "medai_"  # noqa: S105 (a marker, not a secret)
KINDS = ("personal", "tenant")
TENANT_KEY_ROLE = Role.DEVELOPER
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often per key


@dataclass(frozen=True)
class KeyView:
    id: str
    kind: str
    name: str
    prefix: str
    owner_email: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= utcnow():
            return "expired"
        return "active"


def _unauthenticated(message: str) -> MedAIError:
    return MedAIError(
        ErrorCode.UNAUTHENTICATED, message, "Send a valid, unrevoked API key as `Authorization: Bearer …`."
    )


def _validate(kind: str, name: str, scopes: list[str], expires_in_days: int | None) -> None:
    if kind not in KINDS:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown key kind '{kind}'.", "Use personal or tenant.")
    if not name.strip() or len(name) > 128:
        raise MedAIError(ErrorCode.DATA_INVALID, "A key needs a name of 1-128 characters.", "Name what uses it.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if not scopes or unknown:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"Unknown scopes: {', '.join(unknown)}." if unknown else "A key needs at least one scope.",
            "Choose from: " + ", ".join(SCOPES) + ".",
        )
    if expires_in_days is not None and not 1 <= expires_in_days <= 730:
        raise MedAIError(ErrorCode.DATA_INVALID, "Expiry must be 1-730 days.", "Pick a shorter lifetime.")


def create_api_key(
    session: Session,
    principal: Principal,
    *,
    kind: str,
    name: str,
    scopes: list[str],
    expires_in_days: int | None = 90,
) -> tuple[KeyView, str]:
    """Make a key in the principal's tenant; returns it and the full token, which is never shown again."""
    require_interactive(session, principal, "api_key.create")
    _validate(kind, name, scopes, expires_in_days)
    if kind == "tenant":
        tenant_id = authorize(session, principal, Area.MEMBERS, Action.CREATE)
        if tenant_id is None:
            raise MedAIError(ErrorCode.DATA_INVALID, "Keys belong to a tenant.", "Switch to a tenant in the header.")
    else:
        tenant_id = require_member(session, principal, "api_key.create")
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        kind=kind,
        name=name.strip(),
        tenant_id=tenant_id,
        owner_id=principal.user_id,
        prefix=prefix,
        secret_hash=token_hash(token),
        scopes=sorted(set(scopes)),
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(key)
    audit.record(
        session,
        action="api_key.create",
        outcome="ok",
        actor_id=principal.user_id,
        actor_label=principal.label,
        tenant_id=tenant_id,
        target_type="api_key",
        target_id=key.id,
        client_address=principal.client_address,
        detail={"kind": kind, "prefix": prefix, "scopes": key.scopes},
    )
    return _view(key, principal.label), token


def _view(key: ApiKey, owner_email: str) -> KeyView:
    return KeyView(
        key.id,
        key.kind,
        key.name,
        key.prefix,
        owner_email,
        tuple(key.scopes),
        key.created_at,
        key.expires_at,
        key.last_used_at,
        key.revoked_at,
    )


def _admin_of_tenant(session: Session, principal: Principal) -> bool:
    return not principal.via_api_key and may(session, principal, Area.MEMBERS, Action.UPDATE)


def list_api_keys(session: Session, principal: Principal) -> list[KeyView]:
    """One's own personal keys; tenant owners and admins also see the tenant's other keys (never secrets)."""
    if principal.via_api_key:
        authorize(session, principal, Area.MEMBERS, Action.VIEW)
    if principal.tenant_id is None:
        return []
    query = (
        select(ApiKey, User.email)
        .join(User, User.id == ApiKey.owner_id)
        .where(ApiKey.tenant_id == principal.tenant_id)
        .order_by(ApiKey.created_at.desc())
    )
    if not _admin_of_tenant(session, principal):
        query = query.where(ApiKey.kind == "personal", ApiKey.owner_id == principal.user_id)
    return [_view(key, email) for key, email in session.exec(query).all()]


def revoke_api_key(session: Session, principal: Principal, key_id: str) -> None:
    """Stop a key at once. Owners revoke their personal keys; tenant admins any key of the tenant."""
    require_interactive(session, principal, "api_key.revoke")
    key = session.get(ApiKey, key_id)
    own = key is not None and key.kind == "personal" and key.owner_id == principal.user_id
    visible = key is not None and key.tenant_id == principal.tenant_id and (own or _admin_of_tenant(session, principal))
    if key is None or not visible:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such key among yours.", "Reload the key list.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        key_cache.mark_changed(session)
    audit.record(
        session,
        action="api_key.revoke",
        outcome="ok",
        actor_id=principal.user_id,
        actor_label=principal.label,
        tenant_id=key.tenant_id,
        target_type="api_key",
        target_id=key.id,
        client_address=principal.client_address,
        detail={"prefix": key.prefix},
    )


def _parse(token: str) -> str | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    prefix, _, secret = token[len(TOKEN_PREFIX) :].partition("_")
    return prefix if len(prefix) == 12 and secret else None


def is_api_key(token: str) -> bool:
    return _parse(token) is not None


def authenticate_api_key(session: Session, token: str, client_address: str = "") -> Principal:
    """The principal a Bearer key acts as, or UNAUTHENTICATED (audited) when it is not valid."""
    return resolve_api_key(session, token, client_address)[0]


def resolve_api_key(session: Session, token: str, client_address: str = "") -> tuple[Principal, datetime | None]:
    """``authenticate_api_key``, with the key's expiry (how long the answer may be cached)."""
    prefix = _parse(token)
    key = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first() if prefix else None
    now = utcnow()
    problem = None
    if key is None or not hmac.compare_digest(key.secret_hash, token_hash(token)):
        problem = "unknown"
    elif key.revoked_at is not None:
        problem = "revoked"
    elif key.expires_at is not None and key.expires_at <= now:
        problem = "expired"
    owner = session.get(User, key.owner_id) if key is not None and problem is None else None
    tenant = session.get(Tenant, key.tenant_id) if owner is not None else None
    role = _key_role(session, key, owner) if key is not None and owner is not None else None
    if problem is None and (owner is None or owner.status != "active" or role is None):
        problem = "owner_inactive"
    if problem is None and (tenant is None or tenant.status != "active"):
        problem = "tenant_suspended"
    if problem is not None:
        audit.record(
            session,
            action="auth.api_key",
            outcome="failed",
            actor_id=key.owner_id if key else None,
            tenant_id=key.tenant_id if key else None,
            target_type="api_key",
            target_id=key.id if key else "",
            client_address=client_address,
            detail={"reason": problem, "prefix": prefix or ""},
        )
        session.commit()
        raise _unauthenticated(f"The API key is {problem.replace('_', ' ')}.")
    assert key is not None and owner is not None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
        session.add(key)
    principal = Principal(
        user_id=owner.id,
        label=f"{owner.email} (key {key.prefix})",
        is_platform_admin=False,  # a key never carries platform-wide rights
        tenant_id=key.tenant_id,
        role=role,
        client_address=client_address,
        scopes=frozenset(key.scopes),
        api_key_id=key.id,
    )
    return principal, key.expires_at


def _key_role(session: Session, key: ApiKey, owner: User) -> str | None:
    """Personal keys: the owner's current role in the tenant (none once they leave it)."""
    if key.kind == "tenant":
        return TENANT_KEY_ROLE.value
    membership = session.exec(
        select(Membership).where(Membership.user_id == owner.id, Membership.tenant_id == key.tenant_id)
    ).first()
    return membership.role if membership else None
