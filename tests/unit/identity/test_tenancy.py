"""Tenants, members and users: who may change what, and the audit trail every change leaves."""

import pytest
from sqlmodel import select

from backend.errors import ErrorCode, MedAIError
from backend.models import AuditEvent, Membership, Tenant, User, UserSession
from backend.services.identity import tenancy
from backend.services.identity import users as identity
from backend.services.identity.access import Principal
from tests.unit.identity_world import PASSWORD, add_tenant, add_user, events, sign


@pytest.fixture
def admin(runtime) -> Principal:
    return sign(runtime, add_user(runtime, "root@medai.local", platform_admin=True))[1]


@pytest.fixture
def world(runtime):
    """Ruijin with an owner, an admin and a developer; Huashan with its owner."""
    ruijin, huashan = add_tenant(runtime, "ruijin", "Ruijin Hospital"), add_tenant(runtime, "huashan", "Huashan")
    people = {
        "owner": add_user(runtime, "owner@ruijin.cn", [(ruijin, "tenant_owner")]),
        "admin": add_user(runtime, "admin@ruijin.cn", [(ruijin, "tenant_admin")]),
        "dev": add_user(runtime, "dev@ruijin.cn", [(ruijin, "developer")]),
        "both": add_user(runtime, "both@ruijin.cn", [(ruijin, "developer"), (huashan, "developer")]),
        "h_owner": add_user(runtime, "owner@huashan.cn", [(huashan, "tenant_owner")]),
    }
    return ruijin, huashan, people


def as_(runtime, user, tenant=None) -> Principal:
    return sign(runtime, user, tenant)[1]


def fails(runtime, code, call, *args, **kwargs) -> MedAIError:
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        call(session, *args, **kwargs)
    assert caught.value.code is code, caught.value
    return caught.value


def role_of(runtime, user, tenant) -> str | None:
    with runtime.session() as session:
        return session.exec(
            select(Membership.role).where(Membership.user_id == user.id, Membership.tenant_id == tenant.id)
        ).first()


# tenants ---------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["ab", "-ruijin", "ruijin-", "rui jin", "ruijin_card", "瑞金医院", "x" * 65, ""])
def test_a_bad_short_name_is_refused(runtime, admin, slug):
    error = fails(runtime, ErrorCode.DATA_INVALID, tenancy.create_tenant, admin, slug, "Ruijin")
    assert "lowercase" in error.remedy
    with runtime.session() as session:
        assert session.exec(select(Tenant)).all() == []


def test_a_platform_admin_creates_a_tenant_once(runtime, admin):
    with runtime.session() as session:
        tenant = tenancy.create_tenant(session, admin, "  Ruijin-Cardio ", " Ruijin Cardiology ")
    assert (tenant.slug, tenant.name, tenant.status) == ("ruijin-cardio", "Ruijin Cardiology", "active")
    fails(runtime, ErrorCode.CONFLICT, tenancy.create_tenant, admin, "ruijin-cardio", "Another")
    fails(runtime, ErrorCode.DATA_INVALID, tenancy.create_tenant, admin, "other", "   ")
    row = events(runtime, "tenant.create")[-1]
    assert (row.actor_id, row.tenant_id, row.target_type, row.target_id, row.outcome) == (
        admin.user_id,
        tenant.id,
        "tenant",
        tenant.id,
        "ok",
    )
    with runtime.session() as session:
        assert [t.slug for t in session.exec(select(Tenant)).all()] == ["ruijin-cardio"]


def test_only_a_platform_admin_creates_or_suspends_tenants(runtime, world):
    ruijin, _, people = world
    owner = as_(runtime, people["owner"])
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.create_tenant, owner, "mine", "Mine")
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.set_tenant_status, owner, ruijin.id, "suspended")
    with runtime.session() as session:
        assert session.get(Tenant, ruijin.id).status == "active"
    assert [e.detail["reason"] for e in events(runtime) if e.outcome == "denied"] == ["platform_admin_only"] * 2


def test_a_suspended_tenant_stops_its_members_until_reactivated(runtime, admin, world):
    ruijin, huashan, people = world
    owner = as_(runtime, people["owner"])
    with runtime.session() as session:
        tenancy.set_tenant_status(session, admin, ruijin.id, "suspended")
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.list_members, owner, ruijin.id)
    fails(runtime, ErrorCode.DATA_INVALID, tenancy.set_tenant_status, admin, ruijin.id, "deleted")
    fails(runtime, ErrorCode.NOT_FOUND, tenancy.set_tenant_status, admin, "no-such-tenant", "active")
    # a new sign-in lands in a tenant that still works
    assert as_(runtime, people["both"]).tenant_id == huashan.id
    with runtime.session() as session:
        tenancy.set_tenant_status(session, admin, ruijin.id, "active")
        assert len(tenancy.list_members(session, owner, ruijin.id)) == 4
    assert [(e.action, e.target_id, e.tenant_id) for e in events(runtime) if e.action.startswith("tenant.")] == [
        ("tenant.suspend", ruijin.id, ruijin.id),
        ("tenant.activate", ruijin.id, ruijin.id),
    ]


def test_people_see_their_own_tenants_and_a_platform_admin_every_one(runtime, admin, world):
    _, _, people = world
    with runtime.session() as session:
        mine = tenancy.list_tenants(session, as_(runtime, people["dev"]))
        both = tenancy.list_tenants(session, as_(runtime, people["both"]))
        every = tenancy.list_tenants(session, admin)
    assert [(t.slug, t.members) for t in mine] == [("ruijin", 4)]
    assert {t.slug for t in both} == {t.slug for t in every} == {"ruijin", "huashan"}
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.list_users, as_(runtime, people["owner"]))
    with runtime.session() as session:
        users = {u.email: u for u in tenancy.list_users(session, admin)}
    assert users["both@ruijin.cn"].tenants == ("huashan", "ruijin")
    assert users["root@medai.local"].is_platform_admin and users["root@medai.local"].tenants == ()


# members ---------------------------------------------------------------------------------


def test_inviting_a_new_person_gives_a_temporary_password_that_must_be_changed(runtime, world):
    ruijin, _, people = world
    owner = as_(runtime, people["owner"])
    with runtime.session() as session:
        invitation = tenancy.invite_member(
            session, owner, ruijin.id, " Nurse.Wang@Ruijin.cn ", "Nurse Wang", "clinician"
        )
    assert invitation.email == "nurse.wang@ruijin.cn" and invitation.temporary_password
    with runtime.session() as session:
        stored = session.get(User, invitation.user_id)
        assert stored.must_change_password and invitation.temporary_password not in stored.password_hash
        user = identity.authenticate(session, invitation.email, invitation.temporary_password)
    token, first = sign(runtime, user)
    assert (first.tenant_id, first.role, first.must_change_password) == (ruijin.id, "clinician", True)
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.list_members, first, ruijin.id)  # nothing before the change
    with runtime.session() as session:
        identity.change_password(session, first, token, invitation.temporary_password, "a new long password")
    with runtime.session() as session:
        assert not identity.resolve_session(session, token).must_change_password
    fails(runtime, ErrorCode.UNAUTHENTICATED, identity.authenticate, invitation.email, invitation.temporary_password)
    creates = [(e.action, e.actor_id, e.tenant_id, e.target_id) for e in events(runtime) if e.action == "user.create"]
    assert creates == [("user.create", owner.user_id, ruijin.id, invitation.user_id)]
    assert invitation.temporary_password not in str([e.detail for e in events(runtime)])


def test_inviting_someone_who_has_an_account_only_adds_the_membership(runtime, world, admin):
    ruijin, huashan, people = world
    h_owner = as_(runtime, people["h_owner"])
    # another tenant's staff cannot be pulled in by this tenant's own owner
    denied = fails(
        runtime, ErrorCode.FORBIDDEN, tenancy.invite_member, h_owner, huashan.id, "dev@ruijin.cn", "", "viewer"
    )
    assert "platform admin" in denied.remedy and role_of(runtime, people["dev"], huashan) is None
    with runtime.session() as session:
        invitation = tenancy.invite_member(session, admin, huashan.id, "dev@ruijin.cn", "ignored", "viewer")
    assert (invitation.user_id, invitation.temporary_password) == (people["dev"].id, None)
    assert role_of(runtime, people["dev"], huashan) == "viewer"
    assert role_of(runtime, people["dev"], ruijin) == "developer"
    with runtime.session() as session:
        assert session.get(User, people["dev"].id).password_hash == people["dev"].password_hash
    error = fails(
        runtime, ErrorCode.CONFLICT, tenancy.invite_member, h_owner, huashan.id, "dev@ruijin.cn", "", "viewer"
    )
    assert "already a member" in error.message
    fails(runtime, ErrorCode.DATA_INVALID, tenancy.invite_member, h_owner, huashan.id, "not-an-address", "", "viewer")
    fails(runtime, ErrorCode.DATA_INVALID, tenancy.invite_member, h_owner, huashan.id, "x@h.cn", "", "superuser")
    assert not events(runtime, "user.create")


def test_a_tenant_admin_invites_developers_but_not_admins_or_owners(runtime, world):
    ruijin, _, people = world
    tenant_admin = as_(runtime, people["admin"])
    with runtime.session() as session:
        tenancy.invite_member(session, tenant_admin, ruijin.id, "new.dev@ruijin.cn", "", "developer")
    for role in ("tenant_admin", "tenant_owner"):
        fails(runtime, ErrorCode.FORBIDDEN, tenancy.invite_member, tenant_admin, ruijin.id, f"{role}@r.cn", "", role)
        fails(runtime, ErrorCode.FORBIDDEN, tenancy.set_member_role, tenant_admin, ruijin.id, people["dev"].id, role)
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.set_member_role, tenant_admin, ruijin.id, people["owner"].id, "viewer")
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.remove_member, tenant_admin, ruijin.id, people["owner"].id)
    with runtime.session() as session:
        tenancy.set_member_role(session, tenant_admin, ruijin.id, people["dev"].id, "viewer")
        emails = {m.email for m in tenancy.list_members(session, tenant_admin, ruijin.id)}
    assert "new.dev@ruijin.cn" in emails and not emails & {"tenant_admin@r.cn", "tenant_owner@r.cn"}
    assert role_of(runtime, people["owner"], ruijin) == "tenant_owner"
    assert role_of(runtime, people["dev"], ruijin) == "viewer"
    denied = [e.action for e in events(runtime) if e.outcome == "denied"]
    assert set(denied) == {"members.approve"} and len(denied) == 6
    # a developer manages nobody
    developer = as_(runtime, people["both"], ruijin)
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.invite_member, developer, ruijin.id, "x@ruijin.cn", "", "viewer")


def test_an_owner_grants_admin_and_owner(runtime, world):
    ruijin, _, people = world
    owner = as_(runtime, people["owner"])
    with runtime.session() as session:
        tenancy.set_member_role(session, owner, ruijin.id, people["dev"].id, "tenant_owner")
        tenancy.set_member_role(session, owner, ruijin.id, people["admin"].id, "developer")
    assert role_of(runtime, people["dev"], ruijin) == "tenant_owner"
    assert role_of(runtime, people["admin"], ruijin) == "developer"
    row = events(runtime, "member.role")[0]
    assert (row.actor_id, row.tenant_id, row.target_id, row.detail) == (
        owner.user_id,
        ruijin.id,
        people["dev"].id,
        {"before": "developer", "after": "tenant_owner"},
    )


def test_the_last_owner_cannot_be_demoted_or_removed(runtime, world):
    ruijin, _, people = world
    owner = as_(runtime, people["owner"])
    fails(runtime, ErrorCode.CONFLICT, tenancy.set_member_role, owner, ruijin.id, owner.user_id, "tenant_admin")
    fails(runtime, ErrorCode.CONFLICT, tenancy.remove_member, owner, ruijin.id, owner.user_id)
    assert role_of(runtime, people["owner"], ruijin) == "tenant_owner"
    with runtime.session() as session:  # with a second owner, the first may step down
        tenancy.set_member_role(session, owner, ruijin.id, people["dev"].id, "tenant_owner")
        tenancy.set_member_role(session, owner, ruijin.id, owner.user_id, "tenant_admin")
    assert role_of(runtime, people["owner"], ruijin) == "tenant_admin"


def test_removing_a_member_cuts_their_open_sessions_off_the_tenant(runtime, world):
    ruijin, huashan, people = world
    owner = as_(runtime, people["owner"])
    token, both = sign(runtime, people["both"], ruijin)
    assert both.tenant_id == ruijin.id
    with runtime.session() as session:
        tenancy.remove_member(session, owner, ruijin.id, people["both"].id)
    with runtime.session() as session:
        after = identity.resolve_session(session, token)
    assert (after.tenant_id, after.role) == (None, None)
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.list_members, after, ruijin.id)
    assert role_of(runtime, people["both"], huashan) == "developer"  # other memberships stay
    fails(runtime, ErrorCode.NOT_FOUND, tenancy.remove_member, owner, ruijin.id, people["both"].id)
    row = events(runtime, "member.remove")[0]
    assert (row.actor_id, row.tenant_id, row.target_id, row.outcome) == (owner.user_id, ruijin.id, both.user_id, "ok")


# users -----------------------------------------------------------------------------------


def test_a_tenant_admin_manages_only_people_who_belong_solely_to_their_tenant(runtime, world):
    ruijin, _, people = world
    tenant_admin = as_(runtime, people["admin"])
    with runtime.session() as session:
        dev = session.get(User, people["dev"].id)
        dev.mfa_enabled = True
        session.add(dev)
    with runtime.session() as session:
        tenancy.reset_mfa(session, tenant_admin, people["dev"].id)
        tenancy.set_user_status(session, tenant_admin, people["dev"].id, "disabled")
    for other in ("both", "h_owner"):  # in another tenant too, or only there
        for call, arg in ((tenancy.reset_mfa, ()), (tenancy.set_user_status, ("disabled",))):
            error = fails(runtime, ErrorCode.NOT_FOUND, call, tenant_admin, people[other].id, *arg)
            assert people[other].email not in error.message
    fails(runtime, ErrorCode.NOT_FOUND, tenancy.reset_mfa, tenant_admin, "no-such-user")
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.set_user_status, tenant_admin, tenant_admin.user_id, "disabled")
    with runtime.session() as session:
        statuses = {u.email: (u.status, u.mfa_enabled) for u in session.exec(select(User)).all()}
    assert statuses["dev@ruijin.cn"] == ("disabled", False)
    assert (
        statuses["both@ruijin.cn"] == statuses["owner@huashan.cn"] == statuses["admin@ruijin.cn"] == ("active", False)
    )
    rows = [(e.action, e.actor_id, e.tenant_id, e.target_id) for e in events(runtime) if e.outcome == "ok"]
    assert rows[-2:] == [
        ("user.reset_mfa", tenant_admin.user_id, ruijin.id, people["dev"].id),
        ("user.disable", tenant_admin.user_id, ruijin.id, people["dev"].id),
    ]


def test_a_tenant_admin_cannot_disable_or_reset_an_owner_or_another_admin(runtime, world):
    ruijin, _, people = world
    with runtime.session() as session:
        tenancy.invite_member(session, as_(runtime, people["owner"]), ruijin.id, "admin2@ruijin.cn", "", "tenant_admin")
        second_admin = session.exec(select(User).where(User.email == "admin2@ruijin.cn")).one()
    tenant_admin = as_(runtime, people["admin"])
    for target in (people["owner"].id, second_admin.id):
        fails(runtime, ErrorCode.FORBIDDEN, tenancy.set_user_status, tenant_admin, target, "disabled")
        fails(runtime, ErrorCode.FORBIDDEN, tenancy.reset_mfa, tenant_admin, target)
    with runtime.session() as session:
        assert session.get(User, people["owner"].id).status == "active"
        tenancy.set_user_status(session, as_(runtime, people["owner"]), second_admin.id, "disabled")  # owners may
        assert session.get(User, second_admin.id).status == "disabled"


def test_a_platform_admin_manages_anyone_and_disabling_ends_their_sessions(runtime, admin, world):
    _, _, people = world
    token, _ = sign(runtime, people["both"])
    with runtime.session() as session:
        row = session.get(User, people["both"].id)
        row.failed_logins, row.mfa_enabled = 3, True
        session.add(row)
    with runtime.session() as session:
        tenancy.reset_mfa(session, admin, people["both"].id)
        tenancy.set_user_status(session, admin, people["both"].id, "disabled")
    fails(runtime, ErrorCode.UNAUTHENTICATED, identity.resolve_session, token)
    with runtime.session() as session:
        theirs = session.exec(select(UserSession).where(UserSession.user_id == people["both"].id)).all()
    assert theirs and all(row.revoked_at is not None for row in theirs)
    fails(runtime, ErrorCode.UNAUTHENTICATED, identity.authenticate, "both@ruijin.cn", PASSWORD)
    with runtime.session() as session:
        tenancy.set_user_status(session, admin, people["both"].id, "active")
        user = identity.authenticate(session, "both@ruijin.cn", PASSWORD)
    assert (user.status, user.failed_logins, user.mfa_enabled) == ("active", 0, False)
    fails(runtime, ErrorCode.CONFLICT, tenancy.set_user_status, admin, admin.user_id, "disabled")
    fails(runtime, ErrorCode.DATA_INVALID, tenancy.set_user_status, admin, people["dev"].id, "deleted")


def test_every_write_leaves_an_audit_row_with_who_where_what_and_how(runtime, admin, world):
    ruijin, _, people = world
    owner = as_(runtime, people["owner"])
    before = len(events(runtime))
    with runtime.session() as session:
        tenant = tenancy.create_tenant(session, admin, "zhongshan", "Zhongshan")
        invitation = tenancy.invite_member(session, admin, tenant.id, "boss@zs.cn", "", "tenant_owner")
        tenancy.set_tenant_status(session, admin, tenant.id, "suspended")
        tenancy.set_member_role(session, owner, ruijin.id, people["dev"].id, "viewer")
        tenancy.remove_member(session, owner, ruijin.id, people["dev"].id)
        tenancy.reset_mfa(session, owner, people["admin"].id)
        tenancy.set_user_status(session, owner, people["admin"].id, "disabled")
    with runtime.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id)).all()
    assert [(r.action, r.actor_id, r.tenant_id, r.target_type, r.target_id, r.outcome) for r in rows] == [
        ("tenant.create", admin.user_id, tenant.id, "tenant", tenant.id, "ok"),
        ("user.create", admin.user_id, tenant.id, "user", invitation.user_id, "ok"),
        ("member.add", admin.user_id, tenant.id, "user", invitation.user_id, "ok"),
        ("tenant.suspend", admin.user_id, tenant.id, "tenant", tenant.id, "ok"),
        ("member.role", owner.user_id, ruijin.id, "user", people["dev"].id, "ok"),
        ("member.remove", owner.user_id, ruijin.id, "user", people["dev"].id, "ok"),
        ("user.reset_mfa", owner.user_id, ruijin.id, "user", people["admin"].id, "ok"),
        ("user.disable", owner.user_id, ruijin.id, "user", people["admin"].id, "ok"),
    ]
    assert all(r.actor_label and r.client_address == "10.0.0.1" for r in rows)


def test_members_are_listed_only_with_the_view_right(runtime, world):
    ruijin, _, people = world
    with runtime.session() as session:
        members = tenancy.list_members(session, as_(runtime, people["dev"]), ruijin.id)
    assert [(m.email, m.role) for m in members] == [
        ("admin@ruijin.cn", "tenant_admin"),
        ("both@ruijin.cn", "developer"),
        ("dev@ruijin.cn", "developer"),
        ("owner@ruijin.cn", "tenant_owner"),
    ]
    with runtime.session() as session:
        membership = session.exec(select(Membership).where(Membership.user_id == people["dev"].id)).one()
        membership.role = "clinician"  # clinicians have no view of the members area
        session.add(membership)
    fails(runtime, ErrorCode.FORBIDDEN, tenancy.list_members, as_(runtime, people["dev"]), ruijin.id)
