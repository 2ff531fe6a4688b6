"""The log index in one SQLite file with an FTS5 full-text table (embedded default). Lines
live in ``log_line``; ``log_fts`` indexes their text and a ``scope`` of words naming the
line's tenant, level and source (external content, kept in step by triggers), so a search in
one tenant at one level intersects posting lists instead of filtering every matching line.
WAL mode lets searches run while the controller appends."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from backend.adapters.logs import Cursor, LogLine, LogQuery, from_ms, index_text, ms, search_terms

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_line (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    words TEXT NOT NULL,
    scope TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_log_line_scope ON log_line (tenant_id, ts);
CREATE INDEX IF NOT EXISTS ix_log_line_ts ON log_line (ts);
CREATE VIRTUAL TABLE IF NOT EXISTS log_fts USING fts5(words, scope, content='log_line', content_rowid='id');
CREATE TRIGGER IF NOT EXISTS log_line_added AFTER INSERT ON log_line BEGIN
    INSERT INTO log_fts (rowid, words, scope) VALUES (new.id, new.words, new.scope);
END;
CREATE TRIGGER IF NOT EXISTS log_line_removed AFTER DELETE ON log_line BEGIN
    INSERT INTO log_fts (log_fts, rowid, words, scope) VALUES ('delete', old.id, old.words, old.scope);
END;
CREATE TABLE IF NOT EXISTS log_cursor (
    key TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    open INTEGER NOT NULL,
    detail TEXT NOT NULL
);
"""

_COLUMNS = "l.id, l.ts, l.tenant_id, l.source, l.source_id, l.level, l.message"


def _word(prefix: str, value: str) -> str:
    return prefix + "".join(c for c in value.lower() if c.isalnum())


def scope_words(tenant_id: str, level: str, source: str) -> str:
    return f"{_word('tenant', tenant_id or 'platform')} {_word('level', level)} {_word('source', source)}"


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _match(terms: list[str], query: LogQuery) -> str:
    """An FTS5 query: every term in the message (each quoted so no operator slips in), and the
    tenant, levels and sources as scope words."""
    parts = [f"words : {_quoted(t)}" for t in terms]
    if query.tenant_id is not None:
        parts.append(f"scope : {_quoted(_word('tenant', query.tenant_id or 'platform'))}")
    for prefix, values in (("level", query.levels), ("source", query.sources)):
        if values:
            parts.append("(" + " OR ".join(f"scope : {_quoted(_word(prefix, v))}" for v in values) + ")")
    return " AND ".join(parts)


def filters(query: LogQuery, placeholder: str = "?") -> tuple[list[str], list[object]]:
    """WHERE conditions on log_line (alias l) shared by both backends."""
    sql: list[str] = []
    args: list[object] = []
    if query.tenant_id is not None:
        sql.append(f"l.tenant_id = {placeholder}")
        args.append(query.tenant_id)
    if query.start is not None:
        sql.append(f"l.ts >= {placeholder}")
        args.append(ms(query.start))
    if query.end is not None:
        sql.append(f"l.ts < {placeholder}")
        args.append(ms(query.end))
    for column, values in (("source", query.sources), ("level", query.levels)):
        if values:
            sql.append(f"l.{column} IN ({', '.join(placeholder for _ in values)})")
            args += list(values)
    if query.source_id:
        sql.append(f"l.source_id = {placeholder}")
        args.append(query.source_id)
    if query.after_id:
        sql.append(f"l.id > {placeholder}")
        args.append(query.after_id)
    return sql, args


def row_line(row: Sequence[object]) -> LogLine:
    id_, ts, tenant_id, source, source_id, level, message = row
    return LogLine(from_ms(int(ts)), str(tenant_id), str(source), str(source_id), str(level), str(message), int(id_))


class SqliteLogIndex:
    backend = "sqlite-fts5"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def append(self, lines: Sequence[LogLine], cursor: Cursor | None = None) -> None:
        rows = [
            (
                ms(x.at),
                x.tenant_id,
                x.source,
                x.source_id[:64],
                x.level,
                x.message,
                index_text(x.message),
                scope_words(x.tenant_id, x.level, x.source),
            )
            for x in lines
        ]
        db = self._connection()
        with db:
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO log_line (ts, tenant_id, source, source_id, level, message, words, scope) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            if cursor is not None:
                self._write_cursor(db, cursor)

    def search(self, query: LogQuery) -> list[LogLine]:
        where, args = filters(query)
        terms = search_terms(query.text)
        order = "ASC" if query.after_id else "DESC"
        if terms or query.levels:
            where.insert(0, "log_fts MATCH ?")
            args.insert(0, _match(terms, query))
            sql = (
                f"SELECT {_COLUMNS} FROM log_fts JOIN log_line l ON l.id = log_fts.rowid "  # noqa: S608
                f"WHERE {' AND '.join(where)} ORDER BY log_fts.rowid {order} LIMIT ?"
            )
        else:
            clause = f"WHERE {' AND '.join(where)}" if where else ""
            sql = f"SELECT {_COLUMNS} FROM log_line l {clause} ORDER BY l.id {order} LIMIT ?"  # noqa: S608
        return [row_line(r) for r in self._connection().execute(sql, [*args, max(1, min(query.limit, 5000))])]

    @staticmethod
    def _write_cursor(db: sqlite3.Connection, cursor: Cursor) -> None:
        db.execute(
            "INSERT INTO log_cursor VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "position = excluded.position, open = excluded.open, detail = excluded.detail",
            (
                cursor.key,
                cursor.tenant_id,
                cursor.source,
                cursor.source_id,
                cursor.offset,
                int(cursor.open),
                json.dumps(cursor.detail),
            ),
        )

    def save_cursor(self, cursor: Cursor) -> None:
        db = self._connection()
        with db:
            db.execute("BEGIN")
            self._write_cursor(db, cursor)

    def _cursors(self, where: str, args: Sequence[object]) -> list[Cursor]:
        rows = self._connection().execute(
            f"SELECT key, tenant_id, source, source_id, position, open, detail FROM log_cursor WHERE {where}",  # noqa: S608
            args,
        )
        return [Cursor(k, t, s, i, int(o), bool(op), json.loads(d)) for k, t, s, i, o, op, d in rows]

    def cursor(self, key: str) -> Cursor | None:
        found = self._cursors("key = ?", (key,))
        return found[0] if found else None

    def open_cursors(self) -> list[Cursor]:
        return self._cursors("open = 1", ())

    def delete_before(self, cutoff: datetime) -> None:
        db = self._connection()
        with db:
            db.execute("BEGIN")
            db.execute("DELETE FROM log_line WHERE ts < ?", (ms(cutoff),))

    def ping(self) -> None:
        self._connection().execute("SELECT count(*) FROM log_cursor")
