"""Rate limits (source §6.5: API rate limiting) on the cache's counters.

A fixed window per bucket: the first hit creates a counter that expires with its window,
so Redis shares the count between backend processes and the in-process cache keeps it
for one. Over the limit, RATE_LIMITED carries the seconds until the window ends, which
the API sends as ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from backend.adapters.cache import Cache
from backend.errors import ErrorCode, MedAIError


@dataclass(frozen=True)
class Limit:
    name: str
    requests: int
    window_s: int


def hit(cache: Cache, limit: Limit, who: str, clock: Callable[[], float] = time.time) -> int:
    """Count one request by ``who``; returns how many remain in this window or raises RATE_LIMITED."""
    now = clock()
    window = int(now // limit.window_s)
    count = cache.incr(f"ratelimit:{limit.name}:{who}:{window}", ttl_s=limit.window_s + 1)
    if count > limit.requests:
        retry_after = max(1, math.ceil((window + 1) * limit.window_s - now))
        raise MedAIError(
            ErrorCode.RATE_LIMITED,
            f"Too many requests: the limit is {limit.requests} per {limit.window_s} s.",
            f"Wait {retry_after} s and retry, or ask an admin to raise MEDAI_{limit.name.upper()}_RATE_LIMIT.",
            retry_after_s=retry_after,
        )
    return limit.requests - count
