"""The extra arguments a vLLM service may pass to `vllm serve` (what GPUStack calls backend
parameters): the tuning flags its users reach for, checked against a list. The platform sets the
rest itself (model, address, context length, parallelism, memory share), and other flags could
let a model's files run code on the host (``--trust-remote-code``) or read the host's files."""

from __future__ import annotations

import re
from collections.abc import Sequence

from backend.errors import ErrorCode, MedAIError

_SWITCHES = {
    "--enforce-eager",
    "--enable-prefix-caching",
    "--no-enable-prefix-caching",
    "--enable-chunked-prefill",
    "--no-enable-chunked-prefill",
    "--enable-auto-tool-choice",
}
_INTEGERS = {
    "--max-num-seqs": (1, 65_536),
    "--max-num-batched-tokens": (1, 16_777_216),
    "--block-size": (1, 256),
    "--seed": (0, 2**31 - 1),
    "--max-logprobs": (0, 1_000),
}
_NAMES = {  # a flag and the values it takes (None: a name such as a quantization method or parser)
    "--dtype": {"auto", "half", "float16", "bfloat16", "float", "float32"},
    "--quantization": None,
    "--attention-backend": None,
    "--kv-cache-dtype": None,
    "--tool-call-parser": None,
    "--reasoning-parser": None,
}
_SET_BY_PLATFORM = {
    "--model",
    "--host",
    "--port",
    "--served-model-name",
    "--max-model-len",
    "--tensor-parallel-size",
    "--gpu-memory-utilization",
    "--kv-cache-memory-bytes",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MOST = 32
ALLOWED = ", ".join(sorted([*_SWITCHES, *_INTEGERS, *_NAMES]))


def checked(args: Sequence[str]) -> list[str]:
    """The arguments, each flag and its value apart ("--a=b" becomes "--a", "b"); DATA_INVALID,
    naming the argument, for anything not on the list or a value out of its range."""
    words = [part for arg in args for part in (arg.split("=", 1) if arg.startswith("--") else [arg])]
    if len(words) > MOST:
        raise _refused(f"{len(words)} engine arguments are more than {MOST}.", "Keep the ones the service needs.")
    found: list[str] = []
    while words:
        flag = words.pop(0)
        if flag in _SET_BY_PLATFORM:
            raise _refused(f"{flag} is set by the platform.", "Use the service's own field for it in the form.")
        if flag in _SWITCHES:
            found.append(flag)
            continue
        if flag not in _INTEGERS and flag not in _NAMES:
            raise _refused(f"'{flag}' is not an engine argument a service may set.", f"Use one of: {ALLOWED}.")
        if not words or words[0].startswith("--"):
            raise _refused(f"{flag} needs a value.", f"Write it as {flag} VALUE.")
        value = words.pop(0)
        if flag in _INTEGERS:
            low, high = _INTEGERS[flag]
            if not value.isdigit() or not low <= int(value) <= high:
                raise _refused(f"{flag} takes a whole number from {low} to {high}, not '{value}'.", "Fix the value.")
        elif not _NAME.match(value) or (_NAMES[flag] is not None and value not in _NAMES[flag]):
            choices = ", ".join(sorted(_NAMES[flag] or ())) or "a name of letters, digits, '.', '_' or '-'"
            raise _refused(f"{flag} does not take '{value}'.", f"Use {choices}.")
        found += [flag, value]
    return found


def _refused(message: str, remedy: str) -> MedAIError:
    return MedAIError(ErrorCode.DATA_INVALID, message, remedy)
