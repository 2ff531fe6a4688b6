"""Collectors and dashboards (source §2.3.3 monitoring within 1 s, §6.1 resource alerts).

The controller calls ``collect`` every pass (about once a second). It writes to the metrics
store what this node and the platform are doing: the host (psutil), each GPU through NVML
(nothing at all when there is none: the dashboards say so instead of inventing numbers),
every ready replica's Prometheus ``/metrics``, the gateway's requests, errors, latency
percentiles and tokens from its usage records, and the tenants' jobs. Training workers write
their own curves (measurement ``train``).
"""

from __future__ import annotations

import socket
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, col, func, select

from backend.adapters.gpus import GpuInventory, read_gpus
from backend.adapters.metrics import MetricsStore, Point, Series
from backend.errors import ErrorCode, MedAIError
from backend.models import Deployment, Replica, TrainingJob, UsageRecord
from backend.models.base import utcnow
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area
from backend.services.serving.engine_metrics import engine_fields

# measurement -> whether its series belong to a tenant (tagged tenant_id)
MEASUREMENTS: dict[str, bool] = {
    "host": False,
    "gpu": False,
    "engine": True,
    "gateway": True,
    "jobs": True,
    "train": True,
}


@dataclass
class CollectorState:
    """What the collectors remember between passes (one per runtime)."""

    node: str = field(default_factory=socket.gethostname)
    last_usage_id: int | None = None
    last_expiry: datetime | None = None
    gpus: GpuInventory | None = None  # the latest NVML reading, or why there is none
    cpu_times: tuple[float, float] | None = None  # (busy, total) seconds at the last pass
    node_cpu: dict[str, tuple[float, float]] = field(default_factory=dict)  # the same, per node exporter
    read_gpus: Callable[[], GpuInventory] = read_gpus


def _cpu_pct(state: CollectorState) -> float | None:
    """Busy share of all CPUs since the last pass, from our own sample (psutil's cpu_percent
    keeps one sample per process, which any other caller resets)."""
    times = psutil.cpu_times()
    total = sum(times)
    busy = total - times.idle - getattr(times, "iowait", 0.0)
    last, state.cpu_times = state.cpu_times, (busy, total)
    if last is None or total <= last[1]:
        return None
    return max(0.0, min(100.0, 100.0 * (busy - last[0]) / (total - last[1])))


def host_point(state: CollectorState, data_dir: str, now: datetime) -> Point:
    memory = psutil.virtual_memory()
    cpu = _cpu_pct(state)
    fields = {
        **({"cpu_pct": cpu} if cpu is not None else {}),
        "mem_pct": memory.percent,
        "mem_used_gb": memory.used / 2**30,
        "mem_total_gb": memory.total / 2**30,
        "disk_pct": psutil.disk_usage(data_dir).percent,
        "load_1m": psutil.getloadavg()[0],
        "processes": float(len(psutil.pids())),
    }
    return Point("host", {"node": state.node}, fields, now)


def gpu_points(inventory: GpuInventory, node: str, now: datetime) -> list[Point]:
    return [
        Point(
            "gpu",
            {"node": node, "gpu": str(g.index), "name": g.name},
            {
                "util_pct": float(g.utilization_pct),
                "mem_used_mib": float(g.memory_used_mib),
                "mem_total_mib": float(g.memory_total_mib),
                "mem_pct": 100.0 * g.memory_used_mib / g.memory_total_mib if g.memory_total_mib else 0.0,
                "temperature_c": float(g.temperature_c),
                "power_w": float(g.power_w),
            },
            now,
        )
        for g in inventory.gpus
    ]


_DCGM_FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": "util_pct",
    "DCGM_FI_DEV_FB_USED": "mem_used_mib",
    "DCGM_FI_DEV_FB_FREE": "mem_free_mib",
    "DCGM_FI_DEV_GPU_TEMP": "temperature_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
}


def dcgm_points(text: str, now: datetime) -> list[Point]:
    """One GPU point per (node, GPU) from an NVIDIA DCGM exporter's Prometheus text, in the
    same fields as NVML's, so cluster GPUs join this node's on the dashboards."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = _DCGM_FIELDS.get(sample.name)
            if name is None:
                continue
            labels = sample.labels
            key = (labels.get("Hostname", ""), labels.get("gpu", ""))
            entry = found.setdefault(key, {"name": labels.get("modelName", ""), "fields": {}})
            entry["fields"][name] = float(sample.value)
    points = []
    for (node, gpu), entry in found.items():
        fields = entry["fields"]
        free = fields.pop("mem_free_mib", None)
        if free is not None and "mem_used_mib" in fields:
            fields["mem_total_mib"] = fields["mem_used_mib"] + free
            fields["mem_pct"] = (
                100.0 * fields["mem_used_mib"] / fields["mem_total_mib"] if fields["mem_total_mib"] else 0.0
            )
        points.append(Point("gpu", {"node": node, "gpu": gpu, "name": entry["name"]}, fields, now))
    return points


def _dcgm(client: httpx.Client, urls: Sequence[str], now: datetime) -> list[Point]:
    points = []
    for url in urls:
        try:
            response = client.get(url, timeout=0.5)
            response.raise_for_status()
            points += dcgm_points(response.text, now)
        except (httpx.HTTPError, ValueError):
            continue  # an exporter that does not answer leaves a gap, not invented numbers
    return points


def node_exporter_point(text: str, node: str, previous: dict[str, tuple[float, float]], now: datetime) -> Point | None:
    """A host point for a cluster node from its Prometheus node exporter, in the fields of this
    node's own (psutil) point; CPU % needs two readings, so the first one has none."""
    busy = total = 0.0
    values: dict[str, float] = {}
    disk: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "node_cpu_seconds_total":
                total += sample.value
                busy += 0.0 if sample.labels.get("mode") in ("idle", "iowait") else sample.value
            elif sample.name in ("node_filesystem_size_bytes", "node_filesystem_avail_bytes"):
                if sample.labels.get("mountpoint") == "/":
                    disk[sample.name] = sample.value
            else:
                values[sample.name] = sample.value
    fields: dict[str, float] = {}
    if total and (last := previous.get(node)) is not None and total > last[1]:
        fields["cpu_pct"] = 100.0 * (busy - last[0]) / (total - last[1])
    if total:
        previous[node] = (busy, total)
    memory, available = values.get("node_memory_MemTotal_bytes"), values.get("node_memory_MemAvailable_bytes")
    if memory and available is not None:
        fields |= {
            "mem_pct": 100.0 * (memory - available) / memory,
            "mem_used_gb": (memory - available) / 2**30,
            "mem_total_gb": memory / 2**30,
        }
    if disk.get("node_filesystem_size_bytes"):
        size = disk["node_filesystem_size_bytes"]
        fields["disk_pct"] = 100.0 * (size - disk.get("node_filesystem_avail_bytes", size)) / size
    if "node_load1" in values:
        fields["load_1m"] = values["node_load1"]
    return Point("host", {"node": node}, fields, now) if fields else None


def _node_exporters(client: httpx.Client, urls: Sequence[str], state: CollectorState, now: datetime) -> list[Point]:
    points = []
    for url in urls:
        try:
            response = client.get(url, timeout=0.5)
            response.raise_for_status()
            point = node_exporter_point(response.text, httpx.URL(url).host, state.node_cpu, now)
        except (httpx.HTTPError, ValueError):
            continue  # a node that does not answer leaves a gap in its series
        if point is not None:
            points.append(point)
    return points


def _engine_points(session: Session, client: httpx.Client, now: datetime) -> list[Point]:
    points = []
    rows = session.exec(
        select(Replica, Deployment).where(Replica.deployment_id == Deployment.id, Replica.status == "ready")
    )
    for replica, deployment in rows:
        try:
            response = client.get(f"{replica.url}/metrics", timeout=0.5)
            response.raise_for_status()
            fields = engine_fields(response.text)
        except (httpx.HTTPError, ValueError):
            continue  # a replica that does not answer is the serving controller's business
        tags = {"tenant_id": deployment.tenant_id, "deployment_id": deployment.id, "replica": str(replica.ordinal)}
        if fields:
            points.append(Point("engine", tags, fields, now))
    return points


def percentile(values: Sequence[float], q: float) -> float:
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])


def _gateway_points(session: Session, state: CollectorState, now: datetime) -> list[Point]:
    """Requests since the last pass, per tenant and service: count, errors, tokens, latency p50/p95."""
    if state.last_usage_id is None:  # start from now: history is already in the usage table
        state.last_usage_id = int(session.exec(select(func.max(UsageRecord.id))).one() or 0)
        return []
    rows = session.exec(
        select(UsageRecord).where(col(UsageRecord.id) > state.last_usage_id).order_by(col(UsageRecord.id)).limit(50_000)
    ).all()
    if not rows:
        return []
    state.last_usage_id = int(rows[-1].id or state.last_usage_id)
    groups: dict[tuple[str, str, str], list[UsageRecord]] = defaultdict(list)
    for row in rows:
        groups[(row.tenant_id, row.deployment_id, row.model)].append(row)
    points = []
    for (tenant_id, deployment_id, model), group in groups.items():
        latencies = [r.latency_ms for r in group]
        fields = {
            "requests": float(len(group)),
            "errors": float(sum(1 for r in group if r.status >= 400)),
            "prompt_tokens": float(sum(r.prompt_tokens for r in group)),
            "completion_tokens": float(sum(r.completion_tokens for r in group)),
            "latency_p50_ms": percentile(latencies, 50),
            "latency_p95_ms": percentile(latencies, 95),
        }
        points.append(
            Point("gateway", {"tenant_id": tenant_id, "deployment_id": deployment_id, "model": model}, fields, now)
        )
    return points


def _job_points(session: Session, now: datetime) -> list[Point]:
    counts: dict[str, dict[str, float]] = defaultdict(lambda: {"running": 0.0, "queued": 0.0, "gpus_in_use": 0.0})
    active = session.exec(select(TrainingJob).where(col(TrainingJob.status).in_(("running", "queued"))))
    for job in active:
        figures = counts[job.tenant_id]
        figures[job.status] += 1
        if job.status == "running":
            figures["gpus_in_use"] += job.gpus
    return [Point("jobs", {"tenant_id": tenant}, fields, now) for tenant, fields in counts.items()]


def collect(
    session: Session,
    metrics: MetricsStore,
    state: CollectorState,
    data_dir: str,
    retention_days: float,
    client: httpx.Client | None = None,
    dcgm_urls: Sequence[str] = (),
    node_urls: Sequence[str] = (),
) -> list[Point]:
    """One controller pass of every collector; returns what it wrote."""
    now = utcnow()
    state.gpus = state.read_gpus()
    points = [host_point(state, data_dir, now), *gpu_points(state.gpus, state.node, now)]
    with client or httpx.Client() as http:
        points += _engine_points(session, http, now)
        points += _dcgm(http, dcgm_urls, now)
        points += _node_exporters(http, node_urls, state, now)
    points += _gateway_points(session, state, now)
    points += _job_points(session, now)
    metrics.write(points)
    if state.last_expiry is None or now - state.last_expiry > timedelta(hours=1):
        metrics.delete_before(now - timedelta(days=retention_days))
        state.last_expiry = now
    return points


# reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesView:
    field: str
    tags: dict[str, str]
    times: list[str]
    values: list[float]


def query_metrics(
    session: Session,
    metrics: MetricsStore,
    principal: Principal,
    measurement: str,
    fields: Sequence[str] = (),
    tags: dict[str, str] | None = None,
    minutes: float = 10,
    every_s: float = 0,
) -> list[SeriesView]:
    """A measurement's series over the last ``minutes`` (mean per ``every_s`` bucket when set).
    Tenant measurements are read for the acting tenant only; host and GPU series are the node's."""
    tenant_id = authorize(session, principal, Area.OPS, Action.VIEW)
    if measurement not in MEASUREMENTS:
        raise MedAIError(
            ErrorCode.DATA_INVALID, f"Unknown measurement '{measurement}'.", f"Use one of {', '.join(MEASUREMENTS)}."
        )
    if not 0 < minutes <= 60 * 24 * 31 or every_s < 0:
        raise MedAIError(ErrorCode.DATA_INVALID, "The window is 1 minute to 31 days.", "Pick a shorter window.")
    wanted = dict(tags or {})
    if MEASUREMENTS[measurement]:
        if tenant_id is None:
            raise MedAIError(ErrorCode.DATA_INVALID, "Pick a tenant first.", "Switch to a tenant in the header.")
        wanted["tenant_id"] = tenant_id
    every = timedelta(seconds=every_s) if every_s else None
    found = metrics.query(measurement, wanted, utcnow() - timedelta(minutes=minutes), None, tuple(fields), every)
    return [_view(s) for s in found]


def _view(series: Series) -> SeriesView:
    return SeriesView(series.field, series.tags, [t.isoformat() for t in series.times], series.values)


def gpu_inventory(session: Session, principal: Principal, state: CollectorState) -> GpuInventory:
    """This node's GPUs as last read, or why there are none."""
    authorize(session, principal, Area.OPS, Action.VIEW)
    return state.gpus if state.gpus is not None else state.read_gpus()


@dataclass(frozen=True)
class CostRow:
    kind: str  # job | service
    name: str
    gpu_hours: float
    cpu_hours: float


def resource_hours(session: Session, principal: Principal, days: float = 30) -> list[CostRow]:
    """Resource-hours of the acting tenant's jobs and services over the last ``days``."""
    tenant_id = authorize(session, principal, Area.OPS, Action.VIEW)
    now = utcnow()
    since = now - timedelta(days=days)
    rows: list[CostRow] = []
    jobs = session.exec(select(TrainingJob).where(TrainingJob.tenant_id == tenant_id))
    for job in jobs:
        hours = _overlap_hours(job.started_at, job.finished_at or (now if job.status == "running" else None), since)
        if hours > 0:
            rows.append(CostRow("job", job.name, round(job.gpus * hours, 3), round(job.cpu * hours, 3)))
    replicas = session.exec(
        select(Replica, Deployment).where(Replica.deployment_id == Deployment.id, Deployment.tenant_id == tenant_id)
    )
    per_service: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for replica, deployment in replicas:
        hours = _overlap_hours(replica.started_at, now, since)
        per_service[deployment.name][0] += deployment.gpus * hours
        per_service[deployment.name][1] += deployment.cpu * hours
    rows += [CostRow("service", name, round(g, 3), round(c, 3)) for name, (g, c) in per_service.items()]
    return sorted(rows, key=lambda r: (-r.gpu_hours, -r.cpu_hours, r.name))


def _overlap_hours(start: datetime | None, end: datetime | None, since: datetime) -> float:
    if start is None or end is None:
        return 0.0
    return max(0.0, (end - max(start, since)).total_seconds() / 3600)


def latest(series: list[SeriesView]) -> dict[str, Any]:
    """The newest value of each field (for the dashboard's cards)."""
    return {s.field: s.values[-1] for s in series if s.values}
