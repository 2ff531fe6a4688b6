import pytest

from backend.services.identity.permissions import TENANT_ROLES, Action, Area, Role, allowed, matrix_rows


@pytest.mark.parametrize(
    ("role", "area", "action", "expected"),
    [
        (Role.PLATFORM_ADMIN, Area.PLATFORM, Action.DELETE, True),
        (Role.TENANT_OWNER, Area.PLATFORM, Action.VIEW, False),
        (Role.TENANT_OWNER, Area.MEMBERS, Action.APPROVE, True),
        (Role.TENANT_ADMIN, Area.MEMBERS, Action.APPROVE, False),
        (Role.TENANT_ADMIN, Area.MEMBERS, Action.CREATE, True),
        (Role.TENANT_ADMIN, Area.AUDIT, Action.VIEW, True),
        (Role.DEVELOPER, Area.TRAINING, Action.CREATE, True),
        (Role.DEVELOPER, Area.SERVING, Action.DEPLOY, True),
        (Role.DEVELOPER, Area.MEMBERS, Action.CREATE, False),
        (Role.DEVELOPER, Area.AUDIT, Action.VIEW, False),
        (Role.DEVELOPER, Area.SPACE, Action.APPROVE, False),
        (Role.CLINICIAN, Area.AGENTS, Action.VIEW, True),
        (Role.CLINICIAN, Area.AGENTS, Action.CREATE, False),
        (Role.CLINICIAN, Area.TRAINING, Action.VIEW, False),
        (Role.VIEWER, Area.ASSETS, Action.VIEW, True),
        (Role.VIEWER, Area.ASSETS, Action.UPDATE, False),
    ],
)
def test_matrix(role, area, action, expected):
    assert allowed(role, area, action) is expected


def test_no_role_allows_nothing():
    assert not any(allowed(None, area, action) for area in Area for action in Action)


@pytest.mark.parametrize(
    ("stronger", "weaker"),
    [
        (Role.PLATFORM_ADMIN, Role.TENANT_OWNER),
        (Role.TENANT_OWNER, Role.TENANT_ADMIN),
        (Role.TENANT_ADMIN, Role.DEVELOPER),
        (Role.DEVELOPER, Role.CLINICIAN),
        (Role.DEVELOPER, Role.VIEWER),
    ],
)
def test_a_stronger_role_can_do_all_a_weaker_one_can(stronger, weaker):
    for area in Area:
        for action in Action:
            if allowed(weaker, area, action):
                assert allowed(stronger, area, action), (area, action)


def test_rows_cover_every_cell():
    rows = matrix_rows()
    assert len(rows) == len(Role) * len(Area)
    assert all(set(row.actions) == {a.value for a in Action} for row in rows)


def test_platform_admin_is_not_a_membership_role():
    assert Role.PLATFORM_ADMIN not in TENANT_ROLES
