"""Identity, tenancy, keys and audit over REST, as an external client uses them."""

import csv
import functools
import io
from datetime import UTC, datetime

import pyotp
import pytest
from fastapi.testclient import TestClient

from backend import db
from backend.api import create_api
from backend.api.auth import SESSION_COOKIE
from backend.api.dependencies import runtime as runtime_dependency
from backend.runtime import build_runtime
from backend.services.identity import audit_log, mfa, ratelimit
from backend.services.identity.permissions import SCOPES, Area, Role
from backend.settings import Settings
from tests.unit.identity_world import PASSWORD, add_tenant, add_user, sign

NEW_PASSWORD = "another long passphrase"


def client_for(rt, **kw) -> TestClient:
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: rt
    return TestClient(api, raise_server_exceptions=False, **kw)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client, email, password=PASSWORD) -> dict:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


@pytest.fixture
def world(runtime):
    ruijin, huashan = add_tenant(runtime, "ruijin", "Ruijin Hospital"), add_tenant(runtime, "huashan", "Huashan")
    add_user(runtime, "root@medai.local", platform_admin=True)
    add_user(runtime, "owner@ruijin.cn", [(ruijin, "tenant_owner")])
    add_user(runtime, "dev@ruijin.cn", [(ruijin, "developer")])
    add_user(runtime, "owner@huashan.cn", [(huashan, "tenant_owner")])
    return client_for(runtime), ruijin, huashan


def test_sign_in_me_and_sign_out(world):
    client, ruijin, _ = world
    wrong = client.post("/api/auth/login", json={"email": "owner@ruijin.cn", "password": "not the password"})
    assert error_of(wrong, 401)["code"] == "UNAUTHENTICATED"
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    signed = login(client, "owner@ruijin.cn")
    assert (signed["mfa_required"], signed["must_change_password"]) == (False, False)
    me = client.get("/api/me", headers=bearer(signed["token"])).json()
    assert (me["label"], me["tenant_id"], me["role"], me["is_platform_admin"], me["scopes"]) == (
        "owner@ruijin.cn",
        ruijin.id,
        "tenant_owner",
        False,
        None,
    )
    assert error_of(client.get("/api/me"), 401)["remedy"]
    assert client.post("/api/auth/logout", headers=bearer(signed["token"])).status_code == 204
    assert error_of(client.get("/api/me", headers=bearer(signed["token"])), 401)["code"] == "UNAUTHENTICATED"


def test_tenants_members_and_users_flow(world):
    client, _, _ = world
    root = bearer(login(client, "root@medai.local")["token"])
    bad = client.post("/api/tenants", json={"slug": "A B", "name": "x"}, headers=root)
    assert error_of(bad, 422)["code"] == "DATA_INVALID"
    created = client.post("/api/tenants", json={"slug": "zhongshan", "name": "Zhongshan"}, headers=root)
    assert created.status_code == 201
    tenant = created.json()
    assert error_of(client.post("/api/tenants", json={"slug": "zhongshan", "name": "Z"}, headers=root), 409)

    invited = client.post(
        f"/api/tenants/{tenant['id']}/members",
        json={"email": "boss@zs.cn", "display_name": "Boss", "role": "tenant_owner"},
        headers=root,
    )
    assert invited.status_code == 201
    temporary = invited.json()["temporary_password"]
    first = login(client, "boss@zs.cn", temporary)
    assert first["must_change_password"]
    boss = bearer(first["token"])
    assert error_of(client.get(f"/api/tenants/{tenant['id']}/members", headers=boss), 403)["code"] == "FORBIDDEN"
    changed = client.post("/api/auth/password", json={"current": temporary, "new": NEW_PASSWORD}, headers=boss)
    assert changed.status_code == 204
    members = client.get(f"/api/tenants/{tenant['id']}/members", headers=boss).json()
    assert [(m["email"], m["role"]) for m in members] == [("boss@zs.cn", "tenant_owner")]

    nurse = client.post(
        f"/api/tenants/{tenant['id']}/members", json={"email": "nurse@zs.cn", "role": "clinician"}, headers=boss
    ).json()
    assert (
        client.patch(
            f"/api/tenants/{tenant['id']}/members/{nurse['user_id']}", json={"role": "viewer"}, headers=boss
        ).status_code
        == 204
    )
    roles = {m["email"]: m["role"] for m in client.get(f"/api/tenants/{tenant['id']}/members", headers=boss).json()}
    assert roles == {"boss@zs.cn": "tenant_owner", "nurse@zs.cn": "viewer"}
    assert client.post(f"/api/users/{nurse['user_id']}/reset-mfa", headers=boss).status_code == 204
    assert client.patch(f"/api/users/{nurse['user_id']}", json={"status": "disabled"}, headers=boss).status_code == 204
    assert error_of(client.get("/api/users", headers=boss), 403)["code"] == "FORBIDDEN"
    users = {u["email"]: u for u in client.get("/api/users", headers=root).json()}
    assert users["nurse@zs.cn"]["status"] == "disabled" and users["boss@zs.cn"]["tenants"] == ["zhongshan"]
    assert client.delete(f"/api/tenants/{tenant['id']}/members/{nurse['user_id']}", headers=boss).status_code == 204
    assert error_of(client.delete(f"/api/tenants/{tenant['id']}/members/{nurse['user_id']}", headers=boss), 404)

    suspended = client.patch(f"/api/tenants/{tenant['id']}", json={"status": "suspended"}, headers=root)
    assert suspended.status_code == 204
    assert error_of(client.get(f"/api/tenants/{tenant['id']}/members", headers=boss), 403)
    listed = {t["slug"]: t for t in client.get("/api/tenants", headers=root).json()}
    assert set(listed) == {"ruijin", "huashan", "zhongshan"} and listed["zhongshan"]["status"] == "suspended"
    assert [t["slug"] for t in client.get("/api/tenants", headers=boss).json()] == ["zhongshan"]


def test_switching_tenant_with_the_session_token(runtime, world):
    client, ruijin, huashan = world
    signed = login(client, "root@medai.local")
    switched = client.post("/api/auth/tenant", json={"tenant_id": huashan.id}, headers=bearer(signed["token"]))
    assert switched.status_code == 200 and switched.json()["tenant_id"] == huashan.id
    assert client.get("/api/me", headers=bearer(signed["token"])).json()["tenant_id"] == huashan.id
    owner = bearer(login(client, "owner@ruijin.cn")["token"])
    assert error_of(client.post("/api/auth/tenant", json={"tenant_id": huashan.id}, headers=owner), 404)
    assert client.get("/api/me", headers=owner).json()["tenant_id"] == ruijin.id


def test_sign_in_with_the_second_factor(runtime, world):
    client, _, _ = world
    user = add_user(runtime, "mfa@ruijin.cn")
    _, principal = sign(runtime, user)
    with runtime.session() as session:
        secret = mfa.begin_enrollment(session, runtime.keys, principal).secret
    now = datetime.now(UTC)
    with runtime.session() as session:
        mfa.confirm_enrollment(session, runtime.cache, runtime.keys, principal, pyotp.TOTP(secret).at(now))
    started = login(client, "mfa@ruijin.cn")
    assert started["mfa_required"]
    token = bearer(started["token"])
    assert error_of(client.get("/api/me", headers=token), 401)["code"] == "UNAUTHENTICATED"
    assert error_of(client.post("/api/auth/mfa", json={"code": "12345x"}, headers=token), 401)
    assert error_of(client.post("/api/auth/mfa", json={"code": "123456"}), 401)  # no token at all
    next_code = pyotp.TOTP(secret).at(now, counter_offset=1)  # a step not yet used, inside the window
    assert client.post("/api/auth/mfa", json={"code": next_code}, headers=token).status_code == 204
    assert client.get("/api/me", headers=token).json()["user_id"] == user.id


def test_keys_are_shown_once_work_as_bearer_and_stop_when_revoked(world):
    client, ruijin, _ = world
    session_token = bearer(login(client, "dev@ruijin.cn")["token"])
    created = client.post(
        "/api/keys", json={"name": "notebook", "scopes": ["models:invoke", "members:read"]}, headers=session_token
    )
    assert created.status_code == 201
    key = created.json()
    token = key["token"]
    assert token.startswith(f"medai_{key['prefix']}_") and key["state"] == "active"
    listed = client.get("/api/keys", headers=session_token)
    assert [k["id"] for k in listed.json()] == [key["id"]]
    assert "token" not in listed.json()[0] and token not in listed.text
    assert token.removeprefix(f"medai_{key['prefix']}_") not in listed.text  # the whole secret ('_' may be in it)
    bad = client.post("/api/keys", json={"name": "x", "scopes": ["everything"]}, headers=session_token)
    assert error_of(bad, 422)["code"] == "DATA_INVALID"

    me = client.get("/api/me", headers=bearer(token))
    assert me.status_code == 200
    assert (me.json()["tenant_id"], me.json()["scopes"]) == (ruijin.id, ["members:read", "models:invoke"])
    assert client.get("/api/keys", headers=bearer(token)).json()[0]["last_used_at"] is not None
    by_key = client.post("/api/keys", json={"name": "child", "scopes": ["logs:read"]}, headers=bearer(token))
    assert error_of(by_key, 403)["code"] == "FORBIDDEN"
    assert error_of(client.post("/api/auth/logout", headers=bearer(token)), 422)["code"] == "DATA_INVALID"

    assert client.delete(f"/api/keys/{key['id']}", headers=session_token).status_code == 204
    revoked = client.get("/api/me", headers=bearer(token))
    error = error_of(revoked, 401)
    assert error["code"] == "UNAUTHENTICATED" and "revoked" in error["message"] and error["remedy"]
    assert revoked.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/api/keys", headers=session_token).json()[0]["state"] == "revoked"


def test_the_session_cookie_works_for_reads_only(runtime, world):
    client, ruijin, _ = world
    token = login(client, "owner@ruijin.cn")["token"]
    browser = client_for(runtime, cookies={SESSION_COOKIE: token})
    assert browser.get("/api/me").json()["tenant_id"] == ruijin.id
    assert browser.get(f"/api/tenants/{ruijin.id}/members").status_code == 200
    forged = browser.post("/api/keys", json={"name": "csrf", "scopes": ["logs:read"]})
    assert error_of(forged, 401)["code"] == "UNAUTHENTICATED"
    assert error_of(browser.delete(f"/api/tenants/{ruijin.id}/members/nobody"), 401)
    assert browser.get("/api/keys").json() == []  # nothing was made by the forged request
    assert browser.post(
        "/api/keys", json={"name": "ok", "scopes": ["logs:read"]}, headers=bearer(token)
    ).status_code == (201)


def test_the_api_rate_limit_answers_429_with_retry_after(tmp_path, clean_env, monkeypatch):
    rt = build_runtime(Settings(data_dir=tmp_path / "data", api_rate_limit=3, _env_file=None))
    db.upgrade(rt.engine)
    ruijin = add_tenant(rt, "ruijin")
    add_user(rt, "dev@ruijin.cn", [(ruijin, "developer")])
    client = client_for(rt)
    token = bearer(login(client, "dev@ruijin.cn")["token"])  # sign-in has its own limit
    key = client.post("/api/keys", json={"name": "k", "scopes": ["logs:read"]}, headers=token).json()["token"]
    monkeypatch.setattr(ratelimit, "hit", functools.partial(ratelimit.hit, clock=lambda: 6_000_045.5))
    assert [client.get("/api/me", headers=token).status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get("/api/me", headers=token)
    assert error_of(limited, 429)["code"] == "RATE_LIMITED"
    assert limited.headers["Retry-After"] == "15"  # the window ends at 6_000_060
    assert client.get("/api/tenants", headers=token).status_code == 429  # every endpoint shares the count
    assert client.get("/api/me", headers=bearer(key)).status_code == 200  # a key has its own bucket
    rt.engine.dispose()


def test_audit_search_and_csv_export(world):
    client, ruijin, huashan = world
    owner = bearer(login(client, "owner@ruijin.cn")["token"])
    for email in ("a@ruijin.cn", "b@ruijin.cn"):
        client.post(f"/api/tenants/{ruijin.id}/members", json={"email": email, "role": "viewer"}, headers=owner)
    h_owner = bearer(login(client, "owner@huashan.cn")["token"])
    client.post(f"/api/tenants/{huashan.id}/members", json={"email": "c@huashan.cn", "role": "viewer"}, headers=h_owner)
    client.get(f"/api/tenants/{huashan.id}/members", headers=owner)  # refused: recorded for huashan

    page = client.get("/api/audit", params={"action": "member.", "outcome": "ok"}, headers=owner).json()
    assert page["total"] == 2 and len(page["events"]) == 2
    assert {e["tenant_id"] for e in page["events"]} == {ruijin.id}
    assert [e["action"] for e in page["events"]] == ["member.add", "member.add"]
    assert page["events"][0]["id"] > page["events"][1]["id"]  # newest first
    one = client.get("/api/audit", params={"action": "member.add", "limit": 1}, headers=owner).json()
    assert (one["total"], len(one["events"])) == (2, 1)
    assert client.get("/api/audit", params={"actor": "OWNER@huashan"}, headers=owner).json()["total"] == 0
    other = client.get("/api/audit", params={"tenant_id": huashan.id}, headers=owner)
    assert error_of(other, 403)["code"] == "FORBIDDEN"
    dev = bearer(login(client, "dev@ruijin.cn")["token"])
    assert error_of(client.get("/api/audit", headers=dev), 403)  # developers do not read the audit trail

    root = bearer(login(client, "root@medai.local")["token"])
    denied = client.get("/api/audit", params={"tenant_id": huashan.id, "outcome": "denied"}, headers=root).json()
    assert [(e["actor_label"], e["action"]) for e in denied["events"]] == [
        ("owner@ruijin.cn", "audit.view"),  # huashan's admins see ruijin's attempts on their tenant
        ("owner@ruijin.cn", "members.view"),
    ]
    everything = client.get("/api/audit", params={"action": "auth.login", "limit": 1000}, headers=root).json()
    assert everything["total"] == 4 and all(e["tenant_id"] is None for e in everything["events"])

    exported = client.get("/api/audit.csv", params={"action": "member.add"}, headers=owner)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert tuple(rows[0]) == audit_log.CSV_COLUMNS
    assert len(rows) == 3 and {r[3] for r in rows[1:]} == {"member.add"} and {r[2] for r in rows[1:]} == {ruijin.id}
    assert {r[1] for r in rows[1:]} == {"owner@ruijin.cn"} and all('"role": "viewer"' in r[8] for r in rows[1:])
    export = client.get("/api/audit", params={"action": "audit.export"}, headers=owner).json()["events"]
    assert len(export) == 1
    assert (export[0]["actor_label"], export[0]["detail"]["rows"]) == ("owner@ruijin.cn", 2)
    assert export[0]["detail"]["filter"] == {"action": "member.add"}
    assert error_of(client.get("/api/audit.csv", params={"tenant_id": huashan.id}, headers=owner), 403)


def test_permissions_publish_the_matrix_and_scopes(world):
    client, _, _ = world
    assert error_of(client.get("/api/permissions"), 401)
    body = client.get("/api/permissions", headers=bearer(login(client, "dev@ruijin.cn")["token"])).json()
    assert len(body["matrix"]) == len(Role) * len(Area)
    cell = next(r for r in body["matrix"] if (r["role"], r["area"]) == ("tenant_admin", "members"))
    assert cell["actions"]["create"] is True and cell["actions"]["approve"] is False
    assert set(body["scopes"]) == set(SCOPES)
    assert body["scopes"]["audit:read"] == ["audit:view"]
