"""Redis cache: shared by every backend process; keys live under the ``medai:`` prefix."""

from __future__ import annotations

import math
from collections.abc import Sequence

import redis

PREFIX = "medai:"


class RedisCache:
    backend = "redis"

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    def get(self, key: str) -> bytes | None:
        return self._client.get(PREFIX + key)

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        px = None if ttl_s is None else max(1, math.ceil(ttl_s * 1000))
        self._client.set(PREFIX + key, value, px=px)

    def delete(self, key: str) -> None:
        self._client.delete(PREFIX + key)

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        full = PREFIX + key
        pipe = self._client.pipeline()
        pipe.incrby(full, amount)
        if ttl_s is not None:
            pipe.pexpire(full, max(1, math.ceil(ttl_s * 1000)), nx=True)
        value, *_ = pipe.execute()
        return int(value)

    def incr_many(
        self, counters: Sequence[tuple[str, float]], reads: Sequence[str] = ()
    ) -> tuple[list[int], list[bytes | None]]:
        pipe = self._client.pipeline(transaction=False)
        for key, ttl_s in counters:
            pipe.incr(PREFIX + key)
            pipe.pexpire(PREFIX + key, max(1, math.ceil(ttl_s * 1000)), nx=True)
        for key in reads:
            pipe.get(PREFIX + key)
        replies = pipe.execute()
        return [int(count) for count in replies[: 2 * len(counters) : 2]], replies[2 * len(counters) :]

    def ping(self) -> None:
        self._client.ping()

    def close(self) -> None:
        self._client.close()
