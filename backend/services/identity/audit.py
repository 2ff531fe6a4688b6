"""The audit trail: one row per write, allowed or not (source §6.5: audit of every user action)."""

from typing import Any, Protocol

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


class Actor(Protocol):
    """Who acted: a Principal (backend.services.identity.access) or anything shaped like one."""

    user_id: str
    label: str
    tenant_id: str | None
    client_address: str


def record_by(
    session: Session,
    actor: Actor | None,
    action: str,
    target_type: str,
    target_id: str,
    *,
    tenant_id: str | None = None,
    outcome: str = "ok",
    **detail: Any,
) -> AuditEvent:
    """An audit row for what ``actor`` did to a target (None: the controller, acting on its own).
    The tenant defaults to the one the actor acts in."""
    return record(
        session,
        action=action,
        outcome=outcome,
        actor_id=actor.user_id if actor else None,
        actor_label=actor.label if actor else "controller",
        tenant_id=tenant_id if tenant_id is not None else (actor.tenant_id if actor else None),
        target_type=target_type,
        target_id=target_id,
        client_address=actor.client_address if actor else "",
        detail=detail,
    )
