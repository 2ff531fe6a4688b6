"""/api/audit (filtered pages and CSV) and /api/permissions (the role matrix and key scopes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel

from backend.api.auth import CurrentPrincipal
from backend.api.dependencies import SessionDep
from backend.services.identity import audit_log
from backend.services.identity.permissions import SCOPES, matrix_rows

router = APIRouter(prefix="/api", tags=["audit"])


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor_label: str
    tenant_id: str | None
    action: str
    target_type: str
    target_id: str
    outcome: str
    client_address: str
    detail: dict[str, Any]


class AuditPage(BaseModel):
    total: int
    events: list[AuditEventOut]


class PermissionRow(BaseModel):
    role: str
    area: str
    actions: dict[str, bool]


class Permissions(BaseModel):
    matrix: list[PermissionRow]
    scopes: dict[str, list[str]]


def _filter(
    tenant_id: str | None = None,
    action: str = "",
    actor: str = "",
    outcome: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> audit_log.AuditFilter:
    return audit_log.AuditFilter(tenant_id, action, actor, outcome, since, until)


Filter = Annotated[audit_log.AuditFilter, Depends(_filter)]


@router.get("/audit", response_model=AuditPage)
def get_audit(
    wanted: Filter, principal: CurrentPrincipal, session: SessionDep, limit: int = 100, offset: int = 0
) -> AuditPage:
    """Audit events, newest first. Tenant admins see their tenant; platform admins any."""
    events, total = audit_log.search(session, principal, wanted, limit, offset)
    return AuditPage(total=total, events=[AuditEventOut.model_validate(e, from_attributes=True) for e in events])


@router.get("/audit.csv", response_class=Response)
def get_audit_csv(wanted: Filter, principal: CurrentPrincipal, session: SessionDep) -> Response:
    """The same events as CSV (the export is itself audited)."""
    text = audit_log.export_csv(session, principal, wanted)
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="medai-audit.csv"'},
    )


@router.get("/permissions", response_model=Permissions)
def get_permissions(_principal: CurrentPrincipal) -> Permissions:
    """The role × area × action matrix and what each API-key scope opens (read-only)."""
    return Permissions(
        matrix=[PermissionRow(role=r.role, area=r.area, actions=r.actions) for r in matrix_rows()],
        scopes={
            name: sorted(f"{area.value}:{action.value}" for area, action in grants) for name, grants in SCOPES.items()
        },
    )
