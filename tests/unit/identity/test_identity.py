from datetime import timedelta

import pytest
from sqlmodel import select

from backend.errors import ErrorCode, MedAIError
from backend.models import AuditEvent, Membership, Tenant, User, UserSession
from backend.models.base import utcnow
from backend.services.identity import users as identity

PASSWORD = "correct horse battery"


@pytest.fixture
def user(runtime):
    with runtime.session() as session:
        tenant = Tenant(slug="ruijin", name="Ruijin Hospital")
        person = User(email="dr.li@ruijin.cn", display_name="Dr Li", password_hash=identity.hash_password(PASSWORD))
        session.add_all([tenant, person])
        session.flush()
        session.add(Membership(user_id=person.id, tenant_id=tenant.id, role="developer"))
    return person


def _events(runtime, action):
    with runtime.session() as session:
        return session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def test_passwords_are_hashed_with_argon2_and_short_ones_refused():
    hashed = identity.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert identity.verify_password(hashed, PASSWORD)
    assert not identity.verify_password(hashed, PASSWORD + "!")
    assert not identity.verify_password("not-a-hash", PASSWORD)
    with pytest.raises(MedAIError) as caught:
        identity.hash_password("short")
    assert caught.value.code is ErrorCode.DATA_INVALID


def test_first_run_creates_one_admin_with_a_one_time_password(runtime):
    with runtime.session() as session:
        one_time = identity.bootstrap_platform_admin(session, "Admin@Hospital.cn", None)
    assert one_time and len(one_time) >= identity.PASSWORD_MIN_LENGTH
    with runtime.session() as session:
        assert identity.bootstrap_platform_admin(session, "other@hospital.cn", None) is None  # only on an empty table
        admins = session.exec(select(User)).all()
    assert [(u.email, u.is_platform_admin, u.must_change_password) for u in admins] == [
        ("admin@hospital.cn", True, True)
    ]
    with runtime.session() as session:
        assert identity.authenticate(session, "admin@hospital.cn", one_time).is_platform_admin
    event = _events(runtime, "user.bootstrap")[0]
    assert event.detail["password_source"] == "generated" and one_time not in str(event.detail)


def test_configured_admin_password_is_used_and_not_returned(runtime):
    with runtime.session() as session:
        assert identity.bootstrap_platform_admin(session, "admin@h.cn", "from-the-environment") is None
    with runtime.session() as session:
        admin = identity.authenticate(session, "admin@h.cn", "from-the-environment")
    assert not admin.must_change_password


def test_wrong_password_and_unknown_email_look_the_same(runtime, user):
    messages = []
    for email, password in (("dr.li@ruijin.cn", "wrong password!"), ("nobody@ruijin.cn", PASSWORD)):
        with pytest.raises(MedAIError) as caught, runtime.session() as session:
            identity.authenticate(session, email, password, client_address="10.0.0.7")
        messages.append((caught.value.code, caught.value.message))
    assert messages[0] == messages[1] == (ErrorCode.UNAUTHENTICATED, "The e-mail or password is wrong.")
    events = _events(runtime, "auth.login")
    assert [(e.outcome, e.client_address) for e in events] == [("failed", "10.0.0.7")] * 2


def _fail(runtime, password="wrong password!"):
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        identity.authenticate(session, "dr.li@ruijin.cn", password)
    return caught.value


def test_repeated_failures_lock_the_account_even_for_the_right_password(runtime, user):
    for _ in range(identity.LOCKOUT_AFTER_FAILURES):
        _fail(runtime)
    locked = _fail(runtime, PASSWORD)
    assert "locked" in locked.message and "minutes" in locked.remedy
    assert _events(runtime, "auth.login")[-1].outcome == "denied"
    with runtime.session() as session:  # the lock runs out
        row = session.get(User, user.id)
        row.locked_until = utcnow() - timedelta(seconds=1)
        session.add(row)
    with runtime.session() as session:
        assert identity.authenticate(session, "dr.li@ruijin.cn", PASSWORD).failed_logins == 0


def test_a_success_resets_the_failure_count(runtime, user):
    for _ in range(identity.LOCKOUT_AFTER_FAILURES - 1):
        _fail(runtime)
    with runtime.session() as session:
        identity.authenticate(session, "dr.li@ruijin.cn", PASSWORD)
    _fail(runtime)
    with runtime.session() as session:
        assert identity.authenticate(session, "dr.li@ruijin.cn", PASSWORD).locked_until is None


def test_sessions_resolve_to_the_tenant_role_and_end_on_revoke_or_expiry(runtime, user):
    with runtime.session() as session:
        token = identity.open_session(session, session.get(User, user.id), client_address="10.0.0.8")
    with runtime.session() as session:
        stored = session.exec(select(UserSession)).one()
        assert stored.token_hash == identity.token_hash(token) and token not in stored.token_hash
        principal = identity.resolve_session(session, token)
    assert (principal.user_id, principal.role, principal.is_platform_admin) == (user.id, "developer", False)
    assert principal.tenant_id == stored.tenant_id
    with runtime.session() as session:
        later = utcnow() + identity.SESSION_TTL + timedelta(seconds=1)
        with pytest.raises(MedAIError):
            identity.resolve_session(session, token, now=later)
        identity.revoke_session(session, token)
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        identity.resolve_session(session, token)
    assert caught.value.code is ErrorCode.UNAUTHENTICATED
    assert _events(runtime, "auth.logout")[0].target_id == stored.id


def test_a_disabled_user_loses_their_sessions(runtime, user):
    with runtime.session() as session:
        token = identity.open_session(session, session.get(User, user.id))
        row = session.get(User, user.id)
        row.status = "disabled"
        session.add(row)
    with pytest.raises(MedAIError, match="disabled"), runtime.session() as session:
        identity.resolve_session(session, token)


async def test_app_start_makes_the_first_admin_and_shows_the_password_once(runtime, capsys):
    async with runtime.serving():
        pass
    shown = capsys.readouterr().out
    one_time = shown.split("One-time password: ")[1].split()[0]
    with runtime.session() as session:
        assert identity.authenticate(session, "admin@medai.local", one_time).is_platform_admin
    async with runtime.serving():
        pass
    assert "One-time password" not in capsys.readouterr().out


async def test_app_start_uses_the_configured_admin_password(settings):
    from backend import db
    from backend.runtime import build_runtime
    from backend.settings import Settings

    configured = Settings(
        data_dir=settings.data_dir, admin_email="root@h.cn", admin_password="a-long-secret-pw", _env_file=None
    )
    rt = build_runtime(configured)
    db.upgrade(rt.engine)
    async with rt.serving():
        pass
    with rt.session() as session:
        assert identity.authenticate(session, "root@h.cn", "a-long-secret-pw").is_platform_admin
    rt.engine.dispose()
