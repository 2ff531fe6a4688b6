"""Log management: every job, service and platform log line goes into one index, searched by
text, time, source and level, and followed live (source §3.4 log query, §6.3 errors logged
with time, place and context and searchable).

The controller's pass (``ship``) reads what workers wrote since last time through the compute
adapter (a local process's log file, a pod's log), the job events, and the platform's own
log records, and indexes them. A log is followed from the pass that first sees its job or
replica running until its process has ended and nothing more is left to read.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from backend.adapters.compute import Compute
from backend.adapters.logs import LEVELS, SOURCES, Cursor, LogIndex, LogLine, LogQuery
from backend.errors import ErrorCode, MedAIError
from backend.models import Deployment, JobEvent, Replica, TrainingJob
from backend.models.base import utcnow
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area

_PREFIX = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:[,.](?P<ms>\d{1,6}))?\s+"
    r"(?P<level>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\s+(?P<message>.*)$"
)
_EVENT_LEVELS = {"failed": "ERROR", "retry": "WARNING", "cancelled": "WARNING"}
_BATCH = 2000
EVENTS_KEY = "job_events"
RETENTION_KEY = "retention"


class PlatformLogs(logging.Handler):
    """Keeps the platform's own log records (``backend``, ``medai``) until the next pass indexes them."""

    def __init__(self, capacity: int = 10_000) -> None:
        super().__init__(logging.INFO)
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._lock_lines = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            line = LogLine(
                datetime.fromtimestamp(record.created).astimezone(),
                "",
                "platform",
                record.name[:64],
                "WARNING" if record.levelname == "WARN" else record.levelname,
                message[:8000],
            )
        except Exception:  # a handler must never raise into the code that logs
            self.handleError(record)
            return
        with self._lock_lines:
            self._lines.append(line)

    def drain(self) -> list[LogLine]:
        with self._lock_lines:
            lines, self._lines = list(self._lines), deque(maxlen=self._lines.maxlen)
        return lines

    def attach(self, names: tuple[str, ...] = ("backend", "medai")) -> None:
        for name in names:
            logging.getLogger(name).addHandler(self)

    def detach(self, names: tuple[str, ...] = ("backend", "medai")) -> None:
        for name in names:
            logging.getLogger(name).removeHandler(self)


def parse_worker_log(text: str, cursor: Cursor, now: datetime) -> list[LogLine]:
    """Lines as workers write them (``2026-11-25 16:48:43,123 INFO medai.train: …``); a line
    without that prefix (a traceback, a progress bar) keeps the level and time of the one before."""
    lines: list[LogLine] = []
    level, at = cursor.detail.get("level", "INFO"), now
    for raw in text.split("\n"):
        shown = raw.split("\r")[-1].rstrip()
        if not shown.strip():
            continue
        found = _PREFIX.match(shown)
        if found:
            level = "WARNING" if found["level"] == "WARN" else found["level"]
            stamp = datetime.fromisoformat(found["at"].replace(" ", "T"))
            at = stamp.replace(microsecond=int((found["ms"] or "0").ljust(6, "0")[:6])).astimezone()
            shown = found["message"]
        lines.append(LogLine(at, cursor.tenant_id, cursor.source, cursor.source_id, level, shown[:8000]))
    cursor.detail = {**cursor.detail, "level": level}
    return lines


def _discover(session: Session, index: LogIndex) -> None:
    """A cursor for every job attempt and replica that runs now and has none yet."""
    found: list[Cursor] = []
    jobs = session.exec(select(TrainingJob).where(TrainingJob.status == "running", TrainingJob.compute_ref != ""))
    for job in jobs:
        ref = job.compute_ref
        found.append(Cursor(f"compute:{ref}", job.tenant_id, "job", job.id, detail={"ref": ref}))
    replicas = session.exec(
        select(Replica, Deployment).where(Replica.deployment_id == Deployment.id, Replica.compute_ref != "")
    )
    for replica, deployment in replicas:
        ref = replica.compute_ref
        found.append(Cursor(f"compute:{ref}", deployment.tenant_id, "service", deployment.id, detail={"ref": ref}))
    for cursor in found:
        if index.cursor(cursor.key) is None:
            index.save_cursor(cursor)


def _follow(compute: Compute, index: LogIndex, cursor: Cursor, now: datetime) -> None:
    ref = cursor.detail.get("ref", "")
    text, offset = compute.read_log(ref, cursor.offset)
    if not text:
        if compute.state(ref).phase != "running":
            text, offset = compute.read_log(ref, cursor.offset)  # what it wrote just before it ended
            cursor.open = bool(text)
        if not text:
            if not cursor.open:
                index.save_cursor(cursor)
            return
    lines = parse_worker_log(text, cursor, now)
    cursor.offset = offset
    index.append(lines, cursor)


def _job_events(session: Session, index: LogIndex) -> None:
    cursor = index.cursor(EVENTS_KEY) or Cursor(EVENTS_KEY, "", "job", "", open=False)
    rows = session.exec(
        select(JobEvent, TrainingJob.tenant_id)
        .where(JobEvent.job_id == TrainingJob.id, col(JobEvent.id) > cursor.offset)
        .order_by(col(JobEvent.id))
        .limit(_BATCH)
    ).all()
    if not rows:
        return
    lines = [
        LogLine(event.at, tenant_id, "job", event.job_id, _EVENT_LEVELS.get(event.kind, "INFO"), _event_text(event))
        for event, tenant_id in rows
    ]
    cursor.offset = max(int(event.id or 0) for event, _ in rows)
    index.append(lines, cursor)


def _event_text(event: JobEvent) -> str:
    return f"job {event.kind}: {event.message}" if event.message else f"job {event.kind}"


def ship(session: Session, compute: Compute, index: LogIndex, platform: PlatformLogs | None = None) -> None:
    """One controller pass: index what every followed log, the job events and the platform wrote."""
    now = utcnow()
    _discover(session, index)
    for cursor in index.open_cursors():
        if cursor.key.startswith("compute:"):
            _follow(compute, index, cursor, now)
    _job_events(session, index)
    if platform is not None and (lines := platform.drain()):
        index.append(lines)


def expire(index: LogIndex, retention_days: float, every: timedelta = timedelta(hours=1)) -> bool:
    """Drop lines older than the retention, at most once per ``every`` (remembered in the index)."""
    now = utcnow()
    last = index.cursor(RETENTION_KEY) or Cursor(RETENTION_KEY, "", "platform", "", open=False)
    if now.timestamp() - last.offset < every.total_seconds():
        return False
    index.delete_before(now - timedelta(days=retention_days))
    last.offset = int(now.timestamp())
    index.save_cursor(last)
    return True


# reading ---------------------------------------------------------------------------------


def _checked(sources: tuple[str, ...], levels: tuple[str, ...], limit: int) -> None:
    if any(s not in SOURCES for s in sources) or any(lv not in LEVELS for lv in levels):
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            "Unknown log source or level.",
            f"Sources: {', '.join(SOURCES)}; levels: {', '.join(LEVELS)}.",
        )
    if not 1 <= limit <= 5000:
        raise MedAIError(ErrorCode.DATA_INVALID, "A search returns 1-5000 lines.", "Ask for fewer lines.")


def levels_from(minimum: str) -> tuple[str, ...]:
    """Every level at or above ``minimum`` ("" for all)."""
    if not minimum:
        return ()
    if minimum not in LEVELS:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown level '{minimum}'.", f"Use one of {', '.join(LEVELS)}.")
    return LEVELS[LEVELS.index(minimum) :]


def search_logs(
    session: Session,
    index: LogIndex,
    principal: Principal,
    text: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    sources: tuple[str, ...] = (),
    levels: tuple[str, ...] = (),
    source_id: str = "",
    after_id: int = 0,
    limit: int = 200,
) -> list[LogLine]:
    """The acting tenant's job and service lines; platform lines (``sources=("platform",)``) for
    platform admins only."""
    _checked(sources, levels, limit)
    if "platform" in sources:
        if len(sources) > 1:
            raise MedAIError(ErrorCode.DATA_INVALID, "Search platform logs on their own.", "Pick one source.")
        authorize(session, principal, Area.PLATFORM, Action.VIEW)
        tenant_id: str | None = ""
    else:
        tenant_id = authorize(session, principal, Area.OPS, Action.VIEW)
        if tenant_id is None:
            raise MedAIError(ErrorCode.DATA_INVALID, "Pick a tenant to search its logs.", "Switch to a tenant first.")
        sources = sources or ("job", "service")
    query = LogQuery(tenant_id, text, start, end, sources, source_id, levels, after_id, limit)
    return index.search(query)


def line_view(line: LogLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "at": line.at.isoformat(),
        "source": line.source,
        "source_id": line.source_id,
        "level": line.level,
        "message": line.message,
    }
