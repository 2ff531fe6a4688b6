"""Lineage: which asset made or runs which (dataset version → training job → model version →
deployment → agent). Every area records its edges here, and deleting or retiring
anything still in use is refused with the list of its users.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, or_, select

from backend.errors import ErrorCode, MedAIError
from backend.models import LineageEdge
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area

NODE_TYPES = ("dataset_version", "model_version", "image", "job", "deployment", "agent", "knowledge_base")


@dataclass(frozen=True)
class Node:
    type: str
    id: str


@dataclass(frozen=True)
class Edge:
    source: Node
    target: Node
    relation: str


def link(session: Session, tenant_id: str, source: Node, target: Node, relation: str) -> None:
    """Record that ``source`` was used for ``target`` (idempotent). Called by services that
    have already authorized the write they are part of."""
    for node in (source, target):
        if node.type not in NODE_TYPES:
            raise ValueError(f"unknown lineage node type {node.type}")
    exists = session.exec(
        select(LineageEdge.id).where(
            LineageEdge.source_type == source.type,
            LineageEdge.source_id == source.id,
            LineageEdge.target_type == target.type,
            LineageEdge.target_id == target.id,
        )
    ).first()
    if exists is None:
        session.add(
            LineageEdge(
                tenant_id=tenant_id,
                source_type=source.type,
                source_id=source.id,
                target_type=target.type,
                target_id=target.id,
                relation=relation,
            )
        )


def users_of(session: Session, tenant_id: str, node: Node) -> list[Node]:
    """What uses ``node`` directly."""
    rows = session.exec(
        select(LineageEdge).where(
            LineageEdge.tenant_id == tenant_id, LineageEdge.source_type == node.type, LineageEdge.source_id == node.id
        )
    ).all()
    return [Node(r.target_type, r.target_id) for r in rows]


def refuse_if_used(session: Session, tenant_id: str, node: Node, doing: str) -> None:
    """CONFLICT naming every user when something still depends on ``node``."""
    users = users_of(session, tenant_id, node)
    if users:
        names = ", ".join(f"{u.type} {u.id}" for u in users[:10])
        raise MedAIError(
            ErrorCode.CONFLICT,
            f"Cannot {doing}: it is still used by {len(users)} item(s): {names}.",
            "Retire or delete those first, or keep this one.",
        )


def forget(session: Session, tenant_id: str, node: Node) -> None:
    """Remove the edges into ``node`` when it is deleted (edges out of it were refused before)."""
    for row in session.exec(
        select(LineageEdge).where(
            LineageEdge.tenant_id == tenant_id, LineageEdge.target_type == node.type, LineageEdge.target_id == node.id
        )
    ):
        session.delete(row)


def graph(session: Session, principal: Principal, node: Node, depth: int = 4) -> list[Edge]:
    """Edges reachable from ``node`` upstream and downstream, up to ``depth`` steps, in the principal's tenant."""
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    found: dict[str, LineageEdge] = {}
    frontier = {node}
    for _ in range(depth):
        if not frontier:
            break
        conditions = [
            or_(
                (LineageEdge.source_type == n.type) & (LineageEdge.source_id == n.id),
                (LineageEdge.target_type == n.type) & (LineageEdge.target_id == n.id),
            )
            for n in frontier
        ]
        rows = session.exec(select(LineageEdge).where(LineageEdge.tenant_id == tenant_id, or_(*conditions))).all()
        frontier = set()
        for row in rows:
            if row.id not in found:
                found[row.id] = row
                frontier |= {Node(row.source_type, row.source_id), Node(row.target_type, row.target_id)}
    return [
        Edge(Node(r.source_type, r.source_id), Node(r.target_type, r.target_id), r.relation) for r in found.values()
    ]
