"""Runs one agent code node in its own process (started by backend/services/agents/code.py).

Reads ``{"code", "inputs", "cpu_s", "memory_mb"}`` as JSON on stdin and writes
``{"ok": true, "output": ...}`` or ``{"ok": false, "error": ...}`` on stdout.

Three layers keep the code in: RestrictedPython (no imports, no ``open``, no names starting with
``_``, so no reaching into modules or frames); only plain values and a few pure functions are in
reach; and before the code runs, this process limits itself: CPU seconds (an endless loop is
killed by SIGXCPU), address space, no new processes, no file writes and no new file descriptors
(so no sockets and no files, even if the first two layers were escaped).

It imports only the standard library and RestrictedPython, and is started with ``python -I``
by path, so nothing of the platform (settings, database, keys) is loaded here.
"""

from __future__ import annotations

import json
import math
import re
import resource
import sys
from types import SimpleNamespace
from typing import Any

from RestrictedPython import PrintCollector, compile_restricted_exec, limited_builtins, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)

_EXTRA_BUILTINS = {
    name: getattr(__builtins__, name, None) if not isinstance(__builtins__, dict) else __builtins__[name]
    for name in (
        "dict",
        "list",
        "set",
        "frozenset",
        "enumerate",
        "zip",
        "map",
        "filter",
        "sorted",
        "reversed",
        "sum",
        "min",
        "max",
        "any",
        "all",
        "iter",
        "next",
    )
}
_JSON = SimpleNamespace(dumps=json.dumps, loads=json.loads)
_RE = SimpleNamespace(
    search=re.search, match=re.match, fullmatch=re.fullmatch, findall=re.findall, sub=re.sub, split=re.split
)
_MATH = SimpleNamespace(**{name: getattr(math, name) for name in dir(math) if not name.startswith("_")})


def _inplace(op: str, x: Any, y: Any) -> Any:
    operations = {
        "+=": lambda a, b: a + b,
        "-=": lambda a, b: a - b,
        "*=": lambda a, b: a * b,
        "/=": lambda a, b: a / b,
        "//=": lambda a, b: a // b,
        "%=": lambda a, b: a % b,
        "**=": lambda a, b: a**b,
    }
    if op not in operations:
        raise SyntaxError(f"{op} is not allowed")
    return operations[op](x, y)


def _globals() -> dict[str, Any]:
    builtins = {**safe_builtins, **limited_builtins, **_EXTRA_BUILTINS}
    for removed in ("setattr", "delattr", "id"):
        builtins.pop(removed, None)
    return {
        "__builtins__": builtins,
        "__name__": "code_node",
        "__metaclass__": type,
        "_getattr_": safer_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_print_": PrintCollector,
        "_inplacevar_": _inplace,
        "json": _JSON,
        "re": _RE,
        "math": _MATH,
    }


def _limit(cpu_s: float, memory_mb: int) -> None:
    cpu = max(1, math.ceil(cpu_s))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))


def run(code: str, inputs: dict[str, Any], limits: tuple[float, int] | None = None) -> dict[str, Any]:
    """Compile (unlimited: compiling may import parts of the standard library), then limit this
    process and run ``main(inputs)``."""
    compiled = compile_restricted_exec(code, "<code node>")
    if compiled.errors or compiled.code is None:
        return {"ok": False, "error": "Not allowed: " + "; ".join(compiled.errors or ("the code does not compile",))}
    scope = _globals()
    if limits is not None:
        _limit(*limits)
    try:
        exec(compiled.code, scope)  # noqa: S102 (restricted bytecode, in a limited process)
        main = scope.get("main")
        if not callable(main):
            return {"ok": False, "error": "The code must define main(inputs)."}
        output = main(inputs)
        json.dumps(output)  # what cannot be passed on fails here, as the code's error
    except MemoryError:
        return {"ok": False, "error": "MemoryError: the code used more memory than allowed."}
    except Exception as error:  # the user's code failed: its error goes back as text
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    return {"ok": True, "output": output}


def main() -> None:
    request = json.loads(sys.stdin.read())
    limits = (float(request["cpu_s"]), int(request["memory_mb"]))
    result = run(str(request["code"]), dict(request.get("inputs") or {}), limits)
    sys.stdout.write(json.dumps(result, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
