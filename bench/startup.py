"""Seconds from `make run` to the first page (HTTP 200 on / and /api/health).

Three starts of the same tree on one port, data folder and Reflex web folder of their own (a fresh
one, so the shared .web is never touched): the first on a clean web folder (npm install, compile,
build), the second with nothing changed (the build is reused), and, as the baseline, one with
`REBUILD=1`: the compile and build that every start paid before the build was reused.
The starter model is off: it loads in the background and never holds up the first page.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 900
TARGET_S = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the start's process group, SIGKILL it after 30 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def time_start(work: Path, port: int, name: str, extra_env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run `make run` until the first page answers; returns the seconds and the frontend log line.
    The port stays the same from start to start: the build bakes the app's URL in."""
    env = {
        **os.environ,
        "MEDAI_PORT": str(port),
        "MEDAI_DATA_DIR": str(work / "data"),
        "MEDAI_STARTER_MODEL": "off",
        "REFLEX_WEB_WORKDIR": str(work / "web"),
        "REFLEX_STATES_WORKDIR": str(work / "states"),
        **(extra_env or {}),
    }
    log_path = work / f"{name}.log"
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            while not (_answers(base + "/api/health") and _answers(base + "/")):
                if process.poll() is not None or time.monotonic() - started > START_TIMEOUT_S:
                    raise RuntimeError(f"`make run` did not serve ({name}); see {log_path}")
                time.sleep(0.1)
            elapsed = time.monotonic() - started
        finally:
            _stop(process)
    said = re.search(r"^frontend (build reused|rebuilt).*$", log_path.read_text(errors="replace"), re.MULTILINE)
    return elapsed, said.group(0) if said else "(no frontend line in the log)"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="medai-bench-startup-") as scratch:
        work, port = Path(scratch), _free_port()
        first = time_start(work, port, "first")
        second = time_start(work, port, "second")
        rebuilt = time_start(work, port, "rebuild", {"REBUILD": "1"})
    for label, (seconds, said) in (
        ("first start, clean web folder", first),
        ("second start, nothing changed", second),
        ("start with REBUILD=1 (baseline)", rebuilt),
    ):
        print(f"{label:34} {seconds:6.1f} s   {said}")
    verdict = "met" if second[0] <= TARGET_S else "NOT met"
    print(f"second start: {rebuilt[0] / second[0]:.1f}x faster than rebuilding; target <= {TARGET_S:.0f} s {verdict}")


if __name__ == "__main__":
    main()
