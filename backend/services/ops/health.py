"""Platform health: which implementation each component uses and whether it answers.

The home page and ``GET /api/health`` both show this report, so they never disagree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel
from sqlalchemy.engine import make_url

from backend import db
from backend.adapters import connectivity
from backend.settings import Settings

if TYPE_CHECKING:  # the composition root passes itself in; services never import it
    from backend.runtime import Runtime

PROBE_TIMEOUT_S = 2.0
Status = Literal["ok", "down", "off"]
COMPONENTS = ("database", "cache", "object_store", "vectors", "metrics", "compute", "controller")


class ComponentHealth(BaseModel):
    name: str
    backend: str
    target: str
    status: Status
    detail: str
    latency_ms: float


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    checked_at: datetime
    components: list[ComponentHealth]

    def component(self, name: str) -> ComponentHealth:
        return next(c for c in self.components if c.name == name)


def _masked_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _timed(name: str, backend: str, target: str, probe: Callable[[], str]) -> ComponentHealth:
    started = time.perf_counter()
    try:
        detail, status = probe(), "ok"
    except Exception as exc:  # a probe reports failure as data, never raises to the page
        detail, status = f"{type(exc).__name__}: {exc}"[:300], "down"
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return ComponentHealth(
        name=name, backend=backend, target=target, status=status, detail=detail, latency_ms=latency_ms
    )


def _database(runtime: Runtime) -> ComponentHealth:
    def probe() -> str:
        db.ping(runtime.engine)
        current, head = db.current_revision(runtime.engine), db.head_revision()
        if current != head:
            raise RuntimeError(f"schema at {current or 'none'}, code needs {head}: run `{db.UPGRADE_COMMAND}`")
        return f"schema at revision {current} (latest)"

    backend = {"sqlite": "SQLite", "mysql": "MySQL"}.get(runtime.settings.database_backend, runtime.engine.dialect.name)
    return _timed("database", backend, _masked_url(runtime.settings.database_url), probe)


def _cache(runtime: Runtime) -> ComponentHealth:
    settings = runtime.settings

    def probe() -> str:
        runtime.cache.ping()
        return "answers PING" if settings.redis_url else "in this process"

    if settings.redis_url:
        return _timed("cache", "Redis", _masked_url(settings.redis_url), probe)
    return _timed("cache", "in-process", "this process", probe)


def _object_store(settings: Settings) -> ComponentHealth:
    if settings.object_store_backend == "s3":
        return _timed(
            "object_store",
            "MinIO/S3",
            f"{settings.s3_endpoint}/{settings.s3_bucket}",
            lambda: connectivity.probe_s3(
                settings.s3_endpoint,
                settings.s3_access_key,
                settings.s3_secret_key.get_secret_value(),
                settings.s3_bucket,
                settings.s3_secure,
                settings.s3_region,
                PROBE_TIMEOUT_S,
            ),
        )
    folder = settings.object_store_dir
    return _timed("object_store", "local folder", str(folder), lambda: connectivity.probe_local_dir(folder))


def _vectors(settings: Settings) -> ComponentHealth:
    if settings.chroma_url:
        url = settings.chroma_url.rstrip("/") + "/api/v2/heartbeat"
        return _timed(
            "vectors", "Chroma server", settings.chroma_url, lambda: connectivity.probe_http(url, PROBE_TIMEOUT_S)
        )
    folder = settings.chroma_dir
    return _timed("vectors", "Chroma embedded", str(folder), lambda: connectivity.probe_local_dir(folder))


def _metrics(settings: Settings) -> ComponentHealth:
    if settings.influx_url:
        url = settings.influx_url.rstrip("/") + "/health"
        return _timed(
            "metrics",
            "InfluxDB 2",
            settings.influx_url,
            lambda: connectivity.probe_http(url, PROBE_TIMEOUT_S, "status"),
        )
    path = settings.metrics_db
    return _timed("metrics", "SQLite time-series", str(path), lambda: connectivity.probe_sqlite_file(path))


def _compute(settings: Settings) -> ComponentHealth:
    if settings.compute_backend == "kubernetes":
        target = settings.kubeconfig or "in-cluster"
        return _timed(
            "compute",
            "Kubernetes",
            target,
            lambda: connectivity.probe_kubernetes(settings.kubeconfig, settings.k8s_namespace, PROBE_TIMEOUT_S),
        )
    return _timed("compute", "local processes", "this host", connectivity.probe_local_compute)


def _controller(runtime: Runtime) -> ComponentHealth:
    state = runtime.controller.status()
    count = len(state.reconcilers)
    if not state.running:
        detail = f"not running in this process ({count} reconcilers registered); it runs inside the app server"
        return ComponentHealth(
            name="controller", backend="lifespan task", target="this process", status="off", detail=detail, latency_ms=0
        )
    since = state.seconds_since_last_pass
    stalled = since is None or since > 5 * state.interval_s + 5
    failing = [name for name, stats in state.reconcilers.items() if stats.last_error]
    detail = f"{state.passes} passes over {count} reconcilers"
    if since is not None:
        detail += f", last {since:.1f} s ago"
    if failing:
        detail += f"; failing: {', '.join(failing)}"
    return ComponentHealth(
        name="controller",
        backend="lifespan task",
        target="this process",
        status="down" if stalled else "ok",
        detail=detail,
        latency_ms=0,
    )


def check_platform(runtime: Runtime) -> HealthReport:
    """Probe every component in parallel; the report arrives within about PROBE_TIMEOUT_S."""
    settings = runtime.settings
    probes: list[Callable[[], ComponentHealth]] = [
        lambda: _database(runtime),
        lambda: _cache(runtime),
        lambda: _object_store(settings),
        lambda: _vectors(settings),
        lambda: _metrics(settings),
        lambda: _compute(settings),
        lambda: _controller(runtime),
    ]
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        components = list(pool.map(lambda probe: probe(), probes))
    status = "ok" if all(c.status != "down" for c in components) else "degraded"
    return HealthReport(status=status, checked_at=datetime.now(UTC), components=components)
