"""The log index: job, service and platform log lines searched by text, time, source and
level, and followed live (source §3.4 log query, §6.3 searchable error logs). SQLite FTS5 in
one file (embedded default) or a MySQL/MariaDB table with a FULLTEXT index (production).

The index also keeps a cursor per log it reads (a worker's log file, the job events): how far
it has read, so lines are indexed once, even across platform restarts. A batch of lines and
the cursor that covers them are written in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from backend.adapters import segmentation
from backend.settings import Settings

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SOURCES = ("job", "service", "platform")


@dataclass(frozen=True)
class LogLine:
    at: datetime
    tenant_id: str  # "" for platform lines, which only platform admins read
    source: str  # job | service | platform
    source_id: str  # job id, deployment id, or the logger's name
    level: str
    message: str
    id: int = 0  # set by the index


@dataclass(frozen=True)
class LogQuery:
    tenant_id: str | None  # None: every tenant and the platform (platform admins only)
    text: str = ""
    start: datetime | None = None
    end: datetime | None = None
    sources: tuple[str, ...] = ()
    source_id: str = ""
    levels: tuple[str, ...] = ()
    after_id: int = 0  # live tail: only lines newer than this one, oldest first
    limit: int = 200


@dataclass
class Cursor:
    """How far one log has been read."""

    key: str  # e.g. "file:/path/worker.log" or "job_events"
    tenant_id: str
    source: str
    source_id: str
    offset: int = 0
    open: bool = True  # closed once the log can grow no more
    detail: dict[str, str] = field(default_factory=dict)


class LogIndex(Protocol):
    backend: str

    def append(self, lines: Sequence[LogLine], cursor: Cursor | None = None) -> None:
        """Index lines and, in the same transaction, save the cursor that covers them."""
        ...

    def search(self, query: LogQuery) -> list[LogLine]:
        """Newest first; with ``after_id`` the lines after it, oldest first."""
        ...

    def cursor(self, key: str) -> Cursor | None: ...

    def open_cursors(self) -> list[Cursor]: ...

    def save_cursor(self, cursor: Cursor) -> None: ...

    def delete_before(self, cutoff: datetime) -> None: ...

    def ping(self) -> None: ...


_WORD = re.compile(r"[\w.:/-]+", re.UNICODE)


def search_terms(text: str) -> list[str]:
    """The words of a search box, without operators: every word must appear. Chinese is cut into
    words (高血压患者 → 高血压, 患者), as it is when lines are indexed."""
    words = [w for w in (m.group(0).strip(".:/-") for m in _WORD.finditer(text)) if w]
    return [part for w in words for part in (segmentation.query_words(w) if segmentation.has_cjk(w) else [w])][:16]


def index_text(message: str) -> str:
    """What the full-text index holds for a line: the message, and its Chinese words spaced out."""
    if not segmentation.has_cjk(message):
        return message
    return message + " " + " ".join(segmentation.index_words(message))


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def build_log_index(settings: Settings) -> LogIndex:
    if settings.log_index_url:
        from backend.adapters.logs.mysql import MysqlLogIndex

        return MysqlLogIndex(settings.log_index_url)
    from backend.adapters.logs.sqlite import SqliteLogIndex

    assert settings.log_index_db is not None
    return SqliteLogIndex(settings.log_index_db)
