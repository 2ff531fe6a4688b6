"""Where job attempts run: supervised local processes (embedded default) or Kubernetes
Jobs (production). The controller only asks for these four things."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from backend.settings import Settings

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


def build_compute(settings: Settings) -> Compute:
    if settings.compute_backend == "kubernetes":
        from backend.adapters.compute.kubernetes import KubernetesCompute

        return KubernetesCompute(settings)
    from backend.adapters.compute.local import LocalCompute

    return LocalCompute(settings.data_dir / "runs", Path(__file__).resolve().parents[3])
