"""Operations: log search over 1,000,000 lines and a 24-hour dashboard query over 1,000,000
points, p50/p95, each against a baseline in the same run.

  log search   the FTS5 index (words, tenant, time, level) vs a LIKE scan of the same table
  dashboard    a 24-hour host series bucketed per 5 minutes, vs reading every raw point of
               that day and bucketing in Python

Target (issue 9): p95 ≤ 100 ms for both (the source asks ≤ 1 s). Sizes can be lowered with
MEDAI_BENCH_OPS_LINES and MEDAI_BENCH_OPS_POINTS for a quick look.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backend.adapters.logs import LogLine, LogQuery
from backend.adapters.logs.sqlite import SqliteLogIndex
from backend.adapters.metrics import Point
from backend.adapters.metrics.sqlite import SqliteMetricsStore

LINES = int(os.environ.get("MEDAI_BENCH_OPS_LINES", "1000000"))
POINTS = int(os.environ.get("MEDAI_BENCH_OPS_POINTS", "1000000"))
TENANTS = [f"t{i}" for i in range(20)]
WORDS = [
    "step",
    "loss",
    "learning",
    "rate",
    "grad",
    "norm",
    "epoch",
    "checkpoint",
    "saved",
    "uploaded",
    "replica",
    "ready",
    "request",
    "served",
    "tokens",
    "latency",
    "warmup",
    "eval",
    "perplexity",
    "tokenizer",
    "shard",
    "download",
    "cache",
    "miss",
    "hit",
    "queue",
    "admitted",
    "scheduler",
    "node",
    "memory",
    "allocation",
    "batch",
    "padding",
    "attention",
    "gradient",
    "optimizer",
    "scheduler",
    "cosine",
    "restart",
    "health",
    "probe",
]
RARE = ("OutOfMemoryError", "segfault", "NaN", "deadlock")
QUERIES = 60
TARGET_MS = 100.0


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _timed(run, queries) -> list[float]:
    times = []
    for query in queries:
        started = time.perf_counter()
        run(query)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _fill_logs(index: SqliteLogIndex, start: datetime, rng: random.Random) -> None:
    batch: list[LogLine] = []
    for i in range(LINES):
        words = rng.choices(WORDS, k=8)
        if rng.random() < 0.001:
            words.append(rng.choice(RARE))
        level = "ERROR" if rng.random() < 0.02 else ("WARNING" if rng.random() < 0.05 else "INFO")
        at = start + timedelta(seconds=i * 86400 / LINES)
        batch.append(LogLine(at, rng.choice(TENANTS), "job", f"job{i % 500}", level, " ".join(words)))
        if len(batch) == 20_000:
            index.append(batch)
            batch = []
    index.append(batch)


def bench_logs(folder: Path, rng: random.Random) -> dict[str, float]:
    index = SqliteLogIndex(folder / "logs.db")
    day = datetime.now(UTC) - timedelta(days=1)
    started = time.perf_counter()
    _fill_logs(index, day, rng)
    print(f"  indexed {LINES:,} lines in {time.perf_counter() - started:.1f} s")
    queries = [
        LogQuery(
            rng.choice(TENANTS),
            text=rng.choice([rng.choice(RARE), f"{rng.choice(WORDS)} {rng.choice(WORDS)}", rng.choice(WORDS)]),
            start=day + timedelta(hours=rng.randint(0, 12)),
            levels=rng.choice([(), ("ERROR",), ("WARNING", "ERROR")]),
            limit=200,
        )
        for _ in range(QUERIES)
    ]
    fts = _timed(index.search, queries)
    db = index._connection()  # the baseline reads the same table without the full-text index

    def scan(query: LogQuery) -> None:
        where = " AND ".join(["tenant_id = ?", "ts >= ?"] + ["message LIKE ?" for _ in query.text.split()])
        args = [query.tenant_id, int(query.start.timestamp() * 1000), *[f"%{w}%" for w in query.text.split()]]
        db.execute(f"SELECT * FROM log_line WHERE {where} ORDER BY id DESC LIMIT 200", args).fetchall()

    baseline = _timed(scan, queries[:20])
    return {"p50": _p(fts, 50), "p95": _p(fts, 95), "base_p50": _p(baseline, 50), "base_p95": _p(baseline, 95)}


def bench_dashboard(folder: Path, rng: random.Random) -> dict[str, float]:
    store = SqliteMetricsStore(folder / "metrics.db")
    now = datetime.now(UTC)
    nodes, fields = 4, ("cpu_pct", "mem_pct", "disk_pct", "load_1m")
    per_series = POINTS // (nodes * len(fields))
    started = time.perf_counter()
    for node in range(nodes):
        batch = []
        for i in range(per_series):
            at = now - timedelta(seconds=86400 * (per_series - i) / per_series)
            batch.append(Point("host", {"node": f"n{node}"}, {f: rng.random() * 100 for f in fields}, at))
            if len(batch) == 10_000:
                store.write(batch)
                batch = []
        store.write(batch)
    print(f"  wrote {per_series * nodes * len(fields):,} points in {time.perf_counter() - started:.1f} s")
    day = now - timedelta(hours=24)

    def dashboard(node: str) -> None:
        store.query("host", {"node": node}, day, None, ("cpu_pct", "mem_pct"), timedelta(minutes=5))

    def raw(node: str) -> None:
        buckets: dict[tuple[str, int], list[float]] = {}
        for series in store.query("host", {"node": node}, day, None, ("cpu_pct", "mem_pct")):
            for at, value in zip(series.times, series.values, strict=True):
                buckets.setdefault((series.field, int(at.timestamp()) // 300), []).append(value)

    nodes_asked = [f"n{rng.randrange(nodes)}" for _ in range(QUERIES)]
    fast = _timed(dashboard, nodes_asked)
    baseline = _timed(raw, nodes_asked[:10])
    return {"p50": _p(fast, 50), "p95": _p(fast, 95), "base_p50": _p(baseline, 50), "base_p95": _p(baseline, 95)}


def _report(name: str, found: dict[str, float]) -> None:
    met = "met" if found["p95"] <= TARGET_MS else "NOT met"
    print(
        f"  {name}: p50 {found['p50']:.1f} ms, p95 {found['p95']:.1f} ms "
        f"(baseline p50 {found['base_p50']:.1f} ms, p95 {found['base_p95']:.1f} ms; "
        f"{found['base_p50'] / max(found['p50'], 1e-6):.1f}x faster at p50) — target p95 ≤ {TARGET_MS:.0f} ms {met}"
    )


def main() -> None:
    rng = random.Random(9)
    with tempfile.TemporaryDirectory() as folder:
        _report("log search", bench_logs(Path(folder), rng))
        _report("24 h dashboard", bench_dashboard(Path(folder), rng))


if __name__ == "__main__":
    main()
