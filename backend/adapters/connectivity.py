"""Connectivity probes for the systems the platform depends on.

Each probe returns a short human description of what answered and raises when the system
does not answer. They are deliberately cheap and bounded by ``timeout_s``; domain adapters
(object store, vectors, metrics, compute) reuse them as their ``ping``.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

import httpx


def probe_local_dir(path: Path) -> str:
    """The folder exists (created if missing) and a file can be written and removed in it."""
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", delete=True) as handle:
        handle.write(b"ok")
        handle.flush()
    usage = os.statvfs(path)
    free_gib = usage.f_bavail * usage.f_frsize / 2**30
    return f"writable, {free_gib:.1f} GiB free"


def probe_sqlite_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=2) as connection:
        connection.execute("SELECT 1")
    return "SQLite file opens"


def probe_http(url: str, timeout_s: float, expect_json_key: str | None = None) -> str:
    response = httpx.get(url, timeout=timeout_s)
    response.raise_for_status()
    if expect_json_key is not None and expect_json_key not in response.json():
        raise ValueError(f"{url} answered without '{expect_json_key}'")
    return f"HTTP {response.status_code} from {url}"


def probe_s3(
    endpoint: str, access_key: str, secret_key: str, bucket: str, secure: bool, region: str, timeout_s: float
) -> str:
    import urllib3
    from minio import Minio

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s), retries=False)
    client = Minio(
        endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region or None, http_client=http
    )
    if not client.bucket_exists(bucket):
        raise LookupError(f"bucket '{bucket}' does not exist at {endpoint}")
    return f"bucket '{bucket}' reachable"


def probe_kubernetes(kubeconfig: str, namespace: str, timeout_s: float) -> str:
    from kubernetes import client, config

    if kubeconfig:
        api_client = config.new_client_from_config(config_file=kubeconfig)
    else:
        config.load_incluster_config()
        api_client = client.ApiClient()
    with api_client:
        version = client.VersionApi(api_client).get_code(_request_timeout=timeout_s)
        client.CoreV1Api(api_client).read_namespace(namespace, _request_timeout=timeout_s)
    return f"Kubernetes {version.git_version}, namespace '{namespace}'"


def probe_local_compute() -> str:
    import psutil

    memory_gib = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} CPU cores, {memory_gib:.0f} GiB memory on this host"
