from backend.adapters.cache.memory import MemoryCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_values_expire_after_their_ttl():
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    cache.set("prompt:1", b"hello", ttl_s=10)
    cache.set("forever", b"x")
    clock.now += 9.9
    assert cache.get("prompt:1") == b"hello"
    clock.now += 0.2
    assert cache.get("prompt:1") is None
    assert cache.get("forever") == b"x"
    cache.delete("forever")
    assert cache.get("forever") is None


def test_counter_window_is_set_when_the_key_is_created():
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    assert cache.incr("rate:key", ttl_s=60) == 1
    clock.now += 30
    assert cache.incr("rate:key", 5, ttl_s=60) == 6  # the window does not slide
    clock.now += 31
    assert cache.incr("rate:key", ttl_s=60) == 1


def test_many_counters_and_reads_at_once():
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    cache.incr("rate:old", ttl_s=10)
    cache.set("tokens", b"42")
    counts, values = cache.incr_many([("rate:old", 60), ("rate:new", 60)], reads=["tokens", "absent"])
    assert (counts, values) == ([2, 1], [b"42", None])
    clock.now += 10  # each counter keeps the window it was created with
    assert cache.incr_many([("rate:old", 60), ("rate:new", 60)]) == ([1, 2], [])
