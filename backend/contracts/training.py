"""What the platform hands a training attempt: the job spec with its dataset files, and where an
attempt's checkpoints live so that the next attempt resumes from the newest complete one.
Services write it, the training worker and compute backends read it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol


class _Listing(Protocol):
    """The one object-store call the checkpoint lookup needs."""

    def list(self, prefix: str) -> Iterable[Any]: ...


@dataclass
class DatasetFile:
    object_key: str
    file_type: str
    shape: str


@dataclass
class TrainSpec:
    job_id: str
    tenant_id: str
    type: str  # sft | dpo | grpo | reward | eval | batch_inference | custom
    base_model_prefix: str  # object prefix of the base model version's files
    base_model_files: list[str]
    train: list[DatasetFile]
    hyperparameters: dict[str, Any]
    job_prefix: str  # object prefix for checkpoints/, output/ and result.json
    workdir: str
    resume: bool = False
    eval: list[DatasetFile] = field(default_factory=list)
    script: str = ""  # custom jobs: the Python source to run

    @classmethod
    def load(cls, path: Path) -> TrainSpec:
        return cls.loads(path.read_text())

    @classmethod
    def loads(cls, text: str) -> TrainSpec:
        data = json.loads(text)
        data["train"] = [DatasetFile(**d) for d in data["train"]]
        data["eval"] = [DatasetFile(**d) for d in data.get("eval", [])]
        return cls(**data)

    def dumps(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    def dump(self, path: Path) -> None:
        path.write_text(self.dumps())


def latest_checkpoint(objects: _Listing, job_prefix: str) -> tuple[int, str] | None:
    """(step, prefix) of the newest complete checkpoint (one with its trainer_state.json)."""
    steps = {}
    for info in objects.list(job_prefix + "checkpoints/"):
        parts = info.key.removeprefix(job_prefix + "checkpoints/").split("/")
        if len(parts) >= 2 and parts[0].startswith("checkpoint-") and parts[-1] == "trainer_state.json":
            steps[int(parts[0].split("-")[1])] = f"{job_prefix}checkpoints/{parts[0]}/"
    if not steps:
        return None
    step = max(steps)
    return step, steps[step]
