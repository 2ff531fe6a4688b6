"""Resource pools and tenant queues with quotas, and what they are using now (source §2.4:
the R&D platform applies for GPU/CPU here). Pools and quotas are the platform admin's to
set; tenants see their own queues, usage and waiting jobs."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from typing import Any

import psutil
from sqlmodel import Session, select

from backend.errors import ErrorCode, MedAIError
from backend.models import JobQueue, ResourcePool, Tenant, TrainingJob
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area

LOCAL_POOL = "local"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def local_pool(session: Session) -> ResourcePool:
    """The machine the platform runs on, as a pool (made on first use; GPUs arrive with NVML)."""
    pool = session.exec(select(ResourcePool).where(ResourcePool.name == LOCAL_POOL)).first()
    if pool is None:
        node = {
            "name": socket.gethostname(),
            "gpus": 0,
            "cpu": float(psutil.cpu_count() or 1),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "gpu_type": "",
        }
        pool = ResourcePool(name=LOCAL_POOL, compute="local", nodes=[node])
        session.add(pool)
        session.flush()
    return pool


@dataclass(frozen=True)
class NodeUsage:
    name: str
    gpu_type: str
    gpus: int
    gpus_used: int
    cpu: float
    cpu_used: float
    memory_gb: float
    memory_used_gb: float
    draining: bool = False  # takes no new jobs; the ones it ran were moved off


@dataclass(frozen=True)
class PoolView:
    id: str
    name: str
    compute: str
    kueue_queue: str
    nodes: list[NodeUsage]
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class QueueView:
    id: str
    name: str
    pool: str
    nominal_gpus: int
    borrowing_limit_gpus: int
    nominal_cpu: float
    per_user_gpus: int
    preempt_lower_priority: bool
    gpus_used: int
    running: int
    waiting: int


def _audit(
    session: Session, principal: Principal, action: str, target_id: str, tenant_id: str | None, **detail: Any
) -> None:
    target = "resource_pool" if action.startswith("pool.") else "job_queue"
    audit.record_by(session, principal, action, target, target_id, tenant_id=tenant_id or "", **detail)


def list_pools(session: Session, principal: Principal) -> list[PoolView]:
    """Every pool with each node's capacity and what running jobs hold on it."""
    authorize(session, principal, Area.ORCHESTRATION, Action.VIEW)
    local_pool(session)
    running = session.exec(select(TrainingJob).where(TrainingJob.status == "running")).all()
    views = []
    for pool in session.exec(select(ResourcePool).order_by(ResourcePool.name)).all():
        nodes = []
        for node in pool.nodes:
            on_node = [j for j in running if j.node == node["name"]]
            nodes.append(
                NodeUsage(
                    node["name"],
                    node.get("gpu_type", ""),
                    int(node.get("gpus", 0)),
                    sum(j.gpus for j in on_node),
                    float(node["cpu"]),
                    sum(j.cpu for j in on_node),
                    float(node["memory_gb"]),
                    sum(j.memory_gb for j in on_node),
                    bool(node.get("draining", False)),
                )
            )
        views.append(
            PoolView(pool.id, pool.name, pool.compute, pool.kueue_queue, nodes, pool.node_selector, pool.tolerations)
        )
    return views


def _check_nodes(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checked = []
    for node in nodes:
        try:
            checked.append(
                {
                    "name": str(node["name"]),
                    "gpus": int(node.get("gpus", 0)),
                    "gpu_type": str(node.get("gpu_type", "")),
                    "cpu": float(node["cpu"]),
                    "memory_gb": float(node["memory_gb"]),
                }
            )
        except (KeyError, TypeError, ValueError):
            raise MedAIError(
                ErrorCode.DATA_INVALID,
                f"Node {node!r:.80} needs a name, cpu and memory_gb (and optionally gpus, gpu_type).",
                "Describe every node of the pool.",
            ) from None
    if not checked or any(n["gpus"] < 0 or n["cpu"] <= 0 or n["memory_gb"] <= 0 for n in checked):
        raise MedAIError(ErrorCode.DATA_INVALID, "A pool needs nodes with positive CPU and memory.", "Fix the nodes.")
    return checked


def save_pool(
    session: Session,
    principal: Principal,
    name: str,
    compute: str,
    nodes: list[dict[str, Any]],
    node_selector: dict[str, str] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    kueue_queue: str = "",
) -> ResourcePool:
    """Create or change a pool (platform admins)."""
    authorize(session, principal, Area.PLATFORM, Action.UPDATE)
    if not _NAME.match(name) or compute not in ("local", "kubernetes"):
        raise MedAIError(
            ErrorCode.DATA_INVALID, "A pool needs a lowercase name and compute local or kubernetes.", "Fix them."
        )
    pool = session.exec(select(ResourcePool).where(ResourcePool.name == name)).first() or ResourcePool(
        name=name, compute=compute
    )
    draining = {n["name"] for n in pool.nodes if n.get("draining")}  # a drained node stays drained
    pool.compute, pool.nodes = compute, [{**n, "draining": n["name"] in draining} for n in _check_nodes(nodes)]
    pool.node_selector, pool.tolerations, pool.kueue_queue = node_selector or {}, tolerations or [], kueue_queue
    session.add(pool)
    session.flush()
    _audit(session, principal, "pool.save", pool.id, None, name=name, nodes=len(pool.nodes))
    return pool


def set_node_draining(
    session: Session, principal: Principal, pool_name: str, node: str, draining: bool
) -> ResourcePool:
    """Drain a node (platform admins): it takes no new jobs, and the controller moves the jobs running
    on it back to their queues, to resume from their checkpoints elsewhere; or put it back in service."""
    authorize(session, principal, Area.PLATFORM, Action.UPDATE)
    pool = session.exec(select(ResourcePool).where(ResourcePool.name == pool_name)).first()
    if pool is None or node not in {n["name"] for n in pool.nodes}:
        raise MedAIError(ErrorCode.NOT_FOUND, f"No node '{node}' in pool '{pool_name}'.", "Pick it from the pool list.")
    pool.nodes = [{**n, "draining": draining} if n["name"] == node else n for n in pool.nodes]
    session.add(pool)
    _audit(session, principal, "pool.drain" if draining else "pool.undrain", pool.id, None, node=node)
    return pool


def list_queues(session: Session, principal: Principal) -> list[QueueView]:
    """The acting tenant's queues with their quotas, GPUs in use and jobs running or waiting."""
    tenant_id = authorize(session, principal, Area.ORCHESTRATION, Action.VIEW)
    pools = {p.id: p.name for p in session.exec(select(ResourcePool)).all()}
    views = []
    for queue in session.exec(select(JobQueue).where(JobQueue.tenant_id == tenant_id).order_by(JobQueue.name)).all():
        jobs = session.exec(
            select(TrainingJob).where(TrainingJob.queue_id == queue.id, TrainingJob.status.in_(("queued", "running")))
        ).all()
        running = [j for j in jobs if j.status == "running"]
        views.append(
            QueueView(
                queue.id,
                queue.name,
                pools.get(queue.pool_id, ""),
                queue.nominal_gpus,
                queue.borrowing_limit_gpus,
                queue.nominal_cpu,
                queue.per_user_gpus,
                queue.preempt_lower_priority,
                sum(j.gpus for j in running),
                len(running),
                len(jobs) - len(running),
            )
        )
    return views


def save_queue(
    session: Session,
    principal: Principal,
    tenant_id: str,
    name: str,
    pool_name: str,
    nominal_gpus: int,
    borrowing_limit_gpus: int = 0,
    nominal_cpu: float = 0.0,
    per_user_gpus: int = 0,
    preempt_lower_priority: bool = False,
) -> JobQueue:
    """Create or change a tenant's queue and its quota (platform admins)."""
    authorize(session, principal, Area.PLATFORM, Action.UPDATE)
    if session.get(Tenant, tenant_id) is None:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such tenant.", "Pick a tenant from the list.")
    pool = session.exec(select(ResourcePool).where(ResourcePool.name == pool_name)).first()
    if pool is None:
        raise MedAIError(ErrorCode.NOT_FOUND, f"No pool '{pool_name}'.", "Create the pool first.")
    if not _NAME.match(name) or min(nominal_gpus, borrowing_limit_gpus, per_user_gpus) < 0 or nominal_cpu < 0:
        raise MedAIError(ErrorCode.DATA_INVALID, "Quotas cannot be negative; names are lowercase.", "Fix them.")
    queue = session.exec(select(JobQueue).where(JobQueue.tenant_id == tenant_id, JobQueue.name == name)).first()
    queue = queue or JobQueue(tenant_id=tenant_id, pool_id=pool.id, name=name)
    queue.pool_id, queue.nominal_gpus, queue.borrowing_limit_gpus = pool.id, nominal_gpus, borrowing_limit_gpus
    queue.nominal_cpu, queue.per_user_gpus = nominal_cpu, per_user_gpus
    queue.preempt_lower_priority = preempt_lower_priority
    session.add(queue)
    session.flush()
    _audit(
        session,
        principal,
        "queue.save",
        queue.id,
        tenant_id,
        name=name,
        nominal_gpus=nominal_gpus,
        preempt_lower_priority=preempt_lower_priority,
    )
    return queue
