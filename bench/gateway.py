"""The /v1 gateway against calling the engine directly, in the same run.

A tiny model is served by the local engine; the same streaming chat request is sent at 1,
16 and 64 concurrent streams straight to the engine (baseline) and through the platform's
gateway (API key check, limits, routing, metering). Reports the added latency (p50/p99 of
time to the last byte) and the throughput ratio. The engine generates one request at a
time on CPU, so what differs between the two columns is the gateway's own cost.
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

ROUNDS = {1: 40, 16: 128, 64: 256}
REPEATS = 3
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


def main() -> None:
    from backend import db
    from backend.models import Replica
    from backend.runtime import build_runtime
    from backend.services import api_keys, model_registry, serving
    from backend.settings import Settings
    from tests.tiny_model import build_model
    from tests.unit.identity_world import add_tenant, add_user, sign

    folder = Path(tempfile.mkdtemp(prefix="medai-bench-"))
    os.environ["MEDAI_DATA_DIR"] = str(folder / "data")
    settings = Settings(data_dir=folder / "data", _env_file=None)
    rt = build_runtime(settings)
    db.upgrade(rt.engine)
    tenant = add_tenant(rt, "bench")
    _, dev = sign(rt, add_user(rt, "bench@medai.local", [(tenant, "developer")]))
    model = build_model(settings.model_import_roots[0] / "tiny")
    with rt.session() as session:
        version = model_registry.register_version(
            session,
            rt.objects,
            dev,
            model_registry.VersionSpec(model_name="bench"),
            model_registry.folder_files(model, settings.model_import_roots),
            "path",
        )
        serving.deploy(session, dev, serving.DeploySpec("bench", version.id, cpu=max(1, (os.cpu_count() or 2) // 2)))
        _, token = api_keys.create_api_key(session, dev, kind="personal", name="bench", scopes=["models:invoke"])
    while True:
        with rt.session() as session:
            serving.reconcile(session, rt.compute)
            ready = session.exec(serving.select(Replica).where(Replica.status == "ready")).first()
        if ready:
            break
        time.sleep(0.3)
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
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    direct = f"{ready.url}/v1/chat/completions"
    gateway = f"http://127.0.0.1:{port}/v1/chat/completions"
    auth = {"Authorization": f"Bearer {token}"}
    try:
        for concurrency, total in ROUNDS.items():
            # alternating rounds, so a slow moment of a busy machine falls on both sides alike
            base_times, gw_times, base_s, gw_s = [], [], 0.0, 0.0
            for _ in range(REPEATS):
                times, rps = asyncio.run(_load(direct, {}, concurrency, total))
                base_times, base_s = base_times + times, base_s + total / rps
                times, rps = asyncio.run(_load(gateway, auth, concurrency, total))
                gw_times, gw_s = gw_times + times, gw_s + total / rps
            p50 = (statistics.median(gw_times) - statistics.median(base_times)) * 1000
            q = lambda values: statistics.quantiles(values, n=100)[98]  # noqa: E731
            p99 = (q(gw_times) - q(base_times)) * 1000
            base_rps, gw_rps = REPEATS * total / base_s, REPEATS * total / gw_s
            print(
                f"{concurrency:>2} streams: direct {base_rps:6.1f} req/s, gateway {gw_rps:6.1f} req/s "
                f"(throughput {gw_rps / base_rps:.1%}); added latency p50 {p50:+.2f} ms, p99 {p99:+.2f} ms"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        with rt.session() as session:
            for replica in session.exec(serving.select(Replica)).all():
                rt.compute.cancel(replica.compute_ref)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
