"""What the orchestration page reads in one transaction: every pool with its nodes' usage, the
tenant's queues with quotas and usage, and the tenant's jobs waiting in them with position and reason.

The use case returns plain dataclasses; the UI state turns them into its vars."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from backend.models import TrainingJob
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.orchestration.pools import PoolView, QueueView, list_pools, list_queues


@dataclass(frozen=True)
class WaitingJob:
    """A queued job of the tenant, where it stands in its queue and why it waits."""

    id: str
    name: str
    queue: str
    queue_position: int
    reason: str
    priority: int
    gpus: int
    cpu: float
    memory_gb: float
    created_at: datetime


@dataclass
class Overview:
    allowed: bool = False
    pools: list[PoolView] = field(default_factory=list)
    queues: list[QueueView] = field(default_factory=list)
    waiting: list[WaitingJob] = field(default_factory=list)


def overview(session: Session, principal: Principal) -> Overview:
    """Pools for whoever may view orchestration; queues and waiting jobs of the acting tenant."""
    found = Overview(allowed=may(session, principal, Area.ORCHESTRATION, Action.VIEW))
    if not found.allowed:
        return found
    found.pools = list_pools(session, principal)
    if principal.tenant_id is None:
        return found
    found.queues = list_queues(session, principal)
    names = {q.id: q.name for q in found.queues}
    if may(session, principal, Area.TRAINING, Action.VIEW):
        queued = session.exec(
            select(TrainingJob)
            .where(TrainingJob.tenant_id == principal.tenant_id, TrainingJob.status == "queued")
            .order_by(TrainingJob.created_at.desc())  # type: ignore[attr-defined]
        ).all()
        found.waiting = [
            WaitingJob(
                j.id,
                j.name,
                names.get(j.queue_id, ""),
                j.queue_position,
                j.reason,
                j.priority,
                j.gpus,
                j.cpu,
                j.memory_gb,
                j.created_at,
            )
            for j in sorted(queued, key=lambda j: (j.queue_id, j.queue_position))
        ]
    return found
