"""Reading the audit trail: filtered pages for the audit page and CSV export (source §6.5).

Platform admins read every tenant's events (and platform-wide ones); anyone else with the
audit view right reads only the tenant they act in.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from backend.models import AuditEvent
from backend.services.identity.access import Principal, authorize
from backend.services.identity.audit import record
from backend.services.identity.permissions import Action, Area


@dataclass(frozen=True)
class AuditFilter:
    tenant_id: str | None = None  # platform admins: any tenant, or None for all; others: their own only
    action: str = ""  # prefix, e.g. "auth." or "member.add"
    actor: str = ""  # part of the actor's label (e-mail)
    outcome: str = ""  # ok | denied | failed
    since: datetime | None = None
    until: datetime | None = None


CSV_COLUMNS = ("at", "actor", "tenant", "action", "target_type", "target_id", "outcome", "client_address", "detail")
EXPORT_LIMIT = 100_000


def _query(session: Session, principal: Principal, wanted: AuditFilter) -> SelectOfScalar[AuditEvent]:
    tenant_id = authorize(session, principal, Area.AUDIT, Action.VIEW, wanted.tenant_id)
    query = select(AuditEvent)
    if tenant_id is not None or not principal.is_platform_admin:
        query = query.where(AuditEvent.tenant_id == tenant_id)
    if wanted.action:
        query = query.where(AuditEvent.action.startswith(wanted.action, autoescape=True))
    if wanted.actor:
        query = query.where(AuditEvent.actor_label.contains(wanted.actor.lower(), autoescape=True))
    if wanted.outcome:
        query = query.where(AuditEvent.outcome == wanted.outcome)
    if wanted.since is not None:
        query = query.where(AuditEvent.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEvent.at < wanted.until)
    return query.order_by(AuditEvent.id.desc())


def search(
    session: Session, principal: Principal, wanted: AuditFilter, limit: int = 100, offset: int = 0
) -> tuple[list[AuditEvent], int]:
    """One page of matching events, newest first, and how many match in all."""
    query = _query(session, principal, wanted)
    total = session.exec(select(func.count()).select_from(query.order_by(None).subquery())).one()
    return list(session.exec(query.limit(min(limit, 1000)).offset(offset)).all()), total


def export_csv(session: Session, principal: Principal, wanted: AuditFilter) -> str:
    """Every matching event (up to EXPORT_LIMIT) as CSV; the export itself is audited."""
    query = _query(session, principal, wanted)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for event in session.exec(query.limit(EXPORT_LIMIT)):
        writer.writerow(
            (
                event.at.isoformat(),
                event.actor_label,
                event.tenant_id or "",
                event.action,
                event.target_type,
                event.target_id,
                event.outcome,
                event.client_address,
                json.dumps(event.detail, ensure_ascii=False),
            )
        )
        count += 1
    record(
        session,
        action="audit.export",
        outcome="ok",
        actor_id=principal.user_id,
        actor_label=principal.label,
        tenant_id=wanted.tenant_id or principal.tenant_id,
        client_address=principal.client_address,
        detail={"rows": count, "filter": {k: str(v) for k, v in vars(wanted).items() if v}},
    )
    return out.getvalue()
