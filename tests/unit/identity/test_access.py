"""The one gate: authorize / require_member / require_interactive / may, and their audited refusals."""

import dataclasses

import pytest
from sqlmodel import select

from backend.errors import ErrorCode, MedAIError
from backend.models import Tenant
from backend.services.identity.access import Principal, authorize, may, require_interactive, require_member
from backend.services.identity.permissions import TENANT_ROLES, Action, Area, Role, allowed
from tests.unit.identity_world import add_tenant, events


@pytest.fixture
def tenants(runtime):
    return add_tenant(runtime, "ruijin"), add_tenant(runtime, "huashan")


def member(tenant, role, **kw) -> Principal:
    return Principal(user_id=f"u-{role}", label=f"{role}@ruijin.cn", tenant_id=tenant.id, role=role, **kw)


def refused(runtime, principal, area, action, tenant_id=None) -> MedAIError:
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        authorize(session, principal, area, action, tenant_id)
    assert caught.value.code is ErrorCode.FORBIDDEN and caught.value.http_status == 403
    return caught.value


def last_denial(runtime):
    denied = [e for e in events(runtime) if e.outcome == "denied"]
    assert denied, "the refusal left no audit row"
    return denied[-1]


@pytest.mark.parametrize("role", TENANT_ROLES)
def test_may_follows_the_matrix_for_every_cell(runtime, tenants, role):
    ruijin, _ = tenants
    principal = member(ruijin, role.value)
    with runtime.session() as session:
        for area in Area:
            for action in Action:
                expected = allowed(role, area, action) and area is not Area.PLATFORM
                assert may(session, principal, area, action) is expected, (role, area, action)
    assert events(runtime) == []  # may() decides without writing anything


@pytest.mark.parametrize(
    ("role", "area", "action"),
    [
        (Role.TENANT_OWNER, Area.MEMBERS, Action.APPROVE),
        (Role.TENANT_ADMIN, Area.AUDIT, Action.VIEW),
        (Role.DEVELOPER, Area.TRAINING, Action.CREATE),
        (Role.CLINICIAN, Area.OPS, Action.CREATE),
        (Role.VIEWER, Area.ASSETS, Action.VIEW),
    ],
)
def test_authorize_allows_what_the_matrix_grants_and_returns_the_tenant(runtime, tenants, role, area, action):
    ruijin, _ = tenants
    with runtime.session() as session:
        assert authorize(session, member(ruijin, role.value), area, action) == ruijin.id
        assert authorize(session, member(ruijin, role.value), area, action, ruijin.id) == ruijin.id
    assert events(runtime) == []


@pytest.mark.parametrize(
    ("role", "area", "action"),
    [
        (Role.TENANT_ADMIN, Area.MEMBERS, Action.APPROVE),
        (Role.DEVELOPER, Area.AUDIT, Action.VIEW),
        (Role.CLINICIAN, Area.TRAINING, Action.VIEW),
        (Role.VIEWER, Area.SERVING, Action.DEPLOY),
        (Role.TENANT_OWNER, Area.PLATFORM, Action.VIEW),
    ],
)
def test_authorize_refuses_what_the_matrix_does_not_grant(runtime, tenants, role, area, action):
    ruijin, _ = tenants
    principal = member(ruijin, role.value, client_address="10.1.2.3")
    error = refused(runtime, principal, area, action)
    row = last_denial(runtime)
    assert (row.action, row.actor_id, row.actor_label, row.tenant_id, row.client_address) == (
        f"{area.value}.{action.value}",
        principal.user_id,
        principal.label,
        ruijin.id,
        "10.1.2.3",
    )
    reason = "platform_admin_only" if area is Area.PLATFORM else "role"
    assert row.detail == {"reason": reason}
    assert error.remedy  # the user is told what to do


def test_a_denial_stays_in_the_audit_trail_although_the_callers_transaction_rolls_back(runtime, tenants):
    ruijin, _ = tenants
    viewer = member(ruijin, "viewer")

    def service_that_writes_after_checking(session) -> None:
        authorize(session, viewer, Area.MEMBERS, Action.CREATE)
        session.add(Tenant(slug="never-written", name="Never written"))  # not reached

    with pytest.raises(MedAIError), runtime.session() as session:
        service_that_writes_after_checking(session)
    with pytest.raises(RuntimeError), runtime.session() as session:  # a later failure in the same request
        session.add(Tenant(slug="rolled-back", name="Rolled back"))
        session.flush()
        raise RuntimeError("something else failed")
    row = last_denial(runtime)
    assert (row.action, row.outcome, row.detail["reason"], row.tenant_id) == (
        "members.create",
        "denied",
        "role",
        ruijin.id,
    )
    with runtime.session() as session:
        assert session.get(Tenant, ruijin.id) is not None
        slugs = set(session.exec(select(Tenant.slug)).all())
    assert slugs == {"ruijin", "huashan"}


def test_another_tenants_target_is_refused_even_for_its_owner_role(runtime, tenants):
    ruijin, huashan = tenants
    owner = member(ruijin, "tenant_owner")
    refused(runtime, owner, Area.MEMBERS, Action.VIEW, huashan.id)
    row = last_denial(runtime)
    assert (row.detail["reason"], row.tenant_id) == ("other_tenant", huashan.id)  # huashan's admins see the attempt
    with runtime.session() as session:
        assert not may(session, owner, Area.MEMBERS, Action.VIEW, huashan.id)


def test_a_principal_outside_any_tenant_is_refused(runtime, tenants):
    nowhere = Principal(user_id="u1", label="lost@x.cn", tenant_id=None, role=None)
    refused(runtime, nowhere, Area.ASSETS, Action.VIEW)
    assert last_denial(runtime).detail["reason"] == "other_tenant"
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        require_member(session, nowhere, "api_key.create")
    assert caught.value.code is ErrorCode.FORBIDDEN


def test_a_suspended_tenant_refuses_its_members(runtime, tenants):
    ruijin, _ = tenants
    with runtime.session() as session:
        row = session.get(Tenant, ruijin.id)
        row.status = "suspended"
        session.add(row)
    owner = member(ruijin, "tenant_owner")
    refused(runtime, owner, Area.ASSETS, Action.VIEW)
    assert last_denial(runtime).detail["reason"] == "tenant_suspended"
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        require_member(session, owner, "api_key.create")
    assert caught.value.code is ErrorCode.FORBIDDEN
    assert (last_denial(runtime).action, last_denial(runtime).detail["reason"]) == (
        "api_key.create",
        "tenant_suspended",
    )


def test_must_change_password_blocks_everything_even_a_platform_admin(runtime, tenants):
    ruijin, _ = tenants
    for principal in (
        member(ruijin, "tenant_owner", must_change_password=True),
        Principal(user_id="root", label="root@x.cn", is_platform_admin=True, must_change_password=True),
    ):
        with runtime.session() as session:
            assert not any(may(session, principal, area, action) for area in Area for action in Action)
        refused(runtime, principal, Area.SPACE, Action.VIEW)
        assert last_denial(runtime).detail["reason"] == "password_change_required"
        with pytest.raises(MedAIError) as caught, runtime.session() as session:
            require_member(session, principal, "api_key.create")
        assert caught.value.code is ErrorCode.FORBIDDEN
        assert last_denial(runtime).detail["reason"] == "password_change_required"


def test_a_keys_scopes_cap_what_its_role_allows(runtime, tenants):
    ruijin, _ = tenants
    key = member(ruijin, "tenant_owner", scopes=frozenset({"members:read"}), api_key_id="k1")
    with runtime.session() as session:
        assert authorize(session, key, Area.MEMBERS, Action.VIEW) == ruijin.id
    refused(runtime, key, Area.MEMBERS, Action.CREATE)  # the owner role could; the scope cannot
    assert last_denial(runtime).detail == {"reason": "scope", "api_key": "k1"}
    refused(runtime, key, Area.AUDIT, Action.VIEW)
    # a scope never lifts a role: a viewer's key with audit:read still cannot read the audit trail
    viewer_key = member(ruijin, "viewer", scopes=frozenset({"audit:read"}), api_key_id="k2")
    refused(runtime, viewer_key, Area.AUDIT, Action.VIEW)
    assert last_denial(runtime).detail == {"reason": "role", "api_key": "k2"}
    # an empty scope set allows nothing (it is not "no cap")
    bare = member(ruijin, "tenant_owner", scopes=frozenset(), api_key_id="k3")
    with runtime.session() as session:
        assert not any(may(session, bare, area, action) for area in Area for action in Action)


def test_scopes_cap_even_platform_rights(runtime, tenants):
    admin_key = Principal(user_id="root", label="root", is_platform_admin=True, scopes=frozenset({"logs:read"}))
    refused(runtime, admin_key, Area.PLATFORM, Action.VIEW)
    assert last_denial(runtime).detail["reason"] == "scope"


def test_require_interactive_refuses_api_keys_and_audits(runtime, tenants):
    ruijin, _ = tenants
    person = member(ruijin, "tenant_owner")
    key = dataclasses.replace(person, scopes=frozenset({"members:read"}), api_key_id="k9")
    with runtime.session() as session:
        require_interactive(session, person, "api_key.create")
    assert events(runtime) == []
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        require_interactive(session, key, "api_key.create")
    assert caught.value.code is ErrorCode.FORBIDDEN
    row = last_denial(runtime)
    assert (row.action, row.detail) == ("api_key.create", {"reason": "interactive_only", "api_key": "k9"})


def test_a_platform_admin_acts_anywhere(runtime, tenants):
    ruijin, huashan = tenants
    with runtime.session() as session:
        row = session.get(Tenant, huashan.id)
        row.status = "suspended"
        session.add(row)
    admin = Principal(user_id="root", label="root@x.cn", is_platform_admin=True, tenant_id=ruijin.id)
    with runtime.session() as session:
        assert authorize(session, admin, Area.PLATFORM, Action.DELETE) == ruijin.id
        assert authorize(session, admin, Area.MEMBERS, Action.APPROVE, huashan.id) == huashan.id  # suspended too
        assert authorize(session, dataclasses.replace(admin, tenant_id=None), Area.PLATFORM, Action.CREATE) is None
        assert require_member(session, admin, "api_key.create") == ruijin.id  # no membership needed
    assert events(runtime) == []


def test_require_member_accepts_any_role_of_the_tenant(runtime, tenants):
    ruijin, _ = tenants
    with runtime.session() as session:
        for role in TENANT_ROLES:
            assert require_member(session, member(ruijin, role.value), "api_key.create") == ruijin.id
    with pytest.raises(MedAIError), runtime.session() as session:
        require_member(session, member(ruijin, None), "api_key.create")
    assert last_denial(runtime).detail["reason"] == "role"


def test_a_made_up_overlong_tenant_id_is_refused_and_recorded_in_the_detail(runtime, tenants):
    ruijin, _ = tenants
    made_up = "x" * 200  # would not fit the audit trail's tenant column (MySQL refuses the row)
    refused(runtime, member(ruijin, "tenant_owner"), Area.AUDIT, Action.VIEW, made_up)
    row = last_denial(runtime)
    assert (row.tenant_id, row.detail["reason"], row.detail["requested_tenant"]) == (
        ruijin.id,
        "other_tenant",
        made_up[:128],
    )
