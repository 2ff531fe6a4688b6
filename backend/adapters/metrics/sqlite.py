"""Time series in one SQLite file (embedded default). One row per (series, field, time);
a series is a measurement plus its tags, stored as canonical JSON so equal tags match.
WAL mode lets the dashboards read while training workers write.

Every write also adds to a per-minute rollup (sum and count per series, field and minute), so
a downsampled query with buckets of a minute or more (a 24-hour dashboard) reads at most 1,440
rows per series and field instead of every raw point; its buckets then hold whole minutes."""

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
CREATE INDEX IF NOT EXISTS ix_point_field_ts ON point (measurement, field, ts);
CREATE TABLE IF NOT EXISTS rollup_1m (
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,
    field TEXT NOT NULL,
    minute INTEGER NOT NULL,
    total REAL NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (measurement, field, minute, tags)
) WITHOUT ROWID;
"""
_MINUTE_MS = 60_000


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
            db.executemany(
                "INSERT INTO rollup_1m VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (measurement, field, minute, tags) "
                "DO UPDATE SET total = total + excluded.total, n = n + 1",
                [(m, tags, name, ts // _MINUTE_MS, value) for m, tags, name, ts, value in rows],
            )

    @staticmethod
    def _where(
        measurement: str,
        tags: dict[str, str],
        start: datetime,
        end: datetime | None,
        fields: Sequence[str],
        time_column: str = "ts",
        unit_ms: int = 1,
    ) -> tuple[str, list[object]]:
        sql = [f"WHERE measurement = ? AND {time_column} >= ?"]
        args: list[object] = [measurement, _ms(start) // unit_ms]
        if end is not None:
            sql.append(f"AND {time_column} < ?")
            args.append(-(-_ms(end) // unit_ms))  # a partly covered last minute is included
        for key, value in sorted(tags.items()):
            sql.append("AND json_extract(tags, ?) = ?")
            args += [f"$.{key}", value]
        if fields:
            sql.append(f"AND field IN ({','.join('?' * len(fields))})")
            args += list(fields)
        return " ".join(sql), args

    def query(
        self,
        measurement: str,
        tags: dict[str, str],
        start: datetime,
        end: datetime | None = None,
        fields: Sequence[str] = (),
        every: timedelta | None = None,
    ) -> list[Series]:
        if every is not None and every.total_seconds() >= 60:
            where, args = self._where(measurement, tags, start, end, fields, "minute", _MINUTE_MS)
            minutes = int(every.total_seconds() // 60)
            query = (
                f"SELECT tags, field, (minute / {minutes}) * {minutes * _MINUTE_MS} AS b, SUM(total) / SUM(n) "  # noqa: S608
                f"FROM rollup_1m {where} GROUP BY tags, field, b ORDER BY tags, field, b"
            )
        elif every is not None:
            where, args = self._where(measurement, tags, start, end, fields)
            bucket = max(1, int(every.total_seconds() * 1000))
            query = (
                f"SELECT tags, field, (ts / {bucket}) * {bucket} AS b, AVG(value) FROM point {where} "  # noqa: S608
                "GROUP BY tags, field, b ORDER BY tags, field, b"
            )
        else:
            where, args = self._where(measurement, tags, start, end, fields)
            query = f"SELECT tags, field, ts, value FROM point {where} ORDER BY tags, field, ts"  # noqa: S608
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
            db.execute("DELETE FROM rollup_1m WHERE minute < ?", (_ms(cutoff) // _MINUTE_MS,))

    def ping(self) -> None:
        self._connection().execute("SELECT 1")
