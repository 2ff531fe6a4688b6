"""Key-value cache with expiry and counters: in process (embedded) or Redis (production).

Used for hot data (prompts, embedding results, source §5.2) and rate-limit counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from backend.settings import Settings


class Cache(Protocol):
    """What the platform needs from a cache. Values are bytes; keys are plain strings."""

    backend: str

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Add ``amount`` and return the new value; ``ttl_s`` applies when the key is created."""
        ...

    def incr_many(
        self, counters: Sequence[tuple[str, float]], reads: Sequence[str] = ()
    ) -> tuple[list[int], list[bytes | None]]:
        """Add 1 to each ``(key, ttl_s)`` counter (the ttl applies when the key is created) and read
        ``reads``, all at once: one round trip to Redis. Returns the new counts and the values read."""
        ...

    def ping(self) -> None:
        """Raise when the cache cannot be reached."""
        ...


def build_cache(settings: Settings) -> Cache:
    if settings.redis_url:
        from backend.adapters.cache.redis import RedisCache

        return RedisCache(settings.redis_url)
    from backend.adapters.cache.memory import MemoryCache

    return MemoryCache()
