"""A workbench's IDE: JupyterLab (with jupyterlab-git) behind a token, as a local process or a Pod.

Locally each workbench has a persistent folder ``DATA_DIR/workbenches/<id>``: ``home`` is
JupyterLab's root and the IDE's HOME (notebooks, Git clones and settings survive stop and
start), ``env`` is a Python environment of its own layered over the platform's packages
(what the dependency panel installs goes there, and the kernel and terminals use it).
JupyterLab binds 127.0.0.1, fetches nothing (no announcements, no update check, a read-only
extension manager) and gets its token from the environment, never the command line.

On Kubernetes a workbench is a Pod and a Service, its token in a Secret and its home on a
PersistentVolumeClaim that outlives the Pod. Manifests are checked against the official
schema in the tests.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IDE_PORT = 8888  # inside a Pod
POD_HOME = "/home/jovyan/work"
_PASSED_ON = ("LANG", "LC_ALL", "TZ", "TERM", "SHELL", "USER", "LOGNAME")  # nothing of the platform's secrets


@dataclass(frozen=True)
class IdeLaunch:
    """One start of a workbench's JupyterLab."""

    workbench_id: str
    token: str
    home: str  # local: the persistent folder JupyterLab serves (Kubernetes: on the claim)
    image: str
    cpu: float
    gpus: int
    memory_gb: float
    storage_gb: float
    git_name: str = ""
    git_email: str = ""
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None


def workbench_folder(data_dir: Path, workbench_id: str) -> Path:
    return data_dir / "workbenches" / workbench_id


def jupyter_arguments(ip: str, port: int, root: str) -> list[str]:
    """JupyterLab's options: one address and port, no network fetches of its own."""
    return [
        "--no-browser",
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=True",
        "--ServerApp.allow_root=True",  # development machines and CI run as root
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]


# the local environment --------------------------------------------------------------------


def env_python(folder: Path) -> Path:
    return folder / "env" / "bin" / "python"


def ensure_environment(folder: Path) -> None:
    """The workbench's own environment (made once): a venv that also sees the platform's packages
    (JupyterLab, ipykernel, torch ...) through a .pth file, so only additions are installed."""
    env = folder / "env"
    if not env_python(folder).exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
        purelib = subprocess.run(
            [str(env_python(folder)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        (Path(purelib) / "medai_platform.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    kernel = folder / "jupyter-data" / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(env_python(folder)), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (workbench)",
        "language": "python",
    }
    (kernel / "kernel.json").write_text(json.dumps(spec))
    (folder / "home").mkdir(parents=True, exist_ok=True)


def local_environment(launch: IdeLaunch, folder: Path) -> dict[str, str]:
    """What JupyterLab, its kernels and terminals see: the token, HOME in the persistent folder,
    the workbench's environment first on PATH; none of the platform's MEDAI_* settings."""
    env = {name: os.environ[name] for name in _PASSED_ON if name in os.environ}
    bin_dir = env_python(folder).parent
    env.update(
        JUPYTER_TOKEN=launch.token,
        HOME=launch.home,
        PATH=f"{bin_dir}:{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        VIRTUAL_ENV=str(bin_dir.parent),
        JUPYTER_DATA_DIR=str(folder / "jupyter-data"),
        JUPYTER_PATH=str(folder / "jupyter-data"),  # first, before the platform's own kernel spec
        JUPYTER_CONFIG_DIR=str(folder / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(folder / "jupyter-runtime"),
        PYTHONUNBUFFERED="1",
        GIT_AUTHOR_NAME=launch.git_name or "workbench",
        GIT_AUTHOR_EMAIL=launch.git_email or "workbench@medai.local",
        GIT_COMMITTER_NAME=launch.git_name or "workbench",
        GIT_COMMITTER_EMAIL=launch.git_email or "workbench@medai.local",
    )
    return env


def local_command(port: int, home: str) -> list[str]:
    return [sys.executable, "-m", "jupyterlab", *jupyter_arguments("127.0.0.1", port, home)]


# installing packages into the local environment ----------------------------------------------


def pip_command(folder: Path, requirement: str, index_url: str, find_links: str) -> list[str]:
    command = [str(env_python(folder)), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    if index_url == "none":
        command.append("--no-index")
    elif index_url:
        command += ["--index-url", index_url]
    if find_links:
        command += ["--find-links", find_links]
    return [*command, requirement]


def start_pip(folder: Path, package_id: str, command: list[str], timeout_s: int = 900) -> None:
    """Run pip in the background; its output goes to ``pip/<id>.log`` and its exit code to ``.exit``."""
    logs = folder / "pip"
    logs.mkdir(parents=True, exist_ok=True)
    log, done = logs / f"{package_id}.log", logs / f"{package_id}.exit"
    script = 'timeout "$0" "$@" >"$LOG" 2>&1; echo $? >"$DONE.tmp" && mv "$DONE.tmp" "$DONE"'
    subprocess.Popen(  # a fixed script; the requirement was checked by the service
        ["/bin/sh", "-c", script, str(timeout_s), *command],
        env={**local_environment_for_pip(folder), "LOG": str(log), "DONE": str(done)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def local_environment_for_pip(folder: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in (*_PASSED_ON, "PATH") if name in os.environ}
    return {**env, "HOME": str(folder / "home"), "PIP_NO_CACHE_DIR": "1", "PYTHONUNBUFFERED": "1"}


def pip_outcome(folder: Path, package_id: str) -> tuple[int, str] | None:
    """(exit code, last lines) once pip has finished, None while it runs."""
    done = folder / "pip" / f"{package_id}.exit"
    if not done.is_file():
        return None
    log = folder / "pip" / f"{package_id}.log"
    tail = ""
    if log.is_file():
        with log.open(errors="replace") as handle:
            tail = "".join(deque(handle, maxlen=12))
    return int(done.read_text().strip() or 1), tail


# Kubernetes ------------------------------------------------------------------------------------


def pod_name(workbench_id: str) -> str:
    return f"medai-wb-{workbench_id[:20]}"


def workbench_manifests(launch: IdeLaunch, namespace: str) -> dict[str, dict[str, Any]]:
    """The claim (kept across stops), the token's Secret, the Pod and its Service."""
    name = pod_name(launch.workbench_id)
    labels = {
        "app.kubernetes.io/managed-by": "medai-studio",
        "app.kubernetes.io/name": name,
        "medai/workbench-id": launch.workbench_id,
    }
    meta = {"name": name, "namespace": namespace, "labels": labels}
    limits: dict[str, str] = {"cpu": f"{launch.cpu:g}", "memory": f"{int(launch.memory_gb * 1024)}Mi"}
    if launch.gpus:
        limits["nvidia.com/gpu"] = str(launch.gpus)
    start = (
        f"cd {POD_HOME} && if [ -f requirements.txt ]; then pip install --user -r requirements.txt; fi; "
        f"exec jupyter lab {' '.join(jupyter_arguments('0.0.0.0', IDE_PORT, POD_HOME))}"  # noqa: S104 (in the Pod)
    )
    probe = {"httpGet": {"path": "/api/status", "port": IDE_PORT}, "periodSeconds": 10}
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": {"fsGroup": 100},
        "containers": [
            {
                "name": "jupyterlab",
                "image": launch.image,
                "command": ["/bin/sh", "-c", start],
                "env": [
                    {"name": "HOME", "value": POD_HOME},
                    {"name": "GIT_AUTHOR_NAME", "value": launch.git_name or "workbench"},
                    {"name": "GIT_AUTHOR_EMAIL", "value": launch.git_email or "workbench@medai.local"},
                    {"name": "GIT_COMMITTER_NAME", "value": launch.git_name or "workbench"},
                    {"name": "GIT_COMMITTER_EMAIL", "value": launch.git_email or "workbench@medai.local"},
                    {
                        "name": "JUPYTER_TOKEN",
                        "valueFrom": {"secretKeyRef": {"name": name, "key": "token"}},
                    },
                ],
                "ports": [{"name": "http", "containerPort": IDE_PORT}],
                "resources": {"limits": limits, "requests": dict(limits)},
                "readinessProbe": {**probe, "initialDelaySeconds": 5},
                "volumeMounts": [{"name": "home", "mountPath": POD_HOME}],
            }
        ],
        "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": name}}],
    }
    if launch.node_selector:
        pod_spec["nodeSelector"] = dict(launch.node_selector)
    if launch.tolerations:
        pod_spec["tolerations"] = list(launch.tolerations)
    return {
        "claim": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta,
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": f"{int(launch.storage_gb * 1024)}Mi"}},
            },
        },
        "secret": {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta,
            "type": "Opaque",
            "stringData": {"token": launch.token},
        },
        "pod": {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec},
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"name": "http", "port": IDE_PORT, "targetPort": IDE_PORT}],
            },
        },
    }
