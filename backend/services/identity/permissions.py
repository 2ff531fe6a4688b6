"""Who may do what: one role × area × action matrix, checked in the service layer.

The admin page shows this same table read-only; the UI may hide what a role cannot do,
but only ``authorize`` decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"  # every tenant, and the platform itself
    TENANT_OWNER = "tenant_owner"
    TENANT_ADMIN = "tenant_admin"
    DEVELOPER = "developer"
    CLINICIAN = "clinician"  # uses published agents and models, reads results
    VIEWER = "viewer"


class Area(StrEnum):
    SPACE = "space"
    TRAINING = "training"
    SERVING = "serving"
    ASSETS = "assets"
    ORCHESTRATION = "orchestration"
    OPS = "ops"
    AGENTS = "agents"
    KNOWLEDGE = "knowledge"
    MEMBERS = "members"  # the tenant's members, roles and tenant API keys
    AUDIT = "audit"
    PLATFORM = "platform"  # tenants and users across the platform


class Action(StrEnum):
    VIEW = "view"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    DEPLOY = "deploy"
    APPROVE = "approve"


_ALL = frozenset(Action)
_EDIT = frozenset({Action.VIEW, Action.CREATE, Action.UPDATE, Action.DELETE})
_VIEW = frozenset({Action.VIEW})
_TENANT_AREAS = frozenset(Area) - {Area.PLATFORM}
_WORK_AREAS = _TENANT_AREAS - {Area.MEMBERS, Area.AUDIT}


def _grants(**areas: frozenset[Action]) -> dict[Area, frozenset[Action]]:
    return {Area(name): actions for name, actions in areas.items()}


MATRIX: dict[Role, dict[Area, frozenset[Action]]] = {
    Role.PLATFORM_ADMIN: {area: _ALL for area in Area},
    Role.TENANT_OWNER: {area: _ALL for area in _TENANT_AREAS},
    Role.TENANT_ADMIN: {
        **{area: _ALL for area in _WORK_AREAS},
        Area.MEMBERS: _EDIT,  # cannot approve: granting owner or admin stays with owners
        Area.AUDIT: _VIEW,
    },
    Role.DEVELOPER: {
        **{area: _EDIT for area in _WORK_AREAS},
        Area.SERVING: _EDIT | {Action.DEPLOY},
        Area.TRAINING: _EDIT | {Action.DEPLOY},
        Area.ORCHESTRATION: _VIEW | {Action.CREATE},
        Area.MEMBERS: _VIEW,
    },
    Role.CLINICIAN: _grants(serving=_VIEW, assets=_VIEW, agents=_VIEW, knowledge=_VIEW, ops=_VIEW | {Action.CREATE}),
    Role.VIEWER: {area: _VIEW for area in _WORK_AREAS},
}

# Roles a membership may carry; platform admin is a property of the user, not of a membership.
TENANT_ROLES: tuple[Role, ...] = (Role.TENANT_OWNER, Role.TENANT_ADMIN, Role.DEVELOPER, Role.CLINICIAN, Role.VIEWER)


# API-key scopes (source §3.4) and the (area, action) pairs each one opens. A key never
# does more than its scopes, and a personal key never more than its owner's role.
_Grant = frozenset[tuple[Area, Action]]
SCOPES: dict[str, _Grant] = {
    "models:invoke": frozenset({(Area.SERVING, Action.VIEW)}),
    "models:read": frozenset({(Area.ASSETS, Action.VIEW), (Area.SERVING, Action.VIEW)}),
    "agents:invoke": frozenset({(Area.AGENTS, Action.VIEW)}),
    "knowledge:read": frozenset({(Area.KNOWLEDGE, Action.VIEW)}),
    "knowledge:write": frozenset({(Area.KNOWLEDGE, a) for a in _EDIT}),  # manage bases, import documents
    "jobs:write": frozenset(
        {(Area.TRAINING, a) for a in (Action.VIEW, Action.CREATE, Action.UPDATE)}
        | {(Area.ORCHESTRATION, Action.VIEW), (Area.ORCHESTRATION, Action.CREATE)}
    ),
    "logs:read": frozenset({(Area.OPS, Action.VIEW)}),
    # workbenches: list, create, start and stop them, install packages (approvals stay with people)
    "workbenches:write": frozenset({(Area.SPACE, a) for a in (Action.VIEW, Action.CREATE, Action.UPDATE)}),
    "members:read": frozenset({(Area.MEMBERS, Action.VIEW)}),
    "audit:read": frozenset({(Area.AUDIT, Action.VIEW)}),
}


def allowed(role: Role | str | None, area: Area, action: Action) -> bool:
    if role is None:
        return False
    return action in MATRIX.get(Role(role), {}).get(area, frozenset())


@dataclass(frozen=True)
class MatrixRow:
    role: str
    area: str
    actions: dict[str, bool]


def matrix_rows() -> list[MatrixRow]:
    """The whole matrix as rows for the read-only admin page."""
    return [
        MatrixRow(role.value, area.value, {action.value: allowed(role, area, action) for action in Action})
        for role in Role
        for area in Area
    ]
