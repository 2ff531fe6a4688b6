"""Admission and placement of jobs onto a resource pool (source §2.4 orchestration, §6.1
insufficient resources): pure functions, so the controller, the API and the benchmark all
use the same decisions.

Rules, as Kueue users know them:
- each tenant queue has a nominal GPU (and CPU) quota and may borrow idle capacity up to a
  borrowing limit; a job never over-commits a node;
- within a queue, higher priority first and FIFO inside a priority; a job that does not fit
  blocks the jobs behind it in its own queue only when it could fit with its quota
  (strict FIFO for the head), so small jobs cannot starve a large one forever;
- a per-user GPU limit caps how much one person holds at once;
- every waiting job gets a reason and its position in its queue;
- a queue may allow preemption: a waiting job then evicts lower-priority running jobs of its
  own queue (lowest priority, then newest first, as few as needed), as Kueue's
  ``withinClusterQueue: LowerPriority`` does; the evicted jobs wait again and resume from
  their last checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Node:
    name: str
    gpus: int
    cpu: float
    memory_gb: float
    gpu_type: str = ""


@dataclass(frozen=True)
class QueueQuota:
    name: str
    nominal_gpus: int
    borrowing_limit_gpus: int = 0
    nominal_cpu: float = 0.0  # 0: no CPU quota beyond the pool's size
    per_user_gpus: int = 0  # 0: no per-user limit


@dataclass(frozen=True)
class Request:
    job_id: str
    queue: str
    user: str
    priority: int
    order: int  # submission order (FIFO inside a priority)
    gpus: int
    cpu: float
    memory_gb: float
    gpu_type: str = ""


@dataclass(frozen=True)
class Allocation:
    job_id: str
    queue: str
    user: str
    node: str
    gpus: int
    cpu: float
    memory_gb: float
    priority: int = 0
    order: int = 0  # start order: the newest running job is evicted first among equals


@dataclass
class Decision:
    admitted: list[Allocation] = field(default_factory=list)
    waiting: dict[str, tuple[int, str]] = field(default_factory=dict)  # job → (position in queue, reason)


@dataclass
class _Free:
    gpus: int
    cpu: float
    memory_gb: float


def _free_capacity(nodes: Sequence[Node], running: Iterable[Allocation]) -> dict[str, _Free]:
    free = {n.name: _Free(n.gpus, n.cpu, n.memory_gb) for n in nodes}
    for alloc in running:
        if alloc.node in free:
            slot = free[alloc.node]
            slot.gpus, slot.cpu, slot.memory_gb = (
                slot.gpus - alloc.gpus,
                slot.cpu - alloc.cpu,
                slot.memory_gb - alloc.memory_gb,
            )
    return free


def _place(request: Request, nodes: Sequence[Node], free: dict[str, _Free]) -> str | None:
    """The fitting node with the least free GPUs left over (bin-packing keeps big holes for big jobs)."""
    best: tuple[int, float, str] | None = None
    for node in nodes:
        slot = free[node.name]
        if request.gpu_type and request.gpus and node.gpu_type != request.gpu_type:
            continue
        if slot.gpus >= request.gpus and slot.cpu >= request.cpu and slot.memory_gb >= request.memory_gb:
            key = (slot.gpus - request.gpus, slot.cpu - request.cpu, node.name)
            if best is None or key < best:
                best = key
    return best[2] if best else None


def _why_not(request: Request, nodes: Sequence[Node]) -> str:
    biggest = max(nodes, key=lambda n: (n.gpus, n.cpu, n.memory_gb), default=None)
    typed = [n for n in nodes if not request.gpu_type or not request.gpus or n.gpu_type == request.gpu_type]
    if request.gpus and not typed:
        return f"no node in the pool has {request.gpu_type} GPUs"
    if biggest is None or not any(
        n.gpus >= request.gpus and n.cpu >= request.cpu and n.memory_gb >= request.memory_gb for n in typed
    ):
        return "no single node is large enough for this request; lower it or add a larger node"
    return "waiting for GPUs/CPU to free up on a node"


def _gpu_cap(q: QueueQuota, quotas: Sequence[QueueQuota], used: dict[str, int], total_gpus: int) -> int:
    """GPUs queue ``q`` may hold: its nominal quota, plus borrowing from what no other queue
    holds or is owed (another queue's unused nominal share stays reserved for it)."""
    others = sum(max(o.nominal_gpus, used.get(o.name, 0)) for o in quotas if o.name != q.name)
    return max(q.nominal_gpus, min(q.nominal_gpus + q.borrowing_limit_gpus, total_gpus - others))


def admit(
    nodes: Sequence[Node],
    quotas: Sequence[QueueQuota],
    running: Sequence[Allocation],
    pending: Sequence[Request],
) -> Decision:
    """Which pending requests start now and where; why the others wait and at which position."""
    decision = Decision()
    free = _free_capacity(nodes, running)
    total_gpus = sum(n.gpus for n in nodes)
    quota = {q.name: q for q in quotas}
    used: dict[str, int] = {}
    used_cpu: dict[str, float] = {}
    per_user: dict[str, int] = {}
    for alloc in running:
        used[alloc.queue] = used.get(alloc.queue, 0) + alloc.gpus
        used_cpu[alloc.queue] = used_cpu.get(alloc.queue, 0.0) + alloc.cpu
        per_user[alloc.user] = per_user.get(alloc.user, 0) + alloc.gpus
    by_queue: dict[str, list[Request]] = {}
    for request in sorted(pending, key=lambda r: (-r.priority, r.order)):
        by_queue.setdefault(request.queue, []).append(request)
    # round-robin across queues, one head at a time, so no queue monopolises a pass
    cursors = {name: 0 for name in by_queue}
    blocked: set[str] = set()
    while True:
        progressed = False
        for name, requests in by_queue.items():
            index = cursors[name]
            if index >= len(requests) or name in blocked:
                continue
            request = requests[index]
            cursors[name] += 1
            progressed = True
            q = quota.get(name)
            position = index + 1
            if q is None:
                decision.waiting[request.job_id] = (position, f"queue '{name}' has no quota in this pool")
                continue
            queue_used = used.get(name, 0)
            cap = _gpu_cap(q, quotas, used, total_gpus)
            if request.gpus and queue_used + request.gpus > cap:
                decision.waiting[request.job_id] = (
                    position,
                    f"queue '{name}' would exceed its GPU quota ({queue_used} in use + {request.gpus} asked > "
                    f"{cap} available to it: {q.nominal_gpus} nominal, up to {q.borrowing_limit_gpus} borrowed); "
                    "wait, lower the request or raise the priority",
                )
                blocked.add(name)  # strict FIFO: later jobs in this queue wait behind the head
                continue
            if q.nominal_cpu and used_cpu.get(name, 0.0) + request.cpu > q.nominal_cpu:
                decision.waiting[request.job_id] = (position, f"queue '{name}' would exceed its CPU quota")
                blocked.add(name)
                continue
            if q.per_user_gpus and per_user.get(request.user, 0) + request.gpus > q.per_user_gpus:
                decision.waiting[request.job_id] = (
                    position,
                    f"{request.user} already holds {per_user.get(request.user, 0)} GPUs (limit {q.per_user_gpus})",
                )
                continue
            node = _place(request, nodes, free)
            if node is None:
                decision.waiting[request.job_id] = (position, _why_not(request, nodes))
                blocked.add(name)
                continue
            slot = free[node]
            slot.gpus, slot.cpu, slot.memory_gb = (
                slot.gpus - request.gpus,
                slot.cpu - request.cpu,
                slot.memory_gb - request.memory_gb,
            )
            used[name] = queue_used + request.gpus
            used_cpu[name] = used_cpu.get(name, 0.0) + request.cpu
            per_user[request.user] = per_user.get(request.user, 0) + request.gpus
            decision.admitted.append(
                Allocation(request.job_id, name, request.user, node, request.gpus, request.cpu, request.memory_gb)
            )
        if not progressed:
            break
    admitted_ids = {a.job_id for a in decision.admitted}
    for requests in by_queue.values():  # positions count only the jobs still waiting
        line = [r for r in requests if r.job_id not in admitted_ids]
        for place, request in enumerate(line, start=1):
            reason = decision.waiting.get(request.job_id, (0, "waiting behind earlier jobs in its queue"))[1]
            decision.waiting[request.job_id] = (place, reason)
    return decision


def preemptions(
    nodes: Sequence[Node],
    quotas: Sequence[QueueQuota],
    running: Sequence[Allocation],
    waiting: Sequence[Request],
    preempting_queues: Iterable[str],
) -> dict[str, str]:
    """Running jobs to evict so that waiting jobs of preempting queues can start: running job →
    the waiting job it makes room for. Only lower-priority jobs of the waiting job's own queue are
    candidates; a waiting job that cannot fit even with every candidate gone evicts nothing."""
    allowed = set(preempting_queues)
    evicted: dict[str, str] = {}
    still = list(running)

    def _fits(request: Request, gone: list[Allocation]) -> bool:
        return bool(admit(nodes, quotas, [a for a in still if a not in gone], [request]).admitted)

    for request in sorted(waiting, key=lambda r: (-r.priority, r.order)):
        if request.queue not in allowed:
            continue
        candidates = sorted(
            (a for a in still if a.queue == request.queue and a.priority < request.priority),
            key=lambda a: (a.priority, -a.order),
        )
        fits = next((n for n in range(len(candidates) + 1) if _fits(request, candidates[:n])), None)
        if fits is None:
            continue
        gone = candidates[:fits]  # 0: it fits already and only waits its turn
        for spared in reversed(candidates[:fits]):  # keep the most valuable ones that need not go
            if _fits(request, [a for a in gone if a is not spared]):
                gone = [a for a in gone if a is not spared]
        rest = [a for a in still if a not in gone]
        placed = admit(nodes, quotas, rest, [request]).admitted[0]
        evicted.update(dict.fromkeys((a.job_id for a in gone), request.job_id))
        still = [*rest, replace(placed, priority=request.priority)]  # its room is not there for the next one
    return evicted
