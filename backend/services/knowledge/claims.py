"""Background jobs kept on a knowledge base's own row (a re-embed, a full-text re-index): its
status, progress and heartbeat columns are the queue, so a job outlives a restart of the process,
and claiming one is an atomic status change, so two processes never run the same one."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any, TypeVar

from sqlmodel import Session, col, select, update

from backend.models import KnowledgeBase
from backend.models.base import utcnow

STALE_AFTER = timedelta(minutes=10)  # a running job this quiet was left by a process that died
T = TypeVar("T")


def claim(
    open_session: Callable[[], AbstractContextManager[Session]],
    status: Any,
    progress: Any,
    heartbeat: Any,
    job: Callable[[KnowledgeBase], T],
) -> T | None:
    """The oldest queued job of one kind, marked running (``status``, ``progress`` and
    ``heartbeat`` are the kind's KnowledgeBase columns), as ``job`` makes it from the row; None when
    nothing waits. A running job quiet for STALE_AFTER is queued again first."""
    with open_session() as session:
        session.exec(
            update(KnowledgeBase)
            .where(status == "running", col(heartbeat) < utcnow() - STALE_AFTER)
            .values({status: "queued", progress: 0.0})
        )
        waiting = session.exec(
            select(KnowledgeBase.id).where(status == "queued").order_by(col(heartbeat)).limit(5)
        ).all()
    for kb_id in waiting:
        with open_session() as session:
            taken = session.exec(
                update(KnowledgeBase)
                .where(KnowledgeBase.id == kb_id, status == "queued")
                .values({status: "running", progress: 0.0, heartbeat: utcnow()})
            )
            kb = session.get(KnowledgeBase, kb_id) if taken.rowcount == 1 else None  # type: ignore[attr-defined]
            if kb is not None:
                return job(kb)
    return None
