"""Cache round trips: Redis on 127.0.0.1 against the in-process cache (baseline).

The ratio tells how much a hot-path lookup (prompt, embedding, rate-limit counter) costs
when several backends share Redis instead of each keeping its own memory.
"""

import os
import statistics
import time

from backend.adapters.cache.memory import MemoryCache
from backend.adapters.cache.redis import RedisCache

ROUNDS = 2000
REDIS_URL = os.environ.get("MEDAI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


def _per_op_us(cache, rounds: int = ROUNDS) -> float:
    samples = []
    for i in range(rounds):
        key = f"bench:{i % 100}"
        started = time.perf_counter()
        cache.set(key, b"x" * 256, ttl_s=60)
        cache.get(key)
        cache.incr("bench:counter", ttl_s=60)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) / 3 * 1e6


def main() -> None:
    memory_us = _per_op_us(MemoryCache())
    try:
        redis_cache = RedisCache(REDIS_URL)
        redis_cache.ping()
    except Exception as exc:  # the bench reports, it does not fail
        print(f"redis unavailable at {REDIS_URL}: {exc}")
        return
    redis_us = _per_op_us(redis_cache)
    redis_cache.close()
    print(f"in-process cache: {memory_us:.2f} µs/op (baseline)")
    print(f"redis cache:      {redis_us:.2f} µs/op")
    print(f"ratio redis/in-process: {redis_us / memory_us:.1f}x")


if __name__ == "__main__":
    main()
