"""The orchestration page: pools with each node's capacity and what running jobs hold, the
tenant's queues with quotas and usage, the jobs waiting with their position and reason; for
platform admins, forms that create or change a pool and a tenant's queue quota."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services.orchestration import pools as orchestration
from backend.services.orchestration import views
from backend.services.training import jobs as training
from state import live
from state.auth import AuthState
from state.feedback import success_toast
from state.format import when
from state.live import POLL_S

NODE_FIELDS = ("name", "gpus", "gpu_type", "cpu", "memory_gb")
ROUTE = "/orchestration"
EMPTY_NODE = {"name": "", "gpus": "0", "gpu_type": "", "cpu": "8", "memory_gb": "32"}
EMPTY_POOL = {"name": "", "compute": "kubernetes", "kueue_queue": "", "node_selector": "", "tolerations": ""}
EMPTY_QUEUE = {
    "name": training.DEFAULT_QUEUE,
    "pool": orchestration.LOCAL_POOL,
    "nominal_gpus": "0",
    "borrowing_limit_gpus": "0",
    "nominal_cpu": "0",
    "per_user_gpus": "0",
    "preempt_lower_priority": "no",
}


def _percent(used: float, total: float) -> int:
    return min(100, round(100 * used / total)) if total else 0


@dataclass
class NodeRow:
    pool: str = ""
    compute: str = ""
    name: str = ""
    gpu_type: str = ""
    gpus: str = ""  # used/total
    gpu_pct: int = 0
    cpu: str = ""
    cpu_pct: int = 0
    memory: str = ""
    memory_pct: int = 0
    draining: bool = False


@dataclass
class OrchestrationView:
    allowed: bool = False
    pools: list[dict[str, str]] = field(default_factory=list)
    nodes: list[NodeRow] = field(default_factory=list)
    queues: list[dict[str, str]] = field(default_factory=list)
    waiting: list[dict[str, str]] = field(default_factory=list)
    pool_forms: dict[str, dict[str, Any]] = field(default_factory=dict)


def _pools(view: OrchestrationView, pools: list[orchestration.PoolView]) -> None:
    for pool in pools:
        view.pools.append(
            {"name": pool.name, "compute": pool.compute, "kueue_queue": pool.kueue_queue, "nodes": str(len(pool.nodes))}
        )
        for node in pool.nodes:
            view.nodes.append(
                NodeRow(
                    pool=pool.name,
                    compute=pool.compute,
                    name=node.name,
                    gpu_type=node.gpu_type,
                    gpus=f"{node.gpus_used}/{node.gpus}",
                    gpu_pct=_percent(node.gpus_used, node.gpus),
                    cpu=f"{node.cpu_used:g}/{node.cpu:g}",
                    cpu_pct=_percent(node.cpu_used, node.cpu),
                    memory=f"{node.memory_used_gb:g}/{node.memory_gb:g} GB",
                    memory_pct=_percent(node.memory_used_gb, node.memory_gb),
                    draining=node.draining,
                )
            )
        view.pool_forms[pool.name] = {
            "pool": {
                "name": pool.name,
                "compute": pool.compute,
                "kueue_queue": pool.kueue_queue,
                "node_selector": ", ".join(f"{k}={v}" for k, v in pool.node_selector.items()),
                "tolerations": json.dumps(pool.tolerations) if pool.tolerations else "",
            },
            "nodes": [
                {
                    "name": n.name,
                    "gpus": str(n.gpus),
                    "gpu_type": n.gpu_type,
                    "cpu": f"{n.cpu:g}",
                    "memory_gb": f"{n.memory_gb:g}",
                }
                for n in pool.nodes
            ],
        }


def orchestration_view(found: views.Overview) -> OrchestrationView:
    """The page's rows from what the orchestration overview read."""
    view = OrchestrationView(allowed=found.allowed)
    _pools(view, found.pools)
    view.queues = [
        {
            "name": q.name,
            "pool": q.pool,
            "nominal_gpus": str(q.nominal_gpus),
            "borrowing_limit_gpus": str(q.borrowing_limit_gpus),
            "nominal_cpu": f"{q.nominal_cpu:g}",
            "per_user_gpus": str(q.per_user_gpus),
            "preempt_lower_priority": "yes" if q.preempt_lower_priority else "no",
            "gpus_used": str(q.gpus_used),
            "running": str(q.running),
            "waiting": str(q.waiting),
        }
        for q in found.queues
    ]
    view.waiting = [
        {
            "id": j.id,
            "name": j.name,
            "queue": j.queue,
            "position": str(j.queue_position or ""),
            "reason": j.reason,
            "priority": str(j.priority),
            "request": f"{j.gpus} GPU · {j.cpu:g} CPU · {j.memory_gb:g} GB",
            "created": when(j.created_at),
        }
        for j in found.waiting
    ]
    return view


def _number(label: str, text: str, integer: bool = False) -> Any:
    try:
        value = float(text.strip() or "0")
    except ValueError:
        raise MedAIError(ErrorCode.DATA_INVALID, f"{label} must be a number, not '{text}'.", "Fix the field.") from None
    return int(value) if integer else value


def node_selector(text: str) -> dict[str, str]:
    """'key=value, key=value' as a dict."""
    pairs = [p.strip() for p in text.split(",") if p.strip()]
    if any("=" not in p for p in pairs):
        raise MedAIError(ErrorCode.DATA_INVALID, "The node selector is key=value pairs.", "Write e.g. gpu=a100.")
    return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}


def tolerations(text: str) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as error:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Tolerations are not JSON: {error.msg}.", "Fix the JSON.") from None
    if not isinstance(parsed, list) or not all(isinstance(t, dict) for t in parsed):
        raise MedAIError(ErrorCode.DATA_INVALID, "Tolerations are a JSON list of objects.", "Fix the JSON.")
    return parsed


def pool_nodes(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "name": row.get("name", "").strip(),
            "gpus": _number("gpus", row.get("gpus", "0"), integer=True),
            "gpu_type": row.get("gpu_type", "").strip(),
            "cpu": _number("cpu", row.get("cpu", "0")),
            "memory_gb": _number("memory_gb", row.get("memory_gb", "0")),
        }
        for row in rows
        if row.get("name", "").strip()
    ]


class OrchestrationState(AuthState):
    allowed: bool = True
    pools: list[dict[str, str]] = []
    nodes: list[NodeRow] = []
    queues: list[dict[str, str]] = []
    waiting: list[dict[str, str]] = []
    pool_form: dict[str, str] = dict(EMPTY_POOL)
    node_rows: list[dict[str, str]] = [dict(EMPTY_NODE)]
    queue_form: dict[str, str] = dict(EMPTY_QUEUE)
    queue_tenant: str = ""
    live: bool = False
    _pool_forms: dict[str, dict[str, Any]] = {}
    _follow_round: int = 0

    @rx.var
    def pool_names(self) -> list[str]:
        return [p["name"] for p in self.pools]

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        if not self.signed_in or self.must_change_password or not (self.tenant_id or self.is_platform_admin):
            return
        await self._reload()
        self.queue_tenant = self.queue_tenant or self.tenant_id
        yield OrchestrationState.follow

    @rx.event(background=True)
    async def follow(self) -> None:
        """Usage, queues and waiting jobs change with every controller pass: refresh them while the page is open."""
        wanted = lambda: live.on_page(self, ROUTE)  # noqa: E731
        await live.follow(self, self._read, self._show, wanted, 2 * POLL_S, "live")

    async def _read(self) -> OrchestrationView:
        return await self._as_user(
            lambda _rt, session, principal: orchestration_view(views.overview(session, principal))
        )

    async def _reload(self) -> None:
        self._show(await self._read())

    def _show(self, view: OrchestrationView) -> None:
        self.allowed = view.allowed
        self.pools, self.nodes, self.queues, self.waiting = view.pools, view.nodes, view.queues, view.waiting
        self._pool_forms = view.pool_forms

    # the pool form (platform admins) -----------------------------------------------------------

    @rx.event
    def set_pool_field(self, key: str, value: str) -> None:
        if key in EMPTY_POOL:
            self.pool_form = {**self.pool_form, key: value}

    @rx.event
    def set_node_field(self, index: int, key: str, value: str) -> None:
        if key in NODE_FIELDS and 0 <= index < len(self.node_rows):
            rows = [dict(r) for r in self.node_rows]
            rows[index][key] = value
            self.node_rows = rows

    @rx.event
    def add_node_row(self) -> None:
        self.node_rows = [*self.node_rows, dict(EMPTY_NODE)]

    @rx.event
    def remove_node_row(self, index: int) -> None:
        self.node_rows = [r for i, r in enumerate(self.node_rows) if i != index] or [dict(EMPTY_NODE)]

    @rx.event
    def edit_pool(self, name: str) -> None:
        saved = self._pool_forms.get(name)
        if saved is not None:
            self.pool_form, self.node_rows = dict(saved["pool"]), [dict(n) for n in saved["nodes"]]

    @rx.event
    async def set_draining(self, pool: str, node: str, draining: bool):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(
            lambda _rt, session, principal: orchestration.set_node_draining(session, principal, pool, node, draining)
        )
        await self._reload()
        yield await success_toast(self, "orch.drained" if draining else "orch.undrained")

    @rx.event
    def new_pool(self) -> None:
        self.pool_form, self.node_rows = dict(EMPTY_POOL), [dict(EMPTY_NODE)]

    @rx.event
    async def save_pool(self):  # noqa: ANN201 (Reflex event generator)
        form = dict(self.pool_form)
        nodes = pool_nodes(self.node_rows)
        selector, tolerated = node_selector(form["node_selector"]), tolerations(form["tolerations"])
        await self._as_user(
            lambda _rt, session, principal: orchestration.save_pool(
                session,
                principal,
                form["name"].strip(),
                form["compute"],
                nodes,
                selector,
                tolerated,
                form["kueue_queue"].strip(),
            )
        )
        await self._reload()
        yield await success_toast(self, "orch.pool_saved")

    # the queue form (platform admins) ----------------------------------------------------------

    @rx.event
    def set_queue_field(self, key: str, value: str) -> None:
        if key in EMPTY_QUEUE:
            self.queue_form = {**self.queue_form, key: value}

    @rx.event
    def set_queue_preemption(self, allowed: bool) -> None:
        self.queue_form = {**self.queue_form, "preempt_lower_priority": "yes" if allowed else "no"}

    @rx.event
    def set_queue_tenant(self, tenant_id: str) -> None:
        self.queue_tenant = tenant_id

    @rx.event
    def edit_queue(self, name: str) -> None:
        row = next((q for q in self.queues if q["name"] == name), None)
        if row is not None:
            self.queue_tenant = self.tenant_id
            self.queue_form = {key: row[key] for key in EMPTY_QUEUE}

    @rx.event
    async def save_queue(self):  # noqa: ANN201 (Reflex event generator)
        form, tenant_id = dict(self.queue_form), self.queue_tenant or self.tenant_id
        numbers = {
            "nominal_gpus": _number("nominal GPUs", form["nominal_gpus"], integer=True),
            "borrowing_limit_gpus": _number("borrowing limit", form["borrowing_limit_gpus"], integer=True),
            "nominal_cpu": _number("nominal CPU", form["nominal_cpu"]),
            "per_user_gpus": _number("GPUs per user", form["per_user_gpus"], integer=True),
        }
        await self._as_user(
            lambda _rt, session, principal: orchestration.save_queue(
                session,
                principal,
                tenant_id,
                form["name"].strip(),
                form["pool"],
                **numbers,
                preempt_lower_priority=form["preempt_lower_priority"] == "yes",
            )
        )
        await self._reload()
        yield await success_toast(self, "orch.queue_saved")
