"""Time series in one SQLite file (embedded default). One row per (series, field, time);
a series is a measurement plus its tags, stored as canonical JSON so equal tags match.
WAL mode lets the dashboards read while training workers write."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backend.adapters.metrics import Point, Series

_SCHEMA = """
CREATE TABLE IF NOT EXISTS point (
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,
    field TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_point_series ON point (measurement, tags, field, ts);
CREATE INDEX IF NOT EXISTS ix_point_ts ON point (ts);
"""


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class SqliteMetricsStore:
    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._local = threading.local()
        with self._connection() as db:
            db.executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        """One connection per thread (sqlite3 connections must not cross threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def write(self, points: Sequence[Point]) -> None:
        rows = [
            (p.measurement, json.dumps(p.tags, sort_keys=True), name, _ms(p.at), float(value))
            for p in points
            for name, value in p.fields.items()
        ]
        db = self._connection()
        with db:
            db.execute("BEGIN")
            db.executemany("INSERT INTO point VALUES (?, ?, ?, ?, ?)", rows)

    def query(
        self,
        measurement: str,
        tags: dict[str, str],
        start: datetime,
        end: datetime | None = None,
        fields: Sequence[str] = (),
        every: timedelta | None = None,
    ) -> list[Series]:
        sql = ["WHERE measurement = ? AND ts >= ?"]
        args: list[object] = [measurement, _ms(start)]
        if end is not None:
            sql.append("AND ts < ?")
            args.append(_ms(end))
        for key, value in sorted(tags.items()):
            sql.append("AND json_extract(tags, ?) = ?")
            args += [f"$.{key}", value]
        if fields:
            sql.append(f"AND field IN ({','.join('?' * len(fields))})")
            args += list(fields)
        where = " ".join(sql)
        if every is None:
            query = f"SELECT tags, field, ts, value FROM point {where} ORDER BY tags, field, ts"  # noqa: S608
        else:
            bucket = max(1, int(every.total_seconds() * 1000))
            query = (
                f"SELECT tags, field, (ts / {bucket}) * {bucket} AS b, AVG(value) FROM point {where} "  # noqa: S608
                "GROUP BY tags, field, b ORDER BY tags, field, b"
            )
        found: dict[tuple[str, str], Series] = {}
        for tag_text, name, ts, value in self._connection().execute(query, args):
            series = found.get((tag_text, name))
            if series is None:
                series = found[(tag_text, name)] = Series(name, json.loads(tag_text))
            series.times.append(_at(ts))
            series.values.append(value)
        return list(found.values())

    def delete_before(self, cutoff: datetime) -> None:
        db = self._connection()
        with db:
            db.execute("DELETE FROM point WHERE ts < ?", (_ms(cutoff),))

    def ping(self) -> None:
        self._connection().execute("SELECT 1")
