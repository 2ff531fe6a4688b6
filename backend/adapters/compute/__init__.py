"""Where job attempts run: supervised local processes (embedded default) or Kubernetes
Jobs (production). The controller only asks for these four things."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from backend.settings import Settings

if TYPE_CHECKING:
    from backend.adapters.compute.ide import IdeLaunch

Phase = Literal["running", "exited", "missing"]


@dataclass(frozen=True)
class Launch:
    """One attempt of a job, as the compute backend needs it."""

    job_id: str
    attempt: int
    spec_json: str  # the worker's TrainSpec
    gpus: int
    cpu: float
    memory_gb: float
    node_selector: dict[str, str]
    tolerations: list[dict[str, object]]
    kueue_queue: str = ""
    gpu_type: str = ""


@dataclass(frozen=True)
class ServerLaunch:
    """One replica of a model service."""

    deployment_id: str
    ordinal: int
    engine: str  # local | vllm
    spec_json: str  # the serve worker's ServeSpec (its port is set by the backend)
    served_name: str
    gpus: int
    cpu: float
    memory_gb: float
    max_model_len: int
    gpu_memory_utilization: float
    tensor_parallel_size: int
    node_selector: dict[str, str]
    tolerations: list[dict[str, object]]


@dataclass(frozen=True)
class RunState:
    phase: Phase
    exit_code: int | None = None
    detail: str = ""


class Compute(Protocol):
    backend: str

    def start(self, launch: Launch) -> str:
        """Start the attempt; returns a reference that survives a platform restart."""
        ...

    def state(self, ref: str) -> RunState: ...

    def cancel(self, ref: str) -> None:
        """Stop the attempt and everything it started."""
        ...

    def log_tail(self, ref: str, lines: int = 200) -> str: ...

    def read_log(self, ref: str, offset: int) -> tuple[str, int]:
        """The log written since ``offset`` (whole lines only) and the offset to read from next."""
        ...

    def start_server(self, launch: ServerLaunch) -> tuple[str, str]:
        """Start a model-service replica; returns (reference, base URL of its OpenAI API)."""
        ...

    def start_ide(self, launch: IdeLaunch) -> tuple[str, str]:
        """Start a workbench's JupyterLab; returns (reference, base URL). Stopped with ``cancel``."""
        ...


_ERROR_LINE = re.compile(r"(\w(Error|Exception)\b|\bERROR\b|\berror\b)")
_WRAPPERS = ("root cause above", "Traceback (most recent call last)")
_LOG_PREFIX = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ [\w.]+: "  # the workers' log format
    r"|[A-Z]+ \d\d-\d\d \d\d:\d\d:\d\d \[[\w.:-]+\] )"  # vLLM's: "INFO 11-26 13:36:06 [gpu_worker.py:560] "
)
_PROCESS_TAG = re.compile(r"^\(\w+ pid=\d+\) ?")  # vLLM tags each of its processes' lines: "(EngineCore_DP0 pid=7) "
_FRAME = re.compile(r'^(\s*)File ".*", line \d+')
_CARETS = re.compile(r"^[\s^~]+$")


def _readable(tail: str) -> list[str]:
    """The log's lines without process tags, traceback frames or the source lines quoted under them."""
    kept: list[str] = []
    frame_indent: int | None = None
    for raw in tail.splitlines():
        line = _PROCESS_TAG.sub("", raw)
        if not line.strip() or _CARETS.match(line):
            continue
        if frame := _FRAME.match(line):
            frame_indent = len(frame.group(1))
            continue
        if frame_indent is not None and len(line) - len(line.lstrip()) > frame_indent:
            continue  # the source line of the frame above, e.g. "    raise RuntimeError("
        frame_indent = None
        kept.append(line.strip())
    return kept


def why_it_stopped(tail: str, fallback: str) -> str:
    """The line of a process's last log lines that says why it stopped: the last one naming an
    error (not a wrapper that points back at it, a link, or code quoted in a traceback), else the
    last line, else ``fallback``."""
    lines = _readable(tail)
    telling = [
        line
        for line in lines
        if _ERROR_LINE.search(line) and not any(w in line for w in _WRAPPERS) and not line.startswith("For further")
    ]
    return _LOG_PREFIX.sub("", (telling or lines or [fallback])[-1])


def last_step(tail: str) -> str:
    """What a starting process said last (its latest log line, without prefixes), to show as its progress."""
    lines = _readable(tail)
    return _LOG_PREFIX.sub("", lines[-1]) if lines else ""


def worker_environment(settings: Settings) -> dict[str, str]:
    """The settings a worker needs to reach the same object store and metrics store as the platform."""
    names = (
        "data_dir",
        "object_store_dir",
        "metrics_db",
        "s3_endpoint",
        "s3_access_key",
        "s3_secret_key",
        "s3_bucket",
        "s3_region",
        "s3_secure",
        "influx_url",
        "influx_token",
        "influx_org",
        "influx_bucket",
        "master_key",
        "old_master_keys",
        "log_level",
        "vllm_executable",
    )
    env = {}
    for name in names:
        value = getattr(settings, name)
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        env[f"MEDAI_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value or "")
    return env


def build_compute(settings: Settings) -> Compute:
    if settings.compute_backend == "kubernetes":
        from backend.adapters.compute.kubernetes import KubernetesCompute

        return KubernetesCompute(settings)
    from backend.adapters.compute.local import LocalCompute

    return LocalCompute(settings.data_dir / "runs", Path(__file__).resolve().parents[3], worker_environment(settings))
