"""What the platform hands a model replica: the serve spec, the exit status that means "these settings
cannot work", and the command-line arguments vLLM gets for a spec (the local process and the
Kubernetes container alike). Services write it, workers and compute backends read it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

CONFIG_ERROR = 78  # EX_CONFIG: the service's settings cannot work on this model or host; a restart would not help
_POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


@dataclass
class ServeSpec:
    deployment_id: str
    replica: int
    served_name: str  # the model name clients send
    model_prefix: str  # object prefix of the model version's files
    model_files: list[str]
    port: int
    workdir: str
    host: str = "127.0.0.1"
    max_model_len: int = 2048
    engine: str = "local"  # local (this module) | vllm (`vllm serve` on the fetched files)
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    gpus: int = 0  # vLLM with none runs its CPU backend
    memory_gb: float = 0.0
    engine_args: list[str] = field(default_factory=list)  # vLLM's own flags, checked by the platform

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str) -> ServeSpec:
        return cls(**json.loads(text))


def context_limit(folder: Path) -> int | None:
    """How many positions the model reads, from its config.json; None when it does not say, or
    when a RoPE scaling lets engines go past the trained length."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for section in (config, config.get("text_config") or {}):
        rope = section.get("rope_scaling") or section.get("rope_parameters") or {}
        if rope.get("rope_type", rope.get("type", "default")) != "default":
            return None
        found = next((section[k] for k in _POSITION_KEYS if isinstance(section.get(k), int)), None)
        if found is not None:
            return found
    return None


def vllm_args(spec: ServeSpec, folder: Path) -> list[str]:
    """The arguments of `vllm serve` for the deployment's settings (also those of the vllm-openai
    container on Kubernetes, whose entrypoint is `vllm serve`). Without GPUs vLLM runs its CPU
    backend, where the memory share sizes the KV cache from the replica's own memory rather than
    from the whole host's."""
    args = [
        str(folder),
        "--served-model-name", spec.served_name,
        "--host", spec.host,
        "--port", str(spec.port),
        "--max-model-len", str(spec.max_model_len),
        "--tensor-parallel-size", str(spec.tensor_parallel_size),
    ]  # fmt: skip
    if spec.gpus:
        return [*args, "--gpu-memory-utilization", str(spec.gpu_memory_utilization), *spec.engine_args]
    kv_cache_bytes = max(2**28, int(spec.memory_gb * spec.gpu_memory_utilization * 2**30))
    return [*args, "--kv-cache-memory-bytes", str(kv_cache_bytes), *spec.engine_args]
