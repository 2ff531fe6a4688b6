"""Collectors: host figures from psutil, GPUs only when NVML finds some (no invented numbers),
engine /metrics parsed by vLLM's names, gateway usage turned into requests, errors, tokens
and latency percentiles per service; dashboards read per tenant."""

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from backend.adapters.gpus import Gpu, GpuInventory
from backend.adapters.metrics import Point
from backend.adapters.metrics.sqlite import SqliteMetricsStore
from backend.errors import MedAIError
from backend.models import UsageRecord
from backend.models.base import utcnow
from backend.services.ops import metrics as ops_metrics
from backend.services.serving.engine_metrics import engine_fields
from tests.unit.ops_world import build_ward

NO_GPU = GpuInventory((), "no NVIDIA driver: NVML Shared Library Not Found", False)
ONE_GPU = GpuInventory((Gpu(0, "NVIDIA H100", "GPU-1", 81559, 40779, 87, 64, 312.5),), "580.1", True)


def _collect(runtime, state):
    with runtime.session() as session:
        return ops_metrics.collect(session, runtime.metrics, state, str(runtime.settings.data_dir), 30)


def test_host_figures_and_no_gpu_means_no_gpu_points(runtime):
    state = ops_metrics.CollectorState(node="n1", read_gpus=lambda: NO_GPU)
    points = _collect(runtime, state)
    host = next(p for p in points if p.measurement == "host")
    assert 0 <= host.fields["mem_pct"] <= 100 and host.fields["mem_total_gb"] > 0 and host.tags == {"node": "n1"}
    assert not any(p.measurement == "gpu" for p in points) and state.gpus == NO_GPU
    stored = runtime.metrics.query("host", {"node": "n1"}, utcnow() - timedelta(minutes=1), fields=("mem_pct",))
    assert len(stored) == 1 and stored[0].values == [host.fields["mem_pct"]]
    assert "cpu_pct" not in host.fields  # a share of CPU time needs two samples: none is made up
    sum(i * i for i in range(200_000))  # some CPU time between the passes
    again = next(p for p in _collect(runtime, state) if p.measurement == "host")
    assert 0 <= again.fields["cpu_pct"] <= 100


def test_each_gpu_is_a_series_when_nvml_finds_one(runtime):
    state = ops_metrics.CollectorState(node="n1", read_gpus=lambda: ONE_GPU)
    gpu = next(p for p in _collect(runtime, state) if p.measurement == "gpu")
    assert gpu.tags == {"node": "n1", "gpu": "0", "name": "NVIDIA H100"}
    assert gpu.fields["util_pct"] == 87 and gpu.fields["power_w"] == 312.5 and round(gpu.fields["mem_pct"]) == 50


def test_engine_metrics_are_read_by_vllm_names():
    registry = CollectorRegistry()
    labels = ["model_name"]
    Gauge("vllm:num_requests_running", "r", labels, registry=registry).labels("m").set(3)
    Counter("vllm:generation_tokens", "g", labels, registry=registry).labels("m").inc(420)
    fields = engine_fields(generate_latest(registry).decode())
    assert fields == {"requests_running": 3.0, "generation_tokens_total": 420.0}


def test_kv_cache_usage_is_read_by_its_name_in_each_vllm_version():
    old = 'vllm:gpu_cache_usage_perc{model_name="m"} 0.25\n'
    new = 'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5\n'
    assert engine_fields(old) == {"kv_cache_usage": 0.25}
    assert engine_fields(new) == {"kv_cache_usage": 0.5}
    assert engine_fields(old + new) == {"kv_cache_usage": 0.5}  # not both added up


def test_gateway_usage_becomes_per_service_figures(runtime):
    ward = build_ward(runtime)
    state = ops_metrics.CollectorState(node="n1", read_gpus=lambda: NO_GPU)
    _collect(runtime, state)  # starts from now: earlier usage is already in the usage table
    with runtime.session() as session:
        for latency, status in [(100, 200)] * 18 + [(900, 200), (50, 500)]:
            session.add(
                UsageRecord(
                    tenant_id=ward.tenant_id,
                    user_id=ward.dev.user_id,
                    deployment_id=ward.deployment_id,
                    model="xiangya-chat",
                    endpoint="chat",
                    prompt_tokens=10,
                    completion_tokens=5,
                    latency_ms=latency,
                    status=status,
                )
            )
    gateway = next(p for p in _collect(runtime, state) if p.measurement == "gateway")
    assert gateway.tags["tenant_id"] == ward.tenant_id and gateway.fields["requests"] == 20
    assert gateway.fields["errors"] == 1 and gateway.fields["prompt_tokens"] == 200
    assert gateway.fields["latency_p50_ms"] == 100 and 100 < gateway.fields["latency_p95_ms"] <= 900
    assert not any(p.measurement == "gateway" for p in _collect(runtime, state))  # counted once
    with runtime.session() as session:
        series = ops_metrics.query_metrics(session, runtime.metrics, ward.dev, "gateway", ("requests",))
        jobs = ops_metrics.query_metrics(session, runtime.metrics, ward.dev, "jobs", ("queued",))
        assert [s.values for s in series] == [[20.0]] and jobs[0].values[-1] == 1.0
        with pytest.raises(MedAIError, match="measurement"):
            ops_metrics.query_metrics(session, runtime.metrics, ward.dev, "secrets")


def test_minute_rollups_answer_long_windows_and_expire(tmp_path):
    store = SqliteMetricsStore(tmp_path / "m.db")
    t0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    store.write(
        [
            Point("host", {"node": n}, {"cpu_pct": float(i)}, t0 + timedelta(seconds=20 * i))
            for i in range(9)
            for n in "ab"
        ]
    )  # minute 0: 0, 1, 2; minute 1: 3, 4, 5; minute 2: 6, 7, 8
    (cpu,) = store.query("host", {"node": "a"}, t0, fields=("cpu_pct",), every=timedelta(minutes=1))
    assert cpu.values == [1.0, 4.0, 7.0] and cpu.times == [t0 + timedelta(minutes=m) for m in range(3)]
    (cpu,) = store.query("host", {"node": "b"}, t0, t0 + timedelta(minutes=2), ("cpu_pct",), timedelta(minutes=2))
    assert cpu.values == [2.5] and cpu.times == [t0]
    store.delete_before(t0 + timedelta(minutes=1))
    (cpu,) = store.query("host", {"node": "a"}, t0, fields=("cpu_pct",), every=timedelta(minutes=1))
    assert cpu.values == [4.0, 7.0]


DCGM_TEXT = """# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100",Hostname="gpu-node-1"} 93
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b",device="nvidia1",modelName="NVIDIA H100",Hostname="gpu-node-1"} 0
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100",Hostname="gpu-node-1"} 61440
# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100",Hostname="gpu-node-1"} 20480
# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-a",device="nvidia0",modelName="NVIDIA H100",Hostname="gpu-node-1"} 512.3
"""


def test_dcgm_exporters_are_scraped_into_gpu_series(runtime):
    class Exporter(BaseHTTPRequestHandler):
        def do_GET(self):
            body = DCGM_TEXT.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Exporter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        state = ops_metrics.CollectorState(node="n1", read_gpus=lambda: NO_GPU)
        urls = [f"http://127.0.0.1:{server.server_port}/metrics", "http://127.0.0.1:9/metrics"]  # one is down
        with runtime.session() as session:
            points = ops_metrics.collect(
                session, runtime.metrics, state, str(runtime.settings.data_dir), 30, dcgm_urls=urls
            )
    finally:
        server.shutdown()
    gpus = {p.tags["gpu"]: p for p in points if p.measurement == "gpu"}
    assert set(gpus) == {"0", "1"} and gpus["0"].tags == {
        "node": "gpu-node-1",
        "gpu": "0",
        "name": "NVIDIA H100",
    }
    assert gpus["0"].fields == {
        "util_pct": 93.0,
        "mem_used_mib": 61440.0,
        "mem_total_mib": 81920.0,
        "mem_pct": 75.0,
        "power_w": 512.3,
    }
    assert gpus["1"].fields == {"util_pct": 0.0}  # only what the exporter reported


def _node_text(busy: float, idle: float) -> str:
    return (
        f'node_cpu_seconds_total{{cpu="0",mode="user"}} {busy}\n'
        f'node_cpu_seconds_total{{cpu="0",mode="idle"}} {idle}\n'
        'node_cpu_seconds_total{cpu="0",mode="iowait"} 0\n'
        "node_memory_MemTotal_bytes 17179869184\n"
        "node_memory_MemAvailable_bytes 4294967296\n"
        'node_filesystem_size_bytes{mountpoint="/",fstype="ext4"} 1000\n'
        'node_filesystem_avail_bytes{mountpoint="/",fstype="ext4"} 250\n'
        'node_filesystem_size_bytes{mountpoint="/boot",fstype="ext4"} 10\n'
        "node_load1 3.5\n"
    )


def test_node_exporters_become_host_series_of_their_node(runtime):
    readings = iter([_node_text(100, 300), _node_text(130, 370)])  # 30 busy of the next 100 seconds

    class Exporter(BaseHTTPRequestHandler):
        def do_GET(self):
            body = next(readings).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Exporter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        state = ops_metrics.CollectorState(node="n1", read_gpus=lambda: NO_GPU)
        urls = [f"http://127.0.0.1:{server.server_port}/metrics", "http://127.0.0.1:9/metrics"]  # one is down
        passes = []
        for _ in range(2):
            with runtime.session() as session:
                points = ops_metrics.collect(
                    session, runtime.metrics, state, str(runtime.settings.data_dir), 30, node_urls=urls
                )
            passes.append([p for p in points if p.measurement == "host" and p.tags["node"] == "127.0.0.1"])
    finally:
        server.shutdown()
    (first,), (second,) = passes
    assert "cpu_pct" not in first.fields  # a rate needs two readings
    assert second.fields["cpu_pct"] == pytest.approx(30.0)
    assert second.fields["mem_pct"] == pytest.approx(75.0) and second.fields["mem_total_gb"] == pytest.approx(16.0)
    assert second.fields["disk_pct"] == pytest.approx(75.0) and second.fields["load_1m"] == 3.5
