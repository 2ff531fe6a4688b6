"""Rate limits on Redis are global: every backend process counts against the same window."""

import functools
import uuid

import pytest
import redis

from backend.adapters.cache.redis import PREFIX, RedisCache
from backend.errors import ErrorCode, MedAIError
from backend.services.identity import ratelimit
from backend.services.identity import users as identity
from backend.services.identity.ratelimit import Limit
from tests.unit.identity_world import PASSWORD, add_tenant, add_user

pytestmark = pytest.mark.integration

NOW = 6_000_010.0  # 50 s before the end of a 60-second window


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def processes(redis_url):
    """Two backend processes' caches on one Redis, and a limit name no other test uses."""
    first, second = RedisCache(redis_url), RedisCache(redis_url)
    name = f"test-{uuid.uuid4().hex[:12]}"
    raw = redis.Redis.from_url(redis_url)
    yield first, second, name, raw
    for key in raw.scan_iter(f"{PREFIX}ratelimit:{name}:*"):
        raw.delete(key)
    for cache in (first, second):
        cache.close()
    raw.close()


def test_two_processes_share_one_limit(processes):
    first, second, name, raw = processes
    limit, clock = Limit(name, 3, 60), Clock(NOW)
    assert ratelimit.hit(first, limit, "key:abc", clock) == 2
    assert ratelimit.hit(second, limit, "key:abc", clock) == 1
    assert ratelimit.hit(first, limit, "key:abc", clock) == 0
    with pytest.raises(MedAIError) as caught:
        ratelimit.hit(second, limit, "key:abc", clock)  # the other process sees the same count
    assert (caught.value.code, caught.value.retry_after_s) == (ErrorCode.RATE_LIMITED, 50)
    assert ratelimit.hit(second, limit, "key:other", clock) == 2  # buckets stay apart
    counter = f"{PREFIX}ratelimit:{name}:key:abc:{int(NOW // 60)}"
    assert int(raw.get(counter)) == 4
    assert 0 < raw.pttl(counter) <= (limit.window_s + 1) * 1000  # counters expire; nothing piles up


def test_a_key_refused_on_one_process_gives_the_tenant_its_count_back_on_all(processes):
    first, second, name, raw = processes
    key, tenant, clock = Limit(name, 1, 60), Limit(f"{name}-tenant", 2, 60), Clock(NOW)
    assert ratelimit.hit_all(first, [(key, "k1"), (tenant, "t")], [f"ratelimit:{name}:k1:{int(NOW // 60)}"], clock) == [
        b"1"
    ]
    with pytest.raises(MedAIError) as caught:
        ratelimit.hit_all(second, [(key, "k1"), (tenant, "t")], clock=clock)
    assert f"MEDAI_{name.upper()}_RATE_LIMIT" in caught.value.remedy
    ratelimit.hit_all(first, [(key, "k2"), (tenant, "t")], clock=clock)  # the tenant's second request goes through
    assert int(raw.get(f"{PREFIX}ratelimit:{name}-tenant:t:{int(NOW // 60)}")) == 2


def test_the_next_window_starts_afresh_for_every_process(processes):
    first, second, name, _ = processes
    limit, clock = Limit(name, 1, 60), Clock(NOW)
    ratelimit.hit(first, limit, "address:10.0.0.1", clock)
    with pytest.raises(MedAIError):
        ratelimit.hit(second, limit, "address:10.0.0.1", clock)
    clock.now = NOW + 50  # the next window
    assert ratelimit.hit(second, limit, "address:10.0.0.1", clock) == 0
    with pytest.raises(MedAIError):
        ratelimit.hit(first, limit, "address:10.0.0.1", clock)


def test_sign_in_attempts_count_across_processes(processes, runtime, monkeypatch):
    first, second, name, _ = processes
    ruijin = add_tenant(runtime, "ruijin")
    add_user(runtime, "dr.li@ruijin.cn", [(ruijin, "developer")])
    monkeypatch.setattr(ratelimit, "hit", functools.partial(ratelimit.hit, clock=Clock(NOW)))
    limit = Limit(name, 2, 60)
    for cache, address in ((first, "10.0.0.1"), (second, "10.0.0.2")):
        with runtime.session() as session:
            assert identity.sign_in(session, cache, limit, "dr.li@ruijin.cn", PASSWORD, address).token
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        identity.sign_in(session, first, limit, "dr.li@ruijin.cn", PASSWORD, "10.0.0.3")
    assert caught.value.code is ErrorCode.RATE_LIMITED  # per e-mail, whichever process and address
