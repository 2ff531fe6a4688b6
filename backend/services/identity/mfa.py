"""Second factor: TOTP (RFC 6238, any authenticator app) with QR enrollment and one-time
recovery codes. The TOTP secret is envelope-encrypted; recovery codes are stored hashed.

A code is accepted once: the time step it belongs to is remembered in the cache until it
can no longer be valid, so a code seen over a shoulder cannot be replayed.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

import pyotp
import segno
from sqlmodel import Session, select

from backend.adapters.cache import Cache
from backend.adapters.envelope import KeyRing
from backend.errors import ErrorCode, MedAIError
from backend.models import RecoveryCode, User, UserSession
from backend.models.base import utcnow
from backend.services.identity import audit
from backend.services.identity.access import Principal, require_interactive
from backend.services.identity.users import SESSION_TTL, pending_mfa_user, token_hash

ISSUER = "MedAI Studio"
RECOVERY_CODES = 10
_WINDOW = 1  # accept the previous and next 30-second step too (clock drift)
MAX_CODE_FAILURES = 5  # wrong codes before a half-open sign-in ends and the password is asked again


@dataclass(frozen=True)
class Enrollment:
    secret: str  # shown once so it can be typed in by hand
    uri: str
    qr_svg: str  # data: URI of an SVG QR code


def _context(user_id: str) -> str:
    return f"mfa:{user_id}"


def _normalize(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _audit(session: Session, user: User, action: str, outcome: str, client_address: str = "", **detail: object) -> None:
    audit.record(
        session,
        action=action,
        outcome=outcome,
        actor_id=user.id,
        actor_label=user.email,
        target_type="user",
        target_id=user.id,
        client_address=client_address,
        detail=detail,
    )


def _user(session: Session, principal: Principal) -> User:
    user = session.get(User, principal.user_id)
    if user is None:
        raise MedAIError(ErrorCode.NOT_FOUND, "This account no longer exists.", "Sign in again.")
    return user


def begin_enrollment(session: Session, ring: KeyRing, principal: Principal) -> Enrollment:
    """Make a new secret for the signed-in user; it takes effect only once a code confirms it."""
    require_interactive(session, principal, "mfa.enroll")
    user = _user(session, principal)
    if user.mfa_enabled:
        raise MedAIError(
            ErrorCode.CONFLICT,
            "Two-step sign-in is already on.",
            "Turn it off first (you will need a code), or ask an admin to reset it.",
        )
    secret = pyotp.random_base32()
    user.mfa_secret = ring.seal(secret, _context(user.id))
    session.add(user)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    _audit(session, user, "mfa.enroll_start", "ok", principal.client_address)
    return Enrollment(secret=secret, uri=uri, qr_svg=segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def _totp_matches(cache: Cache, ring: KeyRing, user: User, code: str) -> bool:
    if user.mfa_secret is None or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(ring.open(user.mfa_secret, _context(user.id)))
    now = utcnow()
    for offset in range(-_WINDOW, _WINDOW + 1):
        step = totp.timecode(now) + offset
        if hmac.compare_digest(totp.generate_otp(step), code):
            # first use of this step wins; a replay inside the validity window is refused
            return cache.incr(f"mfa-step:{user.id}:{step}", ttl_s=(2 * _WINDOW + 2) * totp.interval) == 1
    return False


def _new_recovery_codes(session: Session, user: User) -> list[str]:
    for old in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=token_hash(_normalize(c))) for c in codes)
    return codes


def confirm_enrollment(session: Session, cache: Cache, ring: KeyRing, principal: Principal, code: str) -> list[str]:
    """Turn MFA on with a first code from the app; returns the recovery codes, shown once."""
    require_interactive(session, principal, "mfa.enroll")
    user = _user(session, principal)
    if user.mfa_enabled or user.mfa_secret is None:
        raise MedAIError(ErrorCode.CONFLICT, "There is no enrollment waiting for a code.", "Start enrollment again.")
    if not _totp_matches(cache, ring, user, _normalize(code)):
        _audit(session, user, "mfa.enroll", "failed", principal.client_address)
        session.commit()
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            "That code does not match.",
            "Type the 6-digit code your authenticator shows now; check the phone's clock if it keeps failing.",
        )
    user.mfa_enabled = True
    session.add(user)
    codes = _new_recovery_codes(session, user)
    _audit(session, user, "mfa.enroll", "ok", principal.client_address)
    return codes


def _use_recovery_code(session: Session, user: User, code: str) -> bool:
    wanted = token_hash(code)
    row = session.exec(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == wanted, RecoveryCode.used_at.is_(None)
        )
    ).first()
    if row is None:
        return False
    row.used_at = utcnow()
    session.add(row)
    return True


def complete_sign_in(session: Session, cache: Cache, ring: KeyRing, token: str, code: str) -> User:
    """Second step of signing in: a TOTP code or an unused recovery code opens the session."""
    row, user = pending_mfa_user(session, token)
    normalized = _normalize(code)
    if _totp_matches(cache, ring, user, normalized):
        method = "totp"
    elif _use_recovery_code(session, user, normalized):
        method = "recovery_code"
    else:
        # guessing a 6-digit code must cost a password sign-in (rate-limited) every few tries
        failures = cache.incr(f"mfa-fail:{row.id}", ttl_s=SESSION_TTL.total_seconds())
        ended = failures >= MAX_CODE_FAILURES
        if ended:
            row.revoked_at = utcnow()
            session.add(row)
        _audit(session, user, "auth.mfa", "failed", row.client_address, session_ended=ended)
        session.commit()
        if ended:
            raise MedAIError(
                ErrorCode.UNAUTHENTICATED,
                "That code is not valid, and too many were wrong: this sign-in has ended.",
                "Sign in with your password again.",
            )
        raise MedAIError(
            ErrorCode.UNAUTHENTICATED,
            "That code is not valid.",
            "Type the current 6-digit code, or one of your unused recovery codes.",
        )
    row.mfa_pending = False
    session.add(row)
    _audit(session, user, "auth.mfa", "ok", row.client_address, method=method)
    return user


def is_enabled(session: Session, principal: Principal) -> bool:
    """Whether the signed-in user has two-step sign-in on (for the account page)."""
    return _user(session, principal).mfa_enabled


def remaining_recovery_codes(session: Session, principal: Principal) -> int:
    return len(
        session.exec(
            select(RecoveryCode.id).where(RecoveryCode.user_id == principal.user_id, RecoveryCode.used_at.is_(None))
        ).all()
    )


def regenerate_recovery_codes(
    session: Session, cache: Cache, ring: KeyRing, principal: Principal, code: str
) -> list[str]:
    """New recovery codes (the old ones stop working), confirmed with a current TOTP code."""
    require_interactive(session, principal, "mfa.recovery_codes")
    user = _user(session, principal)
    if not user.mfa_enabled or not _totp_matches(cache, ring, user, _normalize(code)):
        raise MedAIError(ErrorCode.DATA_INVALID, "That code does not match.", "Type the current 6-digit code.")
    codes = _new_recovery_codes(session, user)
    _audit(session, user, "mfa.recovery_codes", "ok", principal.client_address)
    return codes


def clear_mfa(session: Session, user: User) -> None:
    """Remove the second factor of ``user`` (callers check who may do this and audit it)."""
    user.mfa_enabled, user.mfa_secret = False, None
    session.add(user)
    for old in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    for pending in session.exec(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.mfa_pending.is_(True))
    ):
        pending.revoked_at = utcnow()
        session.add(pending)


def disable(session: Session, cache: Cache, ring: KeyRing, principal: Principal, code: str) -> None:
    """Turn one's own MFA off, proven with a current code."""
    require_interactive(session, principal, "mfa.disable")
    user = _user(session, principal)
    if not user.mfa_enabled or not _totp_matches(cache, ring, user, _normalize(code)):
        raise MedAIError(ErrorCode.DATA_INVALID, "That code does not match.", "Type the current 6-digit code.")
    clear_mfa(session, user)
    _audit(session, user, "mfa.disable", "ok", principal.client_address)
