"""API keys resolved once are answered from the cache for a few seconds, yet a revocation, a role
change, a disabled owner or a suspended tenant takes effect on the very next request."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.models import ApiKey
from backend.models.base import utcnow
from backend.services.identity import api_keys, key_cache, tenancy
from tests.unit.identity_world import add_tenant, add_user, sign


@pytest.fixture
def world(runtime):
    tenant = add_tenant(runtime, "ruijin")
    owner = sign(runtime, add_user(runtime, "owner@ruijin.cn", [(tenant, "tenant_owner")]))[1]
    dev_user = add_user(runtime, "dev@ruijin.cn", [(tenant, "developer")])
    dev = sign(runtime, dev_user)[1]
    with runtime.session() as session:
        view, token = api_keys.create_api_key(session, dev, kind="personal", name="app", scopes=["members:read"])
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    client = TestClient(api, raise_server_exceptions=False, headers={"Authorization": f"Bearer {token}"})
    return tenant, owner, dev_user, view, token, client


def test_a_resolved_key_is_served_from_the_cache_without_its_secret_as_a_cache_key(runtime, world):
    _, _, _, view, token, client = world
    assert client.get("/api/me").json()["role"] == "developer"
    with runtime.session() as session:  # a change that bypasses the services is not seen while cached
        row = session.get(ApiKey, view.id)
        row.revoked_at = utcnow()
        session.add(row)
    assert client.get("/api/me").status_code == 200
    secret = token.split("_", 2)[2]  # medai_<prefix>_<secret>; the secret itself may hold "_"
    assert not any(token in key or secret in key for key in runtime.cache._items)


@pytest.mark.parametrize("change", ["revoke", "role", "disable", "suspend", "remove"])
def test_every_change_of_rights_takes_effect_on_the_next_request(runtime, world, change):
    tenant, owner, dev_user, view, _, client = world
    assert client.get("/api/me").status_code == 200  # cached now
    with runtime.session() as session:
        if change == "revoke":
            api_keys.revoke_api_key(session, owner, view.id)
        elif change == "role":
            tenancy.set_member_role(session, owner, tenant.id, dev_user.id, "viewer")
        elif change == "disable":
            tenancy.set_user_status(session, owner, dev_user.id, "disabled")
        elif change == "suspend":
            platform = sign(runtime, add_user(runtime, "root@medai.local", platform_admin=True))[1]
            tenancy.set_tenant_status(session, platform, tenant.id, "suspended")
        else:
            tenancy.remove_member(session, owner, tenant.id, dev_user.id)
    answer = client.get("/api/me")
    if change == "role":
        assert answer.json()["role"] == "viewer"
    else:
        assert answer.status_code == 401, answer.text


def test_a_failed_transaction_keeps_the_cache_and_an_expired_key_is_never_cached(runtime, world):
    tenant, owner, dev_user, _, token, client = world
    client.get("/api/me")
    before = key_cache.epoch(runtime.cache)
    with pytest.raises(RuntimeError), runtime.session() as session:
        tenancy.set_member_role(session, owner, tenant.id, dev_user.id, "viewer")
        raise RuntimeError("rolled back")
    assert key_cache.epoch(runtime.cache) == before and client.get("/api/me").json()["role"] == "developer"
    principal = key_cache.lookup(runtime.cache, token)
    assert principal is not None and principal.scopes == frozenset({"members:read"})
    key_cache.remember(runtime.cache, "medai_other", principal, before, utcnow() - timedelta(seconds=1))
    assert key_cache.lookup(runtime.cache, "medai_other") is None
