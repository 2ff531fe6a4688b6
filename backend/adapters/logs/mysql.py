"""The log index in MySQL/MariaDB (production): an InnoDB table with a FULLTEXT index on each
message's words (Chinese cut by jieba), searched in boolean mode with every word required. Words
shorter than InnoDB's minimum token size (3) are matched with LIKE instead, so they still narrow
the search.

The tables are the log system's own (``ops_log_line``, ``ops_log_cursor``), made on first
use like the metrics store's; point ``MEDAI_LOG_INDEX_URL`` at a database of their own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, create_engine

from backend.adapters.logs import Cursor, LogLine, LogQuery, index_text, ms, search_terms
from backend.adapters.logs.sqlite import filters, row_line

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ops_log_line (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        ts BIGINT NOT NULL,
        tenant_id VARCHAR(32) NOT NULL,
        source VARCHAR(16) NOT NULL,
        source_id VARCHAR(64) NOT NULL,
        level VARCHAR(8) NOT NULL,
        message TEXT NOT NULL,
        words TEXT NOT NULL,
        KEY ix_ops_log_line_scope (tenant_id, ts),
        KEY ix_ops_log_line_ts (ts),
        FULLTEXT KEY ft_ops_log_line_words (words)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE IF NOT EXISTS ops_log_cursor (
        `key` VARCHAR(255) NOT NULL PRIMARY KEY,
        tenant_id VARCHAR(32) NOT NULL,
        source VARCHAR(16) NOT NULL,
        source_id VARCHAR(64) NOT NULL,
        position BIGINT NOT NULL,
        open TINYINT NOT NULL,
        detail TEXT NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
)
_COLUMNS = "l.id, l.ts, l.tenant_id, l.source, l.source_id, l.level, l.message"
MIN_TOKEN = 3  # innodb_ft_min_token_size's default


def boolean_query(terms: list[str]) -> str:
    """A boolean-mode FULLTEXT query requiring every term, each quoted as a phrase."""
    return " ".join('+"' + t.replace('"', " ") + '"' for t in terms)


class MysqlLogIndex:
    backend = "mysql-fulltext"

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url, pool_pre_ping=True, pool_recycle=3600)
        with self._engine.begin() as db:
            for statement in _SCHEMA:
                db.exec_driver_sql(statement)

    def append(self, lines: Sequence[LogLine], cursor: Cursor | None = None) -> None:
        rows = [
            (ms(x.at), x.tenant_id, x.source, x.source_id[:64], x.level[:8], x.message, index_text(x.message))
            for x in lines
        ]
        with self._engine.begin() as db:
            if rows:
                db.exec_driver_sql(
                    "INSERT INTO ops_log_line (ts, tenant_id, source, source_id, level, message, words) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
            if cursor is not None:
                self._write_cursor(db, cursor)

    def search(self, query: LogQuery) -> list[LogLine]:
        where, args = filters(query, "%s")
        terms = search_terms(query.text)
        long_terms = [t for t in terms if len(t) >= MIN_TOKEN]
        if long_terms:
            where.insert(0, "MATCH (l.words) AGAINST (%s IN BOOLEAN MODE)")
            args.insert(0, boolean_query(long_terms))
        for term in (t for t in terms if len(t) < MIN_TOKEN):
            where.append("l.message LIKE %s")
            args.append("%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        order = "ASC" if query.after_id else "DESC"
        sql = f"SELECT {_COLUMNS} FROM ops_log_line l {clause} ORDER BY l.id {order} LIMIT %s"  # noqa: S608
        with self._engine.connect() as db:
            rows = db.exec_driver_sql(sql, (*args, max(1, min(query.limit, 5000)))).all()
        return [row_line(r) for r in rows]

    @staticmethod
    def _write_cursor(db: Connection, cursor: Cursor) -> None:
        db.exec_driver_sql(
            "INSERT INTO ops_log_cursor (`key`, tenant_id, source, source_id, position, open, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
            "position = VALUES(position), open = VALUES(open), detail = VALUES(detail)",
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
        with self._engine.begin() as db:
            self._write_cursor(db, cursor)

    def _cursors(self, where: str, args: tuple[object, ...]) -> list[Cursor]:
        with self._engine.connect() as db:
            rows = db.exec_driver_sql(
                "SELECT `key`, tenant_id, source, source_id, position, open, detail "  # noqa: S608
                f"FROM ops_log_cursor WHERE {where}",
                args,
            ).all()
        return [Cursor(k, t, s, i, int(o), bool(op), json.loads(d)) for k, t, s, i, o, op, d in rows]

    def cursor(self, key: str) -> Cursor | None:
        found = self._cursors("`key` = %s", (key,))
        return found[0] if found else None

    def open_cursors(self) -> list[Cursor]:
        return self._cursors("open = 1", ())

    def delete_before(self, cutoff: datetime) -> None:
        with self._engine.begin() as db:
            db.exec_driver_sql("DELETE FROM ops_log_line WHERE ts < %s", (ms(cutoff),))

    def ping(self) -> None:
        with self._engine.connect() as db:
            db.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self._engine.dispose()
