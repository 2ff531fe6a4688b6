"""The controller loop: every interval it calls each registered reconciler once.

Reconcilers compare what should be (job, deployment and workbench rows) with what runs
(the compute adapter) and close the gap. They are plain blocking functions; the loop runs
each in a worker thread so the web server's event loop never waits on them. A reconciler
that raises is logged and counted, and the others keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

Reconciler = Callable[[], None]


@dataclass
class ReconcilerStats:
    runs: int = 0
    failures: int = 0
    last_error: str | None = None
    last_duration_s: float = 0.0


@dataclass
class ControllerStatus:
    running: bool
    interval_s: float
    passes: int
    seconds_since_last_pass: float | None
    reconcilers: dict[str, ReconcilerStats] = field(default_factory=dict)


class Controller:
    def __init__(self, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._reconcilers: dict[str, Reconciler] = {}
        self._stats: dict[str, ReconcilerStats] = {}
        self._passes = 0
        self._last_pass_at: float | None = None
        self._stop = asyncio.Event()
        self._running = False

    def register(self, name: str, reconciler: Reconciler) -> None:
        if name in self._reconcilers:
            raise ValueError(f"a reconciler named '{name}' is already registered")
        self._reconcilers[name] = reconciler
        self._stats[name] = ReconcilerStats()

    async def run_once(self) -> dict[str, str | None]:
        """One pass over every reconciler; returns each one's error text, or None."""
        outcome: dict[str, str | None] = {}
        for name, reconciler in list(self._reconcilers.items()):
            stats = self._stats[name]
            started = self._clock()
            try:
                await asyncio.to_thread(reconciler)
                stats.last_error = None
            except Exception as exc:  # one broken reconciler must not stop the others
                stats.failures += 1
                stats.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("reconciler %s failed", name)
            stats.runs += 1
            stats.last_duration_s = self._clock() - started
            outcome[name] = stats.last_error
        self._passes += 1
        self._last_pass_at = self._clock()
        return outcome

    async def run(self) -> None:
        """Loop until ``stop`` is called; each pass starts ``interval_s`` after the previous one."""
        self._running = True
        logger.info("controller started with %d reconcilers", len(self._reconcilers))
        try:
            while not self._stop.is_set():
                started = self._clock()
                await self.run_once()
                remaining = self.interval_s - (self._clock() - started)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, remaining))
        finally:
            self._running = False
            self._stop.clear()  # a stop asked before the loop began is honoured, then forgotten
            logger.info("controller stopped after %d passes", self._passes)

    def stop(self) -> None:
        self._stop.set()

    def status(self) -> ControllerStatus:
        since = None if self._last_pass_at is None else self._clock() - self._last_pass_at
        return ControllerStatus(
            running=self._running,
            interval_s=self.interval_s,
            passes=self._passes,
            seconds_since_last_pass=since,
            reconcilers={name: ReconcilerStats(**vars(stats)) for name, stats in self._stats.items()},
        )
