"""Agent code nodes: restricted Python run in a separate, limited process.

The child (``backend/workers/agent_code.py``) runs RestrictedPython under CPU, memory, process
and file-descriptor limits; here the parent adds a wall-clock limit, an empty environment and an
empty working folder, and turns every way it can end into a value or a MedAIError.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.errors import ErrorCode, MedAIError

WORKER = Path(__file__).resolve().parents[2] / "workers" / "agent_code.py"
MAX_CODE_CHARS = 64_000
_STARTUP_S = 3.0  # the interpreter and RestrictedPython load before the CPU limit applies


@dataclass(frozen=True)
class CodeLimits:
    cpu_s: float = 5.0
    memory_mb: int = 256


def run_code(code: str, inputs: dict[str, Any], limits: CodeLimits) -> Any:
    """``main(inputs)``'s return value; TASK_FAILED with the reason when the code fails, is
    refused, or runs past its limits (an endless loop is killed)."""
    if len(code) > MAX_CODE_CHARS:
        raise MedAIError(ErrorCode.DATA_INVALID, "The code is too long.", f"Keep it under {MAX_CODE_CHARS} characters.")
    request = json.dumps({"code": code, "inputs": inputs, "cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb})
    with tempfile.TemporaryDirectory(prefix="medai-code-") as folder:
        try:
            done = subprocess.run(  # our interpreter running our worker, by path
                [sys.executable, "-I", str(WORKER)],
                input=request,
                capture_output=True,
                text=True,
                timeout=limits.cpu_s + _STARTUP_S,
                cwd=folder,
                env={},
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise _stopped(limits) from error
    if done.returncode != 0:
        if done.returncode < 0:  # killed by a signal: SIGXCPU at the CPU limit, SIGKILL
            raise _stopped(limits)
        raise MedAIError(ErrorCode.TASK_FAILED, f"The code's process ended with status {done.returncode}.")
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError as error:
        raise MedAIError(ErrorCode.TASK_FAILED, "The code's process gave no result.") from error
    if not result.get("ok"):
        raise MedAIError(ErrorCode.TASK_FAILED, str(result.get("error", "The code failed."))[:1000], "Fix the code.")
    return result.get("output")


def _stopped(limits: CodeLimits) -> MedAIError:
    return MedAIError(
        ErrorCode.TASK_FAILED,
        f"The code ran past its {limits.cpu_s:g} s limit and was stopped.",
        "Look for an endless loop, or make the work smaller.",
    )
