"""Users and sign-in: password hashing, the first platform admin, lockout and sessions.

Only hashes are stored: argon2id for passwords, SHA-256 for session tokens (random
256-bit values, so a fast hash is enough and makes lookup by hash possible).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from backend.adapters.cache import Cache
from backend.errors import ErrorCode, MedAIError
from backend.models import Membership, Tenant, User, UserSession
from backend.models.base import utcnow
from backend.services.identity import audit, ratelimit
from backend.services.identity.access import Principal, require_interactive
from backend.services.identity.ratelimit import Limit

PASSWORD_MIN_LENGTH = 10
LOCKOUT_AFTER_FAILURES = 5
LOCKOUT_FOR = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)


def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"The password has {len(password)} characters; at least {PASSWORD_MIN_LENGTH} are required.",
            "Choose a longer password; a passphrase of several words works well.",
        )
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bootstrap_platform_admin(session: Session, email: str, password: str | None) -> str | None:
    """On an empty user table, create the platform admin. Returns the one-time password when
    one was generated (to be shown once on the console), otherwise None. Never a fixed default."""
    if session.exec(select(User.id).limit(1)).first() is not None:
        return None
    generated = password is None
    secret = password if password is not None else secrets.token_urlsafe(15)
    admin = User(
        email=email.strip().lower(),
        display_name="Platform admin",
        password_hash=hash_password(secret),
        is_platform_admin=True,
        must_change_password=generated,
    )
    session.add(admin)
    audit.record(
        session,
        action="user.bootstrap",
        outcome="ok",
        actor_label="system",
        target_type="user",
        target_id=admin.id,
        detail={"email": email, "password_source": "generated" if generated else "MEDAI_ADMIN_PASSWORD"},
    )
    return secret if generated else None


def _refuse_sign_in(message: str, remedy: str) -> MedAIError:
    return MedAIError(ErrorCode.UNAUTHENTICATED, message, remedy)


def _refuse_and_keep_record(session: Session, error: MedAIError) -> MedAIError:
    """Commit the failure count and audit row first: raising would otherwise roll them back."""
    session.commit()
    return error


def _audit_login(
    session: Session, email: str, user: User | None, outcome: str, client_address: str, **detail: object
) -> None:
    audit.record(
        session,
        action="auth.login",
        outcome=outcome,
        actor_id=user.id if user else None,
        actor_label=email,
        client_address=client_address,
        detail=detail,
    )


def authenticate(session: Session, email: str, password: str, client_address: str = "") -> User:
    """Check a password. Repeated failures lock the account for LOCKOUT_FOR; every attempt is audited."""
    now = utcnow()
    email = email.strip().lower()
    user = session.exec(select(User).where(User.email == email)).first()
    wrong = _refuse_sign_in("The e-mail or password is wrong.", "Check both and try again.")
    if user is None:
        _hasher().hash(password)  # spend the same time as for a real user, so e-mails cannot be probed
        _audit_login(session, email, None, "failed", client_address)
        raise _refuse_and_keep_record(session, wrong)
    if user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        _audit_login(session, email, user, "denied", client_address, reason="locked")
        locked = _refuse_sign_in(
            "This account is locked after repeated failed sign-ins.",
            f"Try again in {minutes} minutes, or ask an administrator to unlock it.",
        )
        raise _refuse_and_keep_record(session, locked)
    if user.status != "active" or not verify_password(user.password_hash, password):
        if user.status == "active":
            user.failed_logins += 1
            if user.failed_logins >= LOCKOUT_AFTER_FAILURES:
                user.locked_until, user.failed_logins = now + LOCKOUT_FOR, 0
        session.add(user)
        locked = user.locked_until is not None and user.locked_until > now
        _audit_login(session, email, user, "failed", client_address, locked=locked)
        raise _refuse_and_keep_record(session, wrong)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    session.add(user)
    _audit_login(session, email, user, "ok", client_address)
    return user


@dataclass(frozen=True)
class SignIn:
    token: str
    display_name: str
    mfa_required: bool  # the session opens only after complete_sign_in with a code
    must_change_password: bool


def sign_in(
    session: Session,
    cache: Cache,
    limit: Limit,
    email: str,
    password: str,
    client_address: str = "",
    ttl: timedelta = SESSION_TTL,
) -> SignIn:
    """The first step of signing in: rate limits per client address and per e-mail, then the
    password. Returns a session token that still needs a code when the user has MFA on."""
    ratelimit.hit(cache, limit, f"address:{client_address or 'unknown'}")
    ratelimit.hit(cache, limit, f"email:{email.strip().lower()}")
    user = authenticate(session, email, password, client_address)
    token = open_session(session, user, client_address, ttl)
    return SignIn(token, user.display_name, user.mfa_enabled, user.must_change_password)


def open_session(session: Session, user: User, client_address: str = "", ttl: timedelta = SESSION_TTL) -> str:
    """Start a browser session in the user's first tenant; returns the token (stored only as a hash)."""
    membership = session.exec(
        select(Membership)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user.id, Tenant.status == "active")
        .order_by(Membership.created_at)
    ).first()
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user.id,
            tenant_id=membership.tenant_id if membership else None,
            mfa_pending=user.mfa_enabled,
            client_address=client_address,
            expires_at=utcnow() + ttl,
        )
    )
    return token


def resolve_session(session: Session, token: str, now: datetime | None = None) -> Principal:
    """The principal behind a session token, or UNAUTHENTICATED when it is unknown, expired or revoked."""
    row = _live_session_row(session, token, now)
    if row.mfa_pending:
        raise _refuse_sign_in("This sign-in still needs its one-time code.", "Enter the code from your authenticator.")
    user = session.get(User, row.user_id)
    if user is None or user.status != "active":
        raise _refuse_sign_in("This account is disabled.", "Ask an administrator to enable it.")
    role = None
    if row.tenant_id is not None:
        membership = session.exec(
            select(Membership).where(Membership.user_id == user.id, Membership.tenant_id == row.tenant_id)
        ).first()
        role = membership.role if membership else None
    return Principal(
        user_id=user.id,
        label=user.email,
        is_platform_admin=user.is_platform_admin,
        tenant_id=row.tenant_id if role or user.is_platform_admin else None,
        role=role,
        client_address=row.client_address,
        must_change_password=user.must_change_password,
    )


def _live_session_row(session: Session, token: str, now: datetime | None = None) -> UserSession:
    row = session.exec(select(UserSession).where(UserSession.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= (now or utcnow()):
        raise _refuse_sign_in("Your session has ended.", "Sign in again.")
    return row


def pending_mfa_user(session: Session, token: str) -> tuple[UserSession, User]:
    """The half-open session that still needs its second factor, and its user."""
    row = _live_session_row(session, token)
    user = session.get(User, row.user_id)
    if not row.mfa_pending or user is None or user.status != "active":
        raise _refuse_sign_in("There is no sign-in waiting for a code.", "Sign in with your password first.")
    return row, user


def waiting_for_code(session: Session, token: str) -> bool:
    """Whether ``token`` is a sign-in still waiting for its second factor (false after too many wrong codes)."""
    try:
        pending_mfa_user(session, token)
    except MedAIError:
        return False
    return True


def switch_tenant(session: Session, principal: Principal, token: str, tenant_id: str) -> Principal:
    """Act in another tenant the user belongs to (platform admins: any active tenant)."""
    require_interactive(session, principal, "auth.switch_tenant")
    row = _live_session_row(session, token)
    tenant = session.get(Tenant, tenant_id)
    member = session.exec(
        select(Membership).where(Membership.user_id == principal.user_id, Membership.tenant_id == tenant_id)
    ).first()
    if row.user_id != principal.user_id or tenant is None or (member is None and not principal.is_platform_admin):
        raise MedAIError(ErrorCode.NOT_FOUND, "No such tenant among yours.", "Pick a tenant from the list.")
    if tenant.status != "active" and not principal.is_platform_admin:
        raise MedAIError(ErrorCode.FORBIDDEN, f"Tenant {tenant.name} is suspended.", "Ask a platform admin.")
    row.tenant_id = tenant_id
    session.add(row)
    audit.record(
        session,
        action="auth.switch_tenant",
        outcome="ok",
        actor_id=principal.user_id,
        actor_label=principal.label,
        tenant_id=tenant_id,
        client_address=principal.client_address,
    )
    session.flush()
    return resolve_session(session, token)


def change_password(session: Session, principal: Principal, token: str, current: str, new: str) -> None:
    """Set a new password after checking the current one; every other session of the user ends."""
    require_interactive(session, principal, "user.change_password")
    user = session.get(User, principal.user_id)
    if user is None or not verify_password(user.password_hash, current):
        audit.record(
            session,
            action="user.change_password",
            outcome="failed",
            actor_id=principal.user_id,
            actor_label=principal.label,
            client_address=principal.client_address,
        )
        session.commit()
        raise MedAIError(ErrorCode.DATA_INVALID, "The current password is wrong.", "Type your current password.")
    if current == new:
        raise MedAIError(ErrorCode.DATA_INVALID, "The new password is the same as the old one.", "Choose another.")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    session.add(user)
    keep = token_hash(token)
    for other in session.exec(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    ):
        if other.token_hash != keep:
            other.revoked_at = utcnow()
            session.add(other)
    audit.record(
        session,
        action="user.change_password",
        outcome="ok",
        actor_id=user.id,
        actor_label=user.email,
        target_type="user",
        target_id=user.id,
        client_address=principal.client_address,
    )


def revoke_session(session: Session, token: str) -> None:
    """Sign out: the token stops working at once."""
    row = session.exec(select(UserSession).where(UserSession.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    session.add(row)
    audit.record(
        session, action="auth.logout", outcome="ok", actor_id=row.user_id, target_type="session", target_id=row.id
    )
