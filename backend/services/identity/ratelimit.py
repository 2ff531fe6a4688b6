"""Rate limits (source §6.5: API rate limiting) on the cache's counters.

A fixed window per bucket: the first hit creates a counter that expires with its window,
so Redis shares the count between backend processes and the in-process cache keeps it
for one. Over the limit, RATE_LIMITED carries the seconds until the window ends, which
the API sends as ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from backend.adapters.cache import Cache
from backend.errors import ErrorCode, MedAIError


class OverLimitError(MedAIError):
    """RATE_LIMITED, naming the limit that refused (a caller may route around some of them)."""

    def __init__(self, limit_name: str, message: str, remedy: str, retry_after_s: int) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message, remedy, retry_after_s=retry_after_s)
        self.limit_name = limit_name


@dataclass(frozen=True)
class Limit:
    name: str
    requests: int
    window_s: int
    raised_by: str = ""  # what an admin changes to raise it, for the remedy (MEDAI_<NAME>_RATE_LIMIT if empty)


def hit(cache: Cache, limit: Limit, who: str, clock: Callable[[], float] = time.time) -> int:
    """Count one request by ``who``; returns how many remain in this window or raises RATE_LIMITED."""
    now = clock()
    count = cache.incr(_counter(limit, who, now), ttl_s=limit.window_s + 1)
    _refuse_over(limit, count, now)
    return limit.requests - count


def hit_all(
    cache: Cache,
    buckets: Sequence[tuple[Limit, str]],
    reads: Sequence[str] = (),
    clock: Callable[[], float] = time.time,
) -> list[bytes | None]:
    """Count one request in each ``(limit, who)`` bucket and read ``reads`` from the cache, in one
    round trip; returns the values read. Raises RATE_LIMITED for the first bucket over its limit,
    as ``hit`` one after another would: the buckets after it get their count back, so a key over
    its own limit does not use up its tenant's."""
    now = clock()
    counters = [_counter(limit, who, now) for limit, who in buckets]
    ttls = [limit.window_s + 1 for limit, _ in buckets]
    counts, values = cache.incr_many(list(zip(counters, ttls, strict=True)), reads)
    for index, ((limit, _), count) in enumerate(zip(buckets, counts, strict=True)):
        if count > limit.requests:
            for later in counters[index + 1 :]:
                cache.incr(later, -1)
            _refuse_over(limit, count, now)
    return values


def _counter(limit: Limit, who: str, now: float) -> str:
    return f"ratelimit:{limit.name}:{who}:{int(now // limit.window_s)}"


def _refuse_over(limit: Limit, count: int, now: float) -> None:
    if count > limit.requests:
        window = int(now // limit.window_s)
        retry_after = max(1, math.ceil((window + 1) * limit.window_s - now))
        raised_by = limit.raised_by or f"MEDAI_{limit.name.upper()}_RATE_LIMIT"
        raise OverLimitError(
            limit.name,
            f"Too many requests: the limit is {limit.requests} per {limit.window_s} s.",
            f"Wait {retry_after} s and retry, or ask an admin to raise {raised_by}.",
            retry_after,
        )
