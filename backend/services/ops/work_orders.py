"""Work orders (工单): type, priority, a status workflow, an assignee, comments and links to
alerts, jobs and services (source §6.4 maintenance). An order may carry an operations action
on production (scale, stop or delete a model service, drain a node); it runs only when it is
approved, through the same serving and orchestration functions the other areas use, as the
approver (a node belongs to the platform, so draining one needs a platform admin's approval). The emergency path
runs it at once, without approval, flagged and audited (source §6.5.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from backend.errors import ErrorCode, MedAIError
from backend.models import (
    AlertEvent,
    Deployment,
    Membership,
    ResourcePool,
    TrainingJob,
    User,
    WorkOrder,
    WorkOrderComment,
)
from backend.models.base import utcnow
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, in_tenant
from backend.services.identity.permissions import Action, Area
from backend.services.orchestration import pools as orchestration
from backend.services.serving import deployments as serving

TYPES = ("incident", "change", "request", "maintenance")
PRIORITIES = ("low", "medium", "high", "urgent")
ACTIONS = ("scale", "stop", "delete", "drain")
LINKS: dict[str, type] = {"alert": AlertEvent, "job": TrainingJob, "deployment": Deployment}
# status -> statuses a person may move it to by hand (approval and execution move it otherwise)
FLOW: dict[str, tuple[str, ...]] = {
    "open": ("in_progress", "resolved", "closed"),
    "in_progress": ("open", "resolved", "closed"),
    "resolved": ("in_progress", "closed"),
    "executed": ("resolved", "closed"),
    "failed": ("in_progress", "closed"),
    "rejected": ("closed",),
    "pending_approval": ("closed",),  # withdrawn
    "closed": ("open",),
}


@dataclass(frozen=True)
class OrderSpec:
    title: str
    type: str = "incident"
    priority: str = "medium"
    description: str = ""
    assignee_id: str = ""
    links: tuple[dict[str, str], ...] = ()
    # {"kind": "scale", "deployment_id", "replicas"} | {"kind": "stop"|"delete", "deployment_id"}
    # | {"kind": "drain", "pool", "node"}
    action: dict[str, Any] = field(default_factory=dict)
    emergency: bool = False


def _invalid(message: str, remedy: str) -> MedAIError:
    return MedAIError(ErrorCode.DATA_INVALID, message, remedy)


def _audit(session: Session, principal: Principal | None, order: WorkOrder, action: str, **detail: Any) -> None:
    audit.record_by(session, principal, action, "work_order", order.id, tenant_id=order.tenant_id, **detail)


def _assignee(session: Session, tenant_id: str, user_id: str) -> User | None:
    if not user_id:
        return None
    member = session.exec(
        select(Membership).where(Membership.tenant_id == tenant_id, Membership.user_id == user_id)
    ).first()
    user = session.get(User, user_id) if member else None
    if user is None:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such member in this tenant.", "Pick the assignee from the list.")
    return user


def _links(session: Session, tenant_id: str, links: tuple[dict[str, str], ...]) -> list[dict[str, str]]:
    checked = []
    for link in links:
        kind, row_id = link.get("kind", ""), link.get("id", "")
        if kind not in LINKS:
            raise _invalid(f"Cannot link a '{kind}'.", f"Link one of: {', '.join(LINKS)}.")
        in_tenant(session, LINKS[kind], row_id, tenant_id, kind, "Pick it from its list.")
        checked.append({"kind": kind, "id": row_id})
    return checked


def _action(session: Session, tenant_id: str, action: dict[str, Any]) -> dict[str, Any]:
    if not action:
        return {}
    kind = action.get("kind", "")
    if kind not in ACTIONS:
        raise _invalid(f"Unknown operations action '{kind}'.", f"Use one of: {', '.join(ACTIONS)}.")
    if kind == "drain":
        pool = session.exec(select(ResourcePool).where(ResourcePool.name == str(action.get("pool", "")))).first()
        node = str(action.get("node", ""))
        if pool is None or node not in {n["name"] for n in pool.nodes}:
            raise MedAIError(ErrorCode.NOT_FOUND, "No such node in that pool.", "Pick the node from the list.")
        return {"kind": kind, "pool": pool.name, "node": node}
    deployment = in_tenant(
        session, Deployment, str(action.get("deployment_id", "")), tenant_id, "service", "Pick it from the list."
    )
    checked: dict[str, Any] = {"kind": kind, "deployment_id": deployment.id, "deployment": deployment.name}
    if kind == "scale":
        replicas = action.get("replicas")
        if not isinstance(replicas, int) or not 0 <= replicas <= 64:
            raise _invalid("Scaling needs a replica count of 0-64.", "Type the number of replicas.")
        checked["replicas"] = replicas
    return checked


def _execute(session: Session, actor: Principal, order: WorkOrder) -> None:
    """Run the order's action through the serving service, as ``actor``; the outcome is kept."""
    action = order.action
    try:
        if action["kind"] == "scale":
            serving.scale(session, actor, action["deployment_id"], int(action["replicas"]))
        elif action["kind"] == "stop":
            serving.stop(session, actor, action["deployment_id"])
        elif action["kind"] == "delete":
            serving.delete_deployment(session, actor, action["deployment_id"])
        else:
            orchestration.set_node_draining(session, actor, action["pool"], action["node"], True)
    except MedAIError as error:
        order.status, order.outcome = "failed", f"{error.code}: {error.message}"[:1000]
    else:
        target = action.get("deployment") or f"{action.get('pool')}/{action.get('node')}"
        order.status, order.outcome = "executed", f"{action['kind']} {target} done by {actor.label}"
    order.executed_at = order.updated_at = utcnow()


def create_order(session: Session, principal: Principal, spec: OrderSpec) -> WorkOrder:
    tenant_id = authorize(session, principal, Area.OPS, Action.CREATE)
    if tenant_id is None:
        raise _invalid("Work orders belong to a tenant.", "Switch to a tenant first.")
    if not spec.title.strip() or len(spec.title) > 200:
        raise _invalid("A work order needs a title of 1-200 characters.", "Type a title.")
    if spec.type not in TYPES or spec.priority not in PRIORITIES:
        raise _invalid("Unknown type or priority.", f"Types: {', '.join(TYPES)}; priorities: {', '.join(PRIORITIES)}.")
    if spec.emergency and not spec.action:
        raise _invalid("Only an operations action can take the emergency path.", "Add the action, or untick it.")
    assignee = _assignee(session, tenant_id, spec.assignee_id)
    order = WorkOrder(
        tenant_id=tenant_id,
        title=spec.title.strip(),
        type=spec.type,
        priority=spec.priority,
        description=spec.description.strip(),
        assignee_id=assignee.id if assignee else None,
        assignee=assignee.email if assignee else "",
        links=_links(session, tenant_id, spec.links),
        action=_action(session, tenant_id, spec.action),
        emergency=spec.emergency,
        created_by=principal.label,
        created_by_id=principal.user_id,
    )
    order.status = "pending_approval" if order.action else "open"
    session.add(order)
    session.flush()
    _audit(session, principal, order, "work_order.create", type=order.type, priority=order.priority)
    if order.emergency:
        _execute(session, principal, order)
        _audit(
            session,
            principal,
            order,
            "work_order.emergency",
            outcome="ok" if order.status == "executed" else "failed",
            ops_action=order.action,
            result=order.outcome,
        )
    return order


def list_orders(session: Session, principal: Principal, status: str = "") -> list[WorkOrder]:
    tenant_id = authorize(session, principal, Area.OPS, Action.VIEW)
    query = select(WorkOrder).where(WorkOrder.tenant_id == tenant_id)
    if status:
        query = query.where(WorkOrder.status == status)
    return list(session.exec(query.order_by(col(WorkOrder.created_at).desc())))


def _order(session: Session, tenant_id: str | None, order_id: str) -> WorkOrder:
    return in_tenant(session, WorkOrder, order_id, tenant_id, "work order", "Reload the work orders.")


def get_order(session: Session, principal: Principal, order_id: str) -> tuple[WorkOrder, list[WorkOrderComment]]:
    tenant_id = authorize(session, principal, Area.OPS, Action.VIEW)
    order = _order(session, tenant_id, order_id)
    comments = session.exec(
        select(WorkOrderComment).where(WorkOrderComment.work_order_id == order.id).order_by(col(WorkOrderComment.id))
    )
    return order, list(comments)


def set_status(session: Session, principal: Principal, order_id: str, status: str) -> WorkOrder:
    tenant_id = authorize(session, principal, Area.OPS, Action.UPDATE)
    order = _order(session, tenant_id, order_id)
    if status not in FLOW.get(order.status, ()):
        allowed = ", ".join(FLOW.get(order.status, ())) or "nothing"
        raise MedAIError(
            ErrorCode.CONFLICT, f"A {order.status} work order cannot become {status}.", f"It may become: {allowed}."
        )
    before, order.status, order.updated_at = order.status, status, utcnow()
    session.add(order)
    _audit(session, principal, order, "work_order.status", before=before, after=status)
    return order


def assign(session: Session, principal: Principal, order_id: str, user_id: str) -> WorkOrder:
    tenant_id = authorize(session, principal, Area.OPS, Action.UPDATE)
    order = _order(session, tenant_id, order_id)
    user = _assignee(session, order.tenant_id, user_id)
    order.assignee_id, order.assignee = (user.id, user.email) if user else (None, "")
    order.updated_at = utcnow()
    session.add(order)
    _audit(session, principal, order, "work_order.assign", assignee=order.assignee_id)
    return order


def comment(session: Session, principal: Principal, order_id: str, body: str) -> WorkOrderComment:
    tenant_id = authorize(session, principal, Area.OPS, Action.CREATE)
    order = _order(session, tenant_id, order_id)
    if not body.strip() or len(body) > 10_000:
        raise _invalid("A comment needs 1-10000 characters.", "Type the comment.")
    row = WorkOrderComment(
        work_order_id=order.id,
        tenant_id=order.tenant_id,
        author=principal.label,
        author_id=principal.user_id,
        body=body,
    )
    order.updated_at = utcnow()
    session.add_all([row, order])
    _audit(session, principal, order, "work_order.comment")
    return row


def _pending(session: Session, principal: Principal, order_id: str) -> WorkOrder:
    tenant_id = authorize(session, principal, Area.OPS, Action.APPROVE)
    order = _order(session, tenant_id, order_id)
    if order.status != "pending_approval":
        raise MedAIError(ErrorCode.CONFLICT, f"This work order is {order.status}.", "Only pending orders are decided.")
    if order.created_by_id == principal.user_id:
        raise MedAIError(
            ErrorCode.FORBIDDEN,
            "You cannot approve or reject your own operations request.",
            "Ask another tenant admin, or use the emergency path (it is audited).",
        )
    return order


def approve(session: Session, principal: Principal, order_id: str) -> WorkOrder:
    """A tenant admin's approval: the action runs now, as the approver."""
    order = _pending(session, principal, order_id)
    order.approved_by, order.approved_at = principal.label, utcnow()
    _audit(session, principal, order, "work_order.approve", ops_action=order.action)
    _execute(session, principal, order)
    session.add(order)
    _audit(session, principal, order, "work_order.execute", outcome="ok" if order.status == "executed" else "failed")
    return order


def reject(session: Session, principal: Principal, order_id: str, reason: str = "") -> WorkOrder:
    order = _pending(session, principal, order_id)
    order.status, order.outcome, order.updated_at = "rejected", f"rejected: {reason.strip()}"[:1000], utcnow()
    session.add(order)
    _audit(session, principal, order, "work_order.reject", reason=reason[:300])
    return order
