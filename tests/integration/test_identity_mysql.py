"""Identity on MariaDB through PyMySQL: tenants, members, sessions, API keys and the audit trail."""

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData
from sqlmodel import select

from backend import db
from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.errors import ErrorCode, MedAIError
from backend.models import ApiKey, AuditEvent, User
from backend.runtime import build_runtime
from backend.services.identity import api_keys, audit_log, tenancy
from backend.services.identity import users as identity
from backend.settings import Settings

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "platform admin passphrase"
NEW_PASSWORD = "the owner's own passphrase"


def _drop_everything(engine) -> None:
    metadata = MetaData()
    metadata.reflect(engine)
    metadata.drop_all(engine)


@pytest.fixture
def mysql_runtime(mariadb_url, tmp_path, clean_env):
    rt = build_runtime(Settings(data_dir=tmp_path / "data", database_url=mariadb_url, _env_file=None))
    _drop_everything(rt.engine)
    db.upgrade(rt.engine)
    yield rt
    _drop_everything(rt.engine)
    rt.engine.dispose()


def _signed_in(rt, email: str, password: str):
    with rt.session() as session:
        result = identity.sign_in(session, rt.cache, rt.login_limit, email, password, "10.3.0.1")
    with rt.session() as session:
        return result, identity.resolve_session(session, result.token)


def test_tenancy_keys_and_audit_on_mysql(mysql_runtime):
    rt = mysql_runtime
    assert rt.engine.dialect.name == "mysql"
    with rt.session() as session:
        assert identity.bootstrap_platform_admin(session, "root@medai.local", ADMIN_PASSWORD) is None
    _, admin = _signed_in(rt, "root@medai.local", ADMIN_PASSWORD)
    assert admin.is_platform_admin

    with rt.session() as session:
        tenant = tenancy.create_tenant(session, admin, "ruijin", "瑞金医院")
        invitation = tenancy.invite_member(session, admin, tenant.id, "owner@ruijin.cn", "王主任", "tenant_owner")
    with pytest.raises(MedAIError) as caught, rt.session() as session:
        tenancy.create_tenant(session, admin, "ruijin", "again")
    assert caught.value.code is ErrorCode.CONFLICT

    first, owner = _signed_in(rt, "owner@ruijin.cn", invitation.temporary_password)
    assert first.must_change_password and owner.tenant_id == tenant.id
    with rt.session() as session:
        identity.change_password(session, owner, first.token, invitation.temporary_password, NEW_PASSWORD)
    with rt.session() as session:
        owner = identity.resolve_session(session, first.token)
        tenancy.invite_member(session, owner, tenant.id, "dev_1@ruijin.cn", "", "developer")
        members = tenancy.list_members(session, owner, tenant.id)
    assert [(m.email, m.display_name, m.role) for m in members] == [
        ("dev_1@ruijin.cn", "dev_1", "developer"),
        ("owner@ruijin.cn", "王主任", "tenant_owner"),
    ]

    with rt.session() as session:
        view, token = api_keys.create_api_key(
            session, owner, kind="personal", name="审计脚本", scopes=["models:invoke", "audit:read"]
        )
    with rt.session() as session:
        stored = session.get(ApiKey, view.id)
        assert stored.scopes == ["audit:read", "models:invoke"] and stored.expires_at.tzinfo is not None
        key = api_keys.authenticate_api_key(session, token, "10.3.0.2")
    assert (key.tenant_id, key.role, key.scopes) == (tenant.id, "tenant_owner", frozenset(stored.scopes))
    with rt.session() as session:
        events, total = audit_log.search(session, key, audit_log.AuditFilter(action="member."))
    assert total == 2 and {e.target_id for e in events} == {invitation.user_id, members[0].user_id}
    with rt.session() as session:
        api_keys.revoke_api_key(session, owner, view.id)
    with pytest.raises(MedAIError) as caught, rt.session() as session:
        api_keys.authenticate_api_key(session, token)
    assert caught.value.code is ErrorCode.UNAUTHENTICATED and "revoked" in caught.value.message

    with rt.session() as session:
        mine = audit_log.AuditFilter(outcome="ok", actor="OWNER@")
        events, total = audit_log.search(session, owner, mine, limit=2)
        literal = audit_log.search(session, owner, audit_log.AuditFilter(actor="%"))[1]
        underscore = audit_log.search(session, owner, audit_log.AuditFilter(action="member_"))[1]
        exported = audit_log.export_csv(session, owner, audit_log.AuditFilter(action="api_key."))
    assert total >= 4 and len(events) == 2 and events[0].id > events[1].id
    assert all(e.actor_label == "owner@ruijin.cn" and e.tenant_id == tenant.id for e in events)
    assert literal == 0 and underscore == 0  # LIKE wildcards in filters are taken literally
    rows = list(csv.reader(io.StringIO(exported)))
    assert tuple(rows[0]) == audit_log.CSV_COLUMNS
    assert [(r[3], r[6]) for r in rows[1:]] == [("api_key.revoke", "ok"), ("api_key.create", "ok")]
    assert token not in exported and token.split("_", 2)[2] not in exported  # secrets stay out of the trail

    with rt.session() as session:  # the failed key use was kept although its transaction rolled back
        failed = session.exec(select(AuditEvent).where(AuditEvent.action == "auth.api_key")).all()
        assert [(e.outcome, e.detail["reason"]) for e in failed] == [("failed", "revoked")]
        tenancy.remove_member(session, owner, tenant.id, members[0].user_id)
        assert session.exec(select(User).where(User.email == "dev_1@ruijin.cn")).one().status == "active"


def test_a_made_up_tenant_id_is_a_403_not_a_database_error(mysql_runtime):
    rt = mysql_runtime
    with rt.session() as session:
        identity.bootstrap_platform_admin(session, "root@medai.local", ADMIN_PASSWORD)
        admin = identity.resolve_session(
            session, identity.open_session(session, session.exec(select(User)).one(), "10.3.0.1")
        )
        tenant = tenancy.create_tenant(session, admin, "huashan", "Huashan")
        invitation = tenancy.invite_member(session, admin, tenant.id, "owner@huashan.cn", "", "tenant_owner")
    with rt.session() as session:
        user = identity.authenticate(session, "owner@huashan.cn", invitation.temporary_password)
        token = identity.open_session(session, user, "10.3.0.3")
        owner = identity.resolve_session(session, token)
        identity.change_password(session, owner, token, invitation.temporary_password, NEW_PASSWORD)
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: rt
    client = TestClient(api, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {token}"}
    for path, params in (
        ("/api/audit", {"tenant_id": "x" * 300}),
        (f"/api/tenants/{'y' * 300}/members", {}),
    ):
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "FORBIDDEN"
    with rt.session() as session:
        denied = session.exec(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert [(e.tenant_id, e.detail["requested_tenant"][:3]) for e in denied] == [(tenant.id, "xxx"), (tenant.id, "yyy")]
