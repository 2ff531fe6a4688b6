"""API keys: shown once and stored hashed, scoped, expiring, revocable, and never more than their owner."""

import hashlib
from datetime import timedelta

import pytest
from sqlmodel import select

from backend.errors import ErrorCode, MedAIError
from backend.models import ApiKey, AuditEvent, Membership, Tenant
from backend.models.base import utcnow
from backend.services.identity import api_keys, tenancy
from backend.services.identity.permissions import SCOPES
from backend.services.serving import gateway
from tests.unit.identity_world import add_tenant, add_user, events, sign


@pytest.fixture
def world(runtime):
    ruijin, huashan = add_tenant(runtime, "ruijin"), add_tenant(runtime, "huashan")
    users = {
        "owner": add_user(runtime, "owner@ruijin.cn", [(ruijin, "tenant_owner")]),
        "admin": add_user(runtime, "admin@ruijin.cn", [(ruijin, "tenant_admin")]),
        "dev": add_user(runtime, "dev@ruijin.cn", [(ruijin, "developer")]),
        "other": add_user(runtime, "dev2@ruijin.cn", [(ruijin, "developer")]),
    }
    principals = {name: sign(runtime, user)[1] for name, user in users.items()}
    return ruijin, huashan, users, principals


def create(runtime, principal, kind="personal", scopes=("models:invoke",), name="notebook", **kw):
    with runtime.session() as session:
        return api_keys.create_api_key(session, principal, kind=kind, name=name, scopes=list(scopes), **kw)


def authenticate(runtime, token, address="10.2.2.2"):
    with runtime.session() as session:
        return api_keys.authenticate_api_key(session, token, address)


def refused(runtime, code, call, *args, **kwargs) -> MedAIError:
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        call(session, *args, **kwargs)
    assert caught.value.code is code, caught.value
    return caught.value


def key_failure(runtime, token) -> str:
    error = refused(runtime, ErrorCode.UNAUTHENTICATED, api_keys.authenticate_api_key, token, "10.2.2.2")
    row = events(runtime, "auth.api_key")[-1]
    assert (row.outcome, row.client_address) == ("failed", "10.2.2.2")
    assert row.detail["reason"].replace("_", " ") in error.message
    return row.detail["reason"]


def test_the_token_is_returned_once_and_only_its_hash_is_stored(runtime, world):
    ruijin, _, users, p = world
    view, token = create(runtime, p["dev"], scopes=["models:invoke", "knowledge:read", "models:invoke"])
    assert token.startswith(f"medai_{view.prefix}_") and len(view.prefix) == 12 and len(token) > 50
    assert not hasattr(view, "token") and token not in repr(view)
    assert (view.kind, view.owner_email, view.scopes, view.state) == (
        "personal",
        "dev@ruijin.cn",
        ("knowledge:read", "models:invoke"),
        "active",
    )
    with runtime.session() as session:
        row = session.exec(select(ApiKey)).one()
        audit_rows = session.exec(select(AuditEvent)).all()
    assert row.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    secret = token.split("_", 2)[2]  # after "medai_<prefix>_"; the secret itself may contain "_"
    assert secret not in str(row.model_dump()) and secret not in str([(e.detail, e.target_id) for e in audit_rows])
    assert row.expires_at is not None and timedelta(days=89) < row.expires_at - utcnow() <= timedelta(days=90)
    principal = authenticate(runtime, token)
    assert (principal.user_id, principal.tenant_id, principal.role, principal.api_key_id) == (
        users["dev"].id,
        ruijin.id,
        "developer",
        view.id,
    )
    assert principal.scopes == {"knowledge:read", "models:invoke"} and principal.via_api_key
    assert not principal.is_platform_admin and principal.client_address == "10.2.2.2"
    with runtime.session() as session:
        assert session.get(ApiKey, view.id).last_used_at is not None
    created = events(runtime, "api_key.create")[0]
    assert (created.actor_id, created.tenant_id, created.target_id, created.detail["prefix"]) == (
        users["dev"].id,
        ruijin.id,
        view.id,
        view.prefix,
    )


def test_the_prefix_finds_the_key_but_only_the_whole_secret_opens_it(runtime, world):
    *_, p = world
    view, token = create(runtime, p["dev"])
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert key_failure(runtime, forged) == "unknown"
    assert events(runtime, "auth.api_key")[-1].target_id == view.id  # the prefix matched a real key
    for garbage in ("medai_", "medai_short_x", f"medai_{view.prefix}_", "sk-" + token, token.replace("medai_", "")):
        assert key_failure(runtime, garbage) == "unknown"
    assert not api_keys.is_api_key("a-session-token") and api_keys.is_api_key(token)


@pytest.mark.parametrize(
    ("kind", "name", "scopes", "days"),
    [
        ("personal", "x", ["models:write"], 30),
        ("personal", "x", [], 30),
        ("robot", "x", ["models:invoke"], 30),
        ("personal", "   ", ["models:invoke"], 30),
        ("personal", "x" * 129, ["models:invoke"], 30),
        ("personal", "x", ["models:invoke"], 0),
        ("personal", "x", ["models:invoke"], 731),
    ],
)
def test_bad_key_requests_are_refused(runtime, world, kind, name, scopes, days):
    *_, p = world
    error = refused(
        runtime,
        ErrorCode.DATA_INVALID,
        api_keys.create_api_key,
        p["owner"],
        kind=kind,
        name=name,
        scopes=scopes,
        expires_in_days=days,
    )
    assert error.remedy
    with runtime.session() as session:
        assert session.exec(select(ApiKey)).all() == []


def test_every_known_scope_can_be_granted_and_none_expires_without_a_limit(runtime, world):
    *_, p = world
    view, token = create(runtime, p["owner"], scopes=list(SCOPES), expires_in_days=None)
    assert view.expires_at is None and set(view.scopes) == set(SCOPES)
    assert authenticate(runtime, token).scopes == frozenset(SCOPES)


def test_an_expired_key_is_refused(runtime, world):
    *_, p = world
    view, token = create(runtime, p["dev"], expires_in_days=1)
    with runtime.session() as session:
        row = session.get(ApiKey, view.id)
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    assert key_failure(runtime, token) == "expired"
    with runtime.session() as session:
        assert api_keys.list_api_keys(session, p["dev"])[0].state == "expired"


def test_a_revoked_key_stops_at_once_and_both_are_audited(runtime, world):
    ruijin, _, users, p = world
    view, token = create(runtime, p["dev"])
    authenticate(runtime, token)
    with runtime.session() as session:
        api_keys.revoke_api_key(session, p["dev"], view.id)
    assert key_failure(runtime, token) == "revoked"
    revoked = events(runtime, "api_key.revoke")[0]
    assert (revoked.actor_id, revoked.tenant_id, revoked.target_id, revoked.outcome) == (
        users["dev"].id,
        ruijin.id,
        view.id,
        "ok",
    )
    failed = events(runtime, "auth.api_key")[-1]
    assert (failed.actor_id, failed.tenant_id, failed.target_id) == (users["dev"].id, ruijin.id, view.id)
    with runtime.session() as session:
        assert api_keys.list_api_keys(session, p["dev"])[0].state == "revoked"


def test_a_personal_key_follows_its_owners_role(runtime, world):
    ruijin, _, users, p = world
    _, token = create(runtime, p["dev"], scopes=["members:read"])
    assert authenticate(runtime, token).role == "developer"
    with runtime.session() as session:
        tenancy.set_member_role(session, p["owner"], ruijin.id, users["dev"].id, "clinician")
    assert authenticate(runtime, token).role == "clinician"
    key_principal = authenticate(runtime, token)
    refused(runtime, ErrorCode.FORBIDDEN, tenancy.list_members, key_principal, ruijin.id)  # clinicians cannot
    with runtime.session() as session:
        tenancy.remove_member(session, p["owner"], ruijin.id, users["dev"].id)
    assert key_failure(runtime, token) == "owner_inactive"


def test_a_key_stops_when_its_owner_is_disabled(runtime, world):
    _, _, users, p = world
    _, personal = create(runtime, p["admin"])
    _, tenant_key = create(runtime, p["admin"], kind="tenant", name="pacs bridge")
    with runtime.session() as session:
        tenancy.set_user_status(session, p["owner"], users["admin"].id, "disabled")
    assert key_failure(runtime, personal) == key_failure(runtime, tenant_key) == "owner_inactive"


def test_a_suspended_tenant_refuses_its_keys(runtime, world):
    ruijin, _, _, p = world
    _, token = create(runtime, p["dev"])
    with runtime.session() as session:
        tenant = session.get(Tenant, ruijin.id)
        tenant.status = "suspended"
        session.add(tenant)
    assert key_failure(runtime, token) == "tenant_suspended"


def test_a_tenant_key_acts_as_a_developer_capped_by_its_scopes(runtime, world):
    ruijin, _, users, p = world
    view, token = create(runtime, p["owner"], kind="tenant", name="pacs bridge", scopes=["members:read"])
    principal = authenticate(runtime, token)
    assert (principal.role, principal.tenant_id, view.kind) == ("developer", ruijin.id, "tenant")
    with runtime.session() as session:
        assert len(tenancy.list_members(session, principal, ruijin.id)) == len(users)
    refused(runtime, ErrorCode.FORBIDDEN, tenancy.invite_member, principal, ruijin.id, "x@ruijin.cn", "", "viewer")
    refused(
        runtime, ErrorCode.FORBIDDEN, api_keys.create_api_key, p["dev"], kind="tenant", name="x", scopes=["logs:read"]
    )


def test_a_member_lists_only_their_own_keys_and_an_admin_all_of_the_tenant(runtime, world):
    *_, p = world
    dev_key, _ = create(runtime, p["dev"], name="dev notebook")
    other_key, _ = create(runtime, p["other"], name="other notebook")
    tenant_key, _ = create(runtime, p["admin"], kind="tenant", name="pacs bridge")
    owner_key, _ = create(runtime, p["owner"], name="owner laptop")
    with runtime.session() as session:
        assert [k.id for k in api_keys.list_api_keys(session, p["dev"])] == [dev_key.id]
        assert [k.id for k in api_keys.list_api_keys(session, p["other"])] == [other_key.id]
        for admin in (p["admin"], p["owner"]):
            listed = {k.id: k for k in api_keys.list_api_keys(session, admin)}
            assert set(listed) == {dev_key.id, other_key.id, tenant_key.id, owner_key.id}
    assert listed[dev_key.id].owner_email == "dev@ruijin.cn"
    assert not any(hasattr(k, "token") or hasattr(k, "secret_hash") for k in listed.values())


def test_a_member_cannot_revoke_someone_elses_key_but_an_admin_can(runtime, world):
    _, _, users, p = world
    other_key, other_token = create(runtime, p["other"])
    tenant_key, tenant_token = create(runtime, p["admin"], kind="tenant", name="pacs bridge")
    for key in (other_key, tenant_key):
        refused(runtime, ErrorCode.NOT_FOUND, api_keys.revoke_api_key, p["dev"], key.id)
    refused(runtime, ErrorCode.NOT_FOUND, api_keys.revoke_api_key, p["dev"], "no-such-key")
    authenticate(runtime, other_token)
    authenticate(runtime, tenant_token)
    with runtime.session() as session:
        api_keys.revoke_api_key(session, p["admin"], other_key.id)
        api_keys.revoke_api_key(session, p["owner"], tenant_key.id)
    assert key_failure(runtime, other_token) == key_failure(runtime, tenant_token) == "revoked"
    assert [e.actor_id for e in events(runtime, "api_key.revoke")] == [users["admin"].id, users["owner"].id]


def test_keys_cannot_make_or_revoke_keys(runtime, world):
    *_, p = world
    view, token = create(runtime, p["owner"], scopes=list(SCOPES))
    key_principal = authenticate(runtime, token)
    refused(
        runtime,
        ErrorCode.FORBIDDEN,
        api_keys.create_api_key,
        key_principal,
        kind="personal",
        name="x",
        scopes=["logs:read"],
    )
    refused(runtime, ErrorCode.FORBIDDEN, api_keys.revoke_api_key, key_principal, view.id)
    assert authenticate(runtime, token).api_key_id == view.id  # still alive
    reasons = [e.detail for e in events(runtime) if e.outcome == "denied"]
    assert reasons == [{"reason": "interactive_only", "api_key": view.id}] * 2
    with runtime.session() as session:
        assert len(session.exec(select(ApiKey)).all()) == 1


def test_a_key_lists_keys_only_with_the_members_read_scope(runtime, world):
    *_, p = world
    _, narrow = create(runtime, p["dev"], scopes=["models:invoke"])
    _, wide = create(runtime, p["dev"], scopes=["members:read"])
    refused(runtime, ErrorCode.FORBIDDEN, api_keys.list_api_keys, authenticate(runtime, narrow))
    with runtime.session() as session:
        assert len(api_keys.list_api_keys(session, authenticate(runtime, wide))) == 2


def test_keys_belong_to_the_tenant_they_were_made_in(runtime, world):
    _, huashan, users, p = world
    with runtime.session() as session:
        session.add(Membership(user_id=users["dev"].id, tenant_id=huashan.id, role="viewer"))
    _, in_huashan = sign(runtime, users["dev"], huashan)
    view, token = create(runtime, in_huashan)
    principal = authenticate(runtime, token)
    assert (principal.tenant_id, principal.role) == (huashan.id, "viewer")
    with runtime.session() as session:
        assert [k.id for k in api_keys.list_api_keys(session, p["dev"])] == []  # acting in ruijin
        assert session.get(ApiKey, view.id).tenant_id == huashan.id
    refused(runtime, ErrorCode.NOT_FOUND, api_keys.revoke_api_key, p["dev"], view.id)  # only from huashan


def test_a_read_only_key_lists_models_but_may_not_call_them(runtime, world):
    *_, p = world
    reader = authenticate(runtime, create(runtime, p["dev"], scopes=["models:read"])[1])
    caller = authenticate(runtime, create(runtime, p["dev"], name="app")[1])
    with runtime.session() as session:
        assert gateway.available_models(session, reader) == []  # listing is what the scope is for
    error = refused(runtime, ErrorCode.FORBIDDEN, gateway.routes, reader, "bp-chat")
    assert "scopes" in error.message
    refused(runtime, ErrorCode.NOT_FOUND, gateway.routes, caller, "bp-chat")  # allowed: there is no such service
    with runtime.session() as session:
        denied = session.exec(select(AuditEvent).where(AuditEvent.action == "deploy.invoke")).all()
    assert [(e.outcome, e.detail["reason"]) for e in denied] == [("denied", "scope")]
