"""What to do about the ways a model-service replica commonly fails to start, read from the line
its log ended on (``why_it_stopped``). vLLM's own messages speak of its flags; the remedies here
speak of the service's fields in the deploy form. A failure that another start cannot mend (a
setting that does not fit the model or the GPU) fails the service at once instead of after five
restarts, each of which can take minutes on a large model."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnosis:
    remedy: str
    permanent: bool  # the same settings on the same host fail the same way: restarting cannot help


# (what vLLM says, whether it is permanent: another start cannot mend it, what to change in the service)
_KNOWN: tuple[tuple[str, bool, str], ...] = (
    (
        r"KV cache is needed, which is larger than the available KV cache memory",
        True,
        "Raise the service's GPU memory share (its memory, with 0 GPUs), or lower its max model length to the "
        "estimate in the message.",
    ),
    (
        r"No available memory for the cache blocks",
        True,
        "The model's weights fill the memory share: raise the GPU memory share, give the service more GPUs "
        "(tensor parallel size), or serve a quantized version.",
    ),
    (
        r"max_model_len \(\d+\) is greater than the derived max_model_len",
        True,
        "Set the service's max model length to the model's (the derived one in the message).",
    ),
    (
        r"is less than desired GPU memory utilization",
        False,
        "Something else holds part of this GPU: lower the service's GPU memory share, or stop the service or job "
        "that shares the GPU. It is started again meanwhile, in case the memory comes free.",
    ),
    (
        r"CUDA out of memory|OutOfMemoryError",
        False,
        "The GPU ran out of memory: lower the GPU memory share or max model length, or give the service more GPUs "
        "(tensor parallel size).",
    ),
    (
        r"No module named 'flashinfer'",
        True,
        "vLLM's environment lacks FlashInfer, which its sampler loads on a GPU: install flashinfer-python there, "
        "or set VLLM_USE_FLASHINFER_SAMPLER=0 in the platform's environment.",
    ),
    (
        r"Failed to infer device type",
        True,
        "vLLM found no device it was built for: check the host's GPU driver (nvidia-smi), or deploy with 0 GPUs "
        "on a CPU build of vLLM.",
    ),
)


def diagnose(why: str) -> Diagnosis | None:
    """The known failure a replica's stop reason names, if any."""
    return next((Diagnosis(remedy, permanent) for said, permanent, remedy in _KNOWN if re.search(said, why)), None)


def explained(why: str, diagnosis: Diagnosis | None) -> str:
    """The reason with its remedy, as the service shows it."""
    return f"{why} Remedy: {diagnosis.remedy}" if diagnosis else why
