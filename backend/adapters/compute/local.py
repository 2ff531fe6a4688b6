"""Job attempts as local processes: each in its own session (so cancelling stops its whole
process group), output captured to a log file, tracked by pid plus the kernel's start time
so a reused pid is never mistaken for the job after a platform restart."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from backend.adapters.compute import Launch, RunState, ServerLaunch, ide
from backend.adapters.compute.ide import IdeLaunch
from backend.adapters.gpus import read_gpus
from backend.errors import ErrorCode, MedAIError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_ticks(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is still in the process group ``pgid``."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _alive(pid: int, ticks: str) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and _start_ticks(pid) == ticks


class LocalCompute:
    backend = "local"

    def __init__(self, runs_dir: Path, project_root: Path, worker_env: dict[str, str] | None = None) -> None:
        self.runs_dir = runs_dir
        self._root = project_root
        self._worker_env = worker_env or {}
        self._children: dict[int, subprocess.Popen] = {}
        self._exit_codes: dict[int, int] = {}
        self._held_gpus: dict[int, list[str]] = {}  # pid -> the GPUs (CUDA ids) its process was given

    def _folder(self, launch: Launch) -> Path:
        return self.runs_dir / launch.job_id / f"attempt-{launch.attempt}"

    def start(self, launch: Launch) -> str:
        folder = self._folder(launch)
        return self._spawn("backend.workers.train", folder, launch.spec_json, launch.cpu, launch.gpus)

    def start_server(self, launch: ServerLaunch) -> tuple[str, str]:
        """A serve worker on a free loopback port (it runs vLLM itself when the engine is vllm)."""
        folder = self.runs_dir / "services" / launch.deployment_id / f"replica-{launch.ordinal}-{time.time_ns()}"
        port = _free_port()
        spec = {**json.loads(launch.spec_json), "port": port, "host": "127.0.0.1", "workdir": str(folder)}
        ref = self._spawn("backend.workers.serve", folder, json.dumps(spec), launch.cpu, launch.gpus)
        return ref, f"http://127.0.0.1:{port}"

    def _spawn(self, module: str, folder: Path, spec_json: str, cpu: float, gpus: int) -> str:
        devices = self._take_gpus(gpus)
        folder.mkdir(parents=True, exist_ok=True)
        spec = folder / "spec.json"
        spec.write_text(spec_json)
        env = {
            **os.environ,
            **self._worker_env,
            "PYTHONPATH": str(self._root),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": str(max(1, int(cpu))),
            "CUDA_VISIBLE_DEVICES": ",".join(devices),  # empty: a CPU process sees no GPU
        }
        return self._hold(self._popen([sys.executable, "-m", module, str(spec)], folder, env, self._root), devices)

    def _hold(self, ref: str, devices: list[str]) -> str:
        if devices:
            self._held_gpus[int(ref.split(":", 1)[0])] = devices
        return ref

    def _take_gpus(self, count: int) -> list[str]:
        """``count`` of this host's GPUs that no running child of this platform holds: those
        CUDA_VISIBLE_DEVICES names when the platform was started with it, else every GPU NVML
        finds. Processes re-attached after a restart are not known to hold any."""
        if count <= 0:
            return []
        for pid in [p for p in self._held_gpus if p not in self._children or self._children[p].poll() is not None]:
            del self._held_gpus[pid]
        named = os.environ.get("CUDA_VISIBLE_DEVICES")
        if named is not None:
            host = [d.strip() for d in named.split(",") if d.strip()]
        else:
            host = [str(gpu.index) for gpu in read_gpus().gpus]
        held = {d for devices in self._held_gpus.values() for d in devices}
        free = [d for d in host if d not in held]
        if len(free) < count:
            raise MedAIError(
                ErrorCode.RESOURCE_INSUFFICIENT,
                f"{count} GPU(s) asked for, but this host has {len(free)} free of {len(host)}",
                remedy="Stop a service or job that holds a GPU, ask for fewer GPUs, or run it on a Kubernetes "
                "cluster with GPU nodes.",
            )
        return free[:count]

    def start_ide(self, launch: IdeLaunch) -> tuple[str, str]:
        """JupyterLab for a workbench on a free loopback port, serving its persistent folder."""
        folder = Path(launch.home).parent
        devices = self._take_gpus(launch.gpus)
        ide.ensure_environment(folder)
        port = _free_port()
        run = self.runs_dir / "workbenches" / launch.workbench_id / f"run-{time.time_ns()}"
        run.mkdir(parents=True, exist_ok=True)
        env = {**ide.local_environment(launch, folder), "CUDA_VISIBLE_DEVICES": ",".join(devices)}
        ref = self._popen(ide.local_command(port, launch.home), run, env, Path(launch.home))
        return self._hold(ref, devices), f"http://127.0.0.1:{port}"

    def _popen(self, command: list[str], folder: Path, env: dict[str, str], cwd: Path) -> str:
        """Start ``command`` in its own session, its output in ``folder``/worker.log; returns its reference."""
        with (folder / "worker.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._children[process.pid] = process
        ticks = _start_ticks(process.pid) or "0"
        return f"{process.pid}:{ticks}:{folder}"

    @staticmethod
    def _parse(ref: str) -> tuple[int, str, Path]:
        pid, ticks, folder = ref.split(":", 2)
        return int(pid), ticks, Path(folder)

    def state(self, ref: str) -> RunState:
        pid, ticks, folder = self._parse(ref)
        child = self._children.get(pid)
        if child is not None:
            code = child.poll()
            if code is None:
                return RunState("running")
            self._children.pop(pid, None)
            self._exit_codes[pid] = code
        if pid in self._exit_codes:
            return RunState("exited", self._exit_codes[pid])
        if _alive(pid, ticks):
            return RunState("running", detail="re-attached after a restart")
        # not our child (the platform restarted): the exit code is gone, result.json tells the outcome
        return (
            RunState("exited", None, "the process ended while the platform was down")
            if folder.is_dir()
            else RunState("missing")
        )

    def cancel(self, ref: str) -> None:
        pid, ticks, _ = self._parse(ref)
        if not (_alive(pid, ticks) or pid in self._children):
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while _group_alive(pid) and time.monotonic() < deadline:  # the worker and everything it started
            if (child := self._children.get(pid)) is not None:
                child.poll()  # reap the leader so it does not linger as a zombie
            time.sleep(0.1)
        if _group_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        if (child := self._children.pop(pid, None)) is not None:
            child.wait(timeout=10)
            self._exit_codes[pid] = child.returncode

    def read_log(self, ref: str, offset: int, limit: int = 1 << 20) -> tuple[str, int]:
        """Whole lines of the attempt's log from byte ``offset`` (at most ``limit`` bytes at a time)."""
        _, _, folder = self._parse(ref)
        log = folder / "worker.log"
        if not log.is_file():
            return "", offset
        with log.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(limit)
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) >= limit:  # one enormous line: take it as it is
            end = len(data)
        return data[:end].decode("utf-8", errors="replace"), offset + end

    def log_tail(self, ref: str, lines: int = 200) -> str:
        _, _, folder = self._parse(ref)
        log = folder / "worker.log"
        if not log.is_file():
            return ""
        with log.open(errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
