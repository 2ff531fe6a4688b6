"""The audit trail: one row per write, allowed or not (source §6.5: audit of every user action)."""

from typing import Any

from sqlmodel import Session

from backend.models import AuditEvent


def record(
    session: Session,
    *,
    action: str,
    outcome: str,
    actor_id: str | None = None,
    actor_label: str = "",
    tenant_id: str | None = None,
    target_type: str = "",
    target_id: str = "",
    client_address: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row to the caller's transaction. ``detail`` must never carry secrets."""
    event = AuditEvent(
        action=action,
        outcome=outcome,
        actor_id=actor_id,
        actor_label=actor_label,
        tenant_id=tenant_id,
        target_type=target_type,
        target_id=target_id,
        client_address=client_address,
        detail=detail or {},
    )
    session.add(event)
    return event
