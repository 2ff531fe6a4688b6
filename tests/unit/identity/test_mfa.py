"""Two-step sign-in: TOTP enrollment, replay protection, recovery codes and the admin reset."""

import dataclasses
from datetime import UTC, datetime

import pyotp
import pytest
from sqlmodel import select

from backend.errors import ErrorCode, MedAIError
from backend.models import RecoveryCode, User, UserSession
from backend.services.identity import mfa, tenancy
from backend.services.identity import users as identity
from tests.unit.identity_world import PASSWORD, add_tenant, add_user, events, sign

EMAIL = "dr.li@ruijin.cn"
NOW = datetime.now(UTC).replace(second=10, microsecond=0)  # the middle of a 30-second step


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """The service and the "authenticator" read the same fixed time, so no step boundary can fall
    inside a test and which step each code belongs to is certain."""
    monkeypatch.setattr(mfa, "utcnow", lambda: NOW)


@pytest.fixture
def person(runtime):
    ruijin = add_tenant(runtime, "ruijin")
    user = add_user(runtime, EMAIL, [(ruijin, "developer")])
    owner = add_user(runtime, "owner@ruijin.cn", [(ruijin, "tenant_owner")])
    return user, sign(runtime, user)[1], sign(runtime, owner)[1]


def code(secret: str, steps_ahead: int = 0) -> str:
    """The code an authenticator shows now, or that many 30-second steps later (or earlier)."""
    return pyotp.TOTP(secret).at(NOW, counter_offset=steps_ahead)


def enroll(runtime, principal) -> tuple[str, list[str]]:
    with runtime.session() as session:
        enrollment = mfa.begin_enrollment(session, runtime.keys, principal)
    with runtime.session() as session:
        recovery = mfa.confirm_enrollment(session, runtime.cache, runtime.keys, principal, code(enrollment.secret))
    return enrollment.secret, recovery


def sign_in(runtime, address="10.0.0.5") -> identity.SignIn:
    with runtime.session() as session:
        return identity.sign_in(session, runtime.cache, runtime.login_limit, EMAIL, PASSWORD, address)


def second_step(runtime, token, value) -> None:
    with runtime.session() as session:
        mfa.complete_sign_in(session, runtime.cache, runtime.keys, token, value)


def refused(runtime, call, *args) -> MedAIError:
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        call(session, *args)
    return caught.value


def test_enrollment_stores_the_secret_sealed_and_starts_only_with_a_matching_code(runtime, person):
    user, principal, _ = person
    with runtime.session() as session:
        enrollment = mfa.begin_enrollment(session, runtime.keys, principal)
    with runtime.session() as session:
        stored = session.get(User, user.id)
    assert stored.mfa_secret and enrollment.secret not in stored.mfa_secret
    assert runtime.keys.open(stored.mfa_secret, f"mfa:{user.id}") == enrollment.secret
    assert not stored.mfa_enabled  # not before a code confirms it
    assert enrollment.uri.startswith("otpauth://totp/") and "MedAI%20Studio" in enrollment.uri
    assert enrollment.qr_svg.startswith("data:image/svg+xml")

    wrong = f"{(int(code(enrollment.secret)) + 1) % 1_000_000:06d}"
    error = refused(runtime, mfa.confirm_enrollment, runtime.cache, runtime.keys, principal, wrong)
    assert error.code is ErrorCode.DATA_INVALID
    assert [e.outcome for e in events(runtime, "mfa.enroll")] == ["failed"]  # kept despite the rollback
    with runtime.session() as session:
        assert not session.get(User, user.id).mfa_enabled

    with runtime.session() as session:
        recovery = mfa.confirm_enrollment(session, runtime.cache, runtime.keys, principal, code(enrollment.secret))
    assert len(recovery) == mfa.RECOVERY_CODES == len(set(recovery))
    with runtime.session() as session:
        assert session.get(User, user.id).mfa_enabled
        hashes = [r.code_hash for r in session.exec(select(RecoveryCode)).all()]
        assert mfa.remaining_recovery_codes(session, principal) == mfa.RECOVERY_CODES
    assert len(hashes) == mfa.RECOVERY_CODES and not set(recovery) & set(hashes)
    assert not any(c.replace("-", "") in h for c in recovery for h in hashes)
    error = refused(runtime, mfa.begin_enrollment, runtime.keys, principal)
    assert error.code is ErrorCode.CONFLICT


def test_a_code_is_accepted_once(runtime, person):
    _, principal, _ = person
    secret, _ = enroll(runtime, principal)
    first = sign_in(runtime)
    assert first.mfa_required
    # the code that confirmed the enrollment was seen: it cannot open a sign-in
    assert refused(runtime, mfa.complete_sign_in, runtime.cache, runtime.keys, first.token, code(secret)).code is (
        ErrorCode.UNAUTHENTICATED
    )
    next_code = code(secret, 1)
    second_step(runtime, first.token, next_code)
    again = sign_in(runtime)
    error = refused(runtime, mfa.complete_sign_in, runtime.cache, runtime.keys, again.token, next_code)
    assert error.code is ErrorCode.UNAUTHENTICATED
    second_step(runtime, again.token, code(secret, -1))  # a fresh step within the window still works


def test_sign_in_with_mfa_opens_the_session_only_after_the_code(runtime, person):
    user, principal, _ = person
    secret, _ = enroll(runtime, principal)
    started = sign_in(runtime, "10.9.9.9")
    assert started.mfa_required and not started.must_change_password
    error = refused(runtime, identity.resolve_session, started.token)
    assert error.code is ErrorCode.UNAUTHENTICATED and "code" in error.message
    refused(runtime, mfa.complete_sign_in, runtime.cache, runtime.keys, started.token, "000000x")
    refused(runtime, identity.resolve_session, started.token)
    second_step(runtime, started.token, f" {code(secret, 1)[:3]} {code(secret, 1)[3:]} ")  # spaces are fine
    with runtime.session() as session:
        assert identity.resolve_session(session, started.token).user_id == user.id
    rows = [(e.outcome, e.client_address, e.detail.get("method")) for e in events(runtime, "auth.mfa")]
    assert rows == [("failed", "10.9.9.9", None), ("ok", "10.9.9.9", "totp")]
    # a finished sign-in is not waiting for a code any more
    assert refused(
        runtime, mfa.complete_sign_in, runtime.cache, runtime.keys, started.token, code(secret, -1)
    ).code is (ErrorCode.UNAUTHENTICATED)


def test_a_recovery_code_works_once(runtime, person):
    _, principal, _ = person
    _, recovery = enroll(runtime, principal)
    started = sign_in(runtime)
    second_step(runtime, started.token, recovery[0].upper().replace("-", " - "))
    with runtime.session() as session:
        identity.resolve_session(session, started.token)
        assert mfa.remaining_recovery_codes(session, principal) == mfa.RECOVERY_CODES - 1
    assert events(runtime, "auth.mfa")[-1].detail == {"method": "recovery_code"}
    again = sign_in(runtime)
    error = refused(runtime, mfa.complete_sign_in, runtime.cache, runtime.keys, again.token, recovery[0])
    assert error.code is ErrorCode.UNAUTHENTICATED
    second_step(runtime, again.token, recovery[1])


def test_too_many_wrong_codes_end_the_half_open_sign_in(runtime, person):
    _, principal, _ = person
    secret, _ = enroll(runtime, principal)
    started = sign_in(runtime)
    for attempt in range(1, mfa.MAX_CODE_FAILURES + 1):
        error = refused(runtime, mfa.complete_sign_in, runtime.cache, runtime.keys, started.token, "123456")
        assert ("ended" in error.message) is (attempt == mfa.MAX_CODE_FAILURES)
    # not even the right code opens it now: guessing costs a new password sign-in
    error = refused(runtime, mfa.complete_sign_in, runtime.cache, runtime.keys, started.token, code(secret, 1))
    assert error.code is ErrorCode.UNAUTHENTICATED
    assert events(runtime, "auth.mfa")[-1].detail == {"session_ended": True}
    fresh = sign_in(runtime)
    second_step(runtime, fresh.token, code(secret, 1))


def test_regenerating_recovery_codes_retires_the_old_ones(runtime, person):
    _, principal, _ = person
    secret, old = enroll(runtime, principal)
    assert refused(runtime, mfa.regenerate_recovery_codes, runtime.cache, runtime.keys, principal, "111111").code is (
        ErrorCode.DATA_INVALID
    )
    with runtime.session() as session:
        new = mfa.regenerate_recovery_codes(session, runtime.cache, runtime.keys, principal, code(secret, 1))
    assert not set(new) & set(old)
    started = sign_in(runtime)
    refused(runtime, mfa.complete_sign_in, runtime.cache, runtime.keys, started.token, old[2])
    second_step(runtime, started.token, new[2])


def test_turning_it_off_needs_a_current_code(runtime, person):
    user, principal, _ = person
    secret, _ = enroll(runtime, principal)
    assert refused(runtime, mfa.disable, runtime.cache, runtime.keys, principal, "999999").code is (
        ErrorCode.DATA_INVALID
    )
    with runtime.session() as session:
        mfa.disable(session, runtime.cache, runtime.keys, principal, code(secret, 1))
    with runtime.session() as session:
        stored = session.get(User, user.id)
        assert (stored.mfa_enabled, stored.mfa_secret) == (False, None)
        assert session.exec(select(RecoveryCode)).all() == []
    assert not sign_in(runtime).mfa_required


def test_an_admin_reset_clears_the_second_factor_and_pending_sign_ins(runtime, person):
    user, principal, owner = person
    _, recovery = enroll(runtime, principal)
    pending = sign_in(runtime)
    with runtime.session() as session:
        tenancy.reset_mfa(session, owner, user.id)
    with runtime.session() as session:
        stored = session.get(User, user.id)
        assert (stored.mfa_enabled, stored.mfa_secret) == (False, None)
        assert session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all() == []
        waiting = session.exec(select(UserSession).where(UserSession.mfa_pending.is_(True))).one()
        assert waiting.revoked_at is not None
    refused(runtime, mfa.complete_sign_in, runtime.cache, runtime.keys, pending.token, recovery[0])
    fresh = sign_in(runtime)
    assert not fresh.mfa_required
    with runtime.session() as session:
        assert identity.resolve_session(session, fresh.token).user_id == user.id
    row = events(runtime, "user.reset_mfa")[0]
    assert (row.actor_id, row.target_id, row.tenant_id) == (owner.user_id, user.id, principal.tenant_id)


def test_api_keys_cannot_manage_the_second_factor(runtime, person):
    _, principal, _ = person
    key = dataclasses.replace(principal, scopes=frozenset({"members:read"}), api_key_id="k1")
    for call, args in (
        (mfa.begin_enrollment, (runtime.keys, key)),
        (mfa.confirm_enrollment, (runtime.cache, runtime.keys, key, "123456")),
        (mfa.disable, (runtime.cache, runtime.keys, key, "123456")),
        (mfa.regenerate_recovery_codes, (runtime.cache, runtime.keys, key, "123456")),
    ):
        assert refused(runtime, call, *args).code is ErrorCode.FORBIDDEN
    assert {e.detail["reason"] for e in events(runtime) if e.outcome == "denied"} == {"interactive_only"}
