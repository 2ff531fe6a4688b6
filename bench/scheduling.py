"""Admission of 5,000 queued jobs onto a simulated pool of 1,000 GPUs (125 nodes x 8).

The controller's pass is timed as it runs: admit what fits, let a share of the running jobs
finish, repeat until the queue is empty. Reports decisions per second and the p50/p99 time
of one pass, against a baseline in the same run: a plain first-fit loop with no quotas,
priorities or reasons (what a naive scheduler would cost).
"""

from __future__ import annotations

import random
import statistics
import time

from backend.services.orchestration.scheduling import Allocation, Node, QueueQuota, Request, admit

JOBS, NODES, GPUS_PER_NODE = 5000, 125, 8


def _workload(seed: int = 7) -> tuple[list[Node], list[QueueQuota], list[Request]]:
    rng = random.Random(seed)
    nodes = [Node(f"node-{i:03d}", GPUS_PER_NODE, 96, 1024, "A100") for i in range(NODES)]
    queues = [QueueQuota(f"tenant-{i}", 100, borrowing_limit_gpus=200, per_user_gpus=64) for i in range(10)]
    requests = [
        Request(
            f"job-{i}",
            f"tenant-{rng.randrange(10)}",
            f"user-{rng.randrange(200)}",
            rng.choice((0, 0, 0, 5, 10)),
            i,
            rng.choice((1, 1, 2, 4, 8)),
            8,
            64,
        )
        for i in range(JOBS)
    ]
    return nodes, queues, requests


def _first_fit(nodes: list[Node], running: list[Allocation], pending: list[Request]) -> list[Allocation]:
    free = {n.name: n.gpus for n in nodes}
    for a in running:
        free[a.node] -= a.gpus
    admitted = []
    for r in pending:
        for name, gpus in free.items():
            if gpus >= r.gpus:
                free[name] -= r.gpus
                admitted.append(Allocation(r.job_id, r.queue, r.user, name, r.gpus, r.cpu, r.memory_gb))
                break
    return admitted


def _simulate(schedule) -> tuple[float, list[float], int]:
    rng = random.Random(11)
    nodes, queues, pending = _workload()
    running: list[Allocation] = []
    passes, decisions, started = [], 0, time.perf_counter()
    while pending:
        t0 = time.perf_counter()
        admitted = schedule(nodes, queues, running, pending)
        passes.append(time.perf_counter() - t0)
        decisions += len(pending)
        done = {a.job_id for a in admitted}
        pending = [r for r in pending if r.job_id not in done]
        running = [a for a in running + admitted if rng.random() > 0.3]  # about 30% finish between passes
    return time.perf_counter() - started, passes, decisions


def main() -> None:
    ours_total, ours_passes, ours_decisions = _simulate(lambda n, q, r, p: admit(n, q, r, p).admitted)
    base_total, base_passes, base_decisions = _simulate(lambda n, q, r, p: _first_fit(n, r, p))

    def p(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else values[0] * 1000

    print(f"{JOBS} jobs, {NODES * GPUS_PER_NODE} GPUs")
    print(
        f"first-fit baseline: {base_decisions / base_total:,.0f} decisions/s, pass p50 {p(base_passes, 50):.1f} ms, "
        f"p99 {p(base_passes, 99):.1f} ms over {len(base_passes)} passes"
    )
    print(
        f"platform admission: {ours_decisions / ours_total:,.0f} decisions/s, pass p50 {p(ours_passes, 50):.1f} ms, "
        f"p99 {p(ours_passes, 99):.1f} ms over {len(ours_passes)} passes"
    )
    ratio = (ours_total / ours_decisions) / (base_total / base_decisions)
    print(f"ratio platform/baseline time per decision: {ratio:.1f}x")


if __name__ == "__main__":
    main()
