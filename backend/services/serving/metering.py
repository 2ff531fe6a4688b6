"""Gateway usage rows written in batches, off the request path: one INSERT per batch rather than
one transaction per request, so metering costs the gateway almost nothing under load. A row is
UsageRecord's fields as a plain dict (building ORM objects on the event loop would cost more than
the rest of metering). Rows wait at most ``interval_s``; ``flush`` writes what waits at once
(shutdown, tests).

The batch's tokens are added to each tenant's tokens-per-minute counter at the same time, one
cache call per tenant instead of a Redis round trip on the event loop per request. A request's
tokens are only known once it has ended, so that limit lags anyway; this adds ``interval_s``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlmodel import Session

from backend.adapters.cache import Cache
from backend.services.serving import gateway

logger = logging.getLogger(__name__)


class UsageWriter:
    def __init__(
        self, open_session: Callable[[], AbstractContextManager[Session]], cache: Cache, interval_s: float = 0.25
    ) -> None:
        self._open_session = open_session
        self._cache = cache
        self._interval_s = interval_s
        self._pending: list[tuple[dict[str, Any], str]] = []
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None

    def add(self, fields: dict[str, Any], prompt_text: str = "") -> None:
        with self._lock:
            self._pending.append((fields, prompt_text))
            if self._writer is None:  # one writer at a time; it ends when nothing waits
                self._writer = threading.Thread(target=self._run, name="medai-usage-writer", daemon=True)
                self._writer.start()

    def _run(self) -> None:
        while True:
            time.sleep(self._interval_s)
            with self._lock:
                if not self._pending:
                    self._writer = None
                    return
            self.flush()

    def flush(self) -> int:
        """Count every waiting row's tokens and write the rows in one transaction; a failure is
        logged and the batch dropped (metering never breaks serving)."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            gateway.count_batch_tokens(self._cache, [fields for fields, _ in batch])
        except Exception:
            logger.exception("the tokens of %d gateway requests could not be counted", len(batch))
        try:
            with self._open_session() as session:
                gateway.record_usage_rows(session, batch)
        except Exception:
            logger.exception("%d gateway usage rows could not be recorded", len(batch))
        return len(batch)
