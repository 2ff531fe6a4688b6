"""In-process cache: a dict with expiry, safe across threads. Lost on restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence


class MemoryCache:
    backend = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: dict[str, tuple[bytes, float | None]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        item = self._items.get(key)
        if item is not None and item[1] is not None and item[1] <= self._clock():
            del self._items[key]
            return None
        return item

    def _expiry(self, ttl_s: float | None) -> float | None:
        return None if ttl_s is None else self._clock() + ttl_s

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._live(key)
            return None if item is None else item[0]

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        with self._lock:
            self._items[key] = (value, self._expiry(ttl_s))

    def delete(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        with self._lock:
            item = self._live(key)
            if item is None:
                value, expiry = amount, self._expiry(ttl_s)
            else:
                value, expiry = int(item[0]) + amount, item[1]
            self._items[key] = (str(value).encode(), expiry)
            return value

    def incr_many(
        self, counters: Sequence[tuple[str, float]], reads: Sequence[str] = ()
    ) -> tuple[list[int], list[bytes | None]]:
        return [self.incr(key, ttl_s=ttl_s) for key, ttl_s in counters], [self.get(key) for key in reads]

    def ping(self) -> None:
        return None
