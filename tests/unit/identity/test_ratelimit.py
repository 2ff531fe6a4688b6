"""Fixed-window rate limits on the cache's counters, and the sign-in limits built on them."""

import functools

import pytest
from sqlmodel import select

from backend.adapters.cache.memory import MemoryCache
from backend.errors import ErrorCode, MedAIError
from backend.models import User
from backend.services.identity import ratelimit
from backend.services.identity import users as identity
from backend.services.identity.ratelimit import Limit
from tests.unit.identity_world import PASSWORD, add_tenant, add_user, events

LIMIT = Limit("api", 3, 60)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limited(cache, limit, who, clock) -> MedAIError:
    with pytest.raises(MedAIError) as caught:
        ratelimit.hit(cache, limit, who, clock)
    assert caught.value.code is ErrorCode.RATE_LIMITED and caught.value.http_status == 429
    return caught.value


@pytest.mark.parametrize(
    ("now", "retry_after"),
    [(6_000_000.0, 60), (6_000_000.25, 60), (6_000_020.5, 40), (6_000_059.0, 1), (6_000_059.9, 1)],
)
def test_over_the_limit_says_when_the_window_ends(now, retry_after):
    cache, clock = MemoryCache(), Clock(now)  # 6_000_000 is a window start (a multiple of 60)
    assert [ratelimit.hit(cache, LIMIT, "key:a", clock) for _ in range(3)] == [2, 1, 0]
    error = limited(cache, LIMIT, "key:a", clock)
    assert error.retry_after_s == retry_after and 0 < error.retry_after_s <= LIMIT.window_s
    assert f"{retry_after} s" in error.remedy and "MEDAI_API_RATE_LIMIT" in error.remedy
    limited(cache, LIMIT, "key:a", clock)  # refused requests still count: it stays closed


def test_a_new_window_starts_afresh():
    cache, clock = MemoryCache(), Clock(6_000_030.0)
    for _ in range(3):
        ratelimit.hit(cache, LIMIT, "key:a", clock)
    limited(cache, LIMIT, "key:a", clock)
    clock.now = 6_000_059.999
    limited(cache, LIMIT, "key:a", clock)
    clock.now = 6_000_060.0
    assert ratelimit.hit(cache, LIMIT, "key:a", clock) == 2


def test_buckets_and_limits_are_independent():
    cache, clock = MemoryCache(), Clock(6_000_000.0)
    for _ in range(3):
        ratelimit.hit(cache, LIMIT, "key:a", clock)
    limited(cache, LIMIT, "key:a", clock)
    assert ratelimit.hit(cache, LIMIT, "key:b", clock) == 2
    assert ratelimit.hit(cache, Limit("login", 3, 60), "key:a", clock) == 2
    assert ratelimit.hit(MemoryCache(), LIMIT, "key:a", clock) == 2  # another process without Redis


def test_the_counter_expires_with_its_window():
    monotonic = Clock(100.0)
    cache = MemoryCache(clock=monotonic)
    ratelimit.hit(cache, LIMIT, "key:a", Clock(6_000_000.0))
    monotonic.now += LIMIT.window_s + 1
    assert cache.get(f"ratelimit:api:key:a:{6_000_000 // 60}") is None  # nothing piles up in the cache


# several limits at once (the gateway's key, tenant and service) ------------------------------

KEY, TENANT = Limit("gateway_key", 2, 60, "MEDAI_GATEWAY_KEY_REQUESTS_PER_MINUTE"), Limit("gateway_tenant", 3, 60)


def test_hit_all_counts_every_bucket_and_reads_with_them():
    cache, clock = MemoryCache(), Clock(6_000_000.0)
    cache.set("gateway-tokens:t", b"42")
    reads = ["gateway-tokens:t", "absent"]
    assert ratelimit.hit_all(cache, [(KEY, "k1"), (TENANT, "t")], reads, clock) == [b"42", None]
    assert ratelimit.hit(cache, KEY, "k1", clock) == 0 and ratelimit.hit(cache, TENANT, "t", clock) == 1


def test_a_key_over_its_own_limit_does_not_use_up_its_tenants():
    cache, clock = MemoryCache(), Clock(6_000_020.0)
    both = [(KEY, "k1"), (TENANT, "t")]
    ratelimit.hit_all(cache, both, clock=clock)
    ratelimit.hit_all(cache, both, clock=clock)
    for _ in range(5):  # k1 keeps trying: refused by its key limit, the tenant's count is given back
        with pytest.raises(MedAIError) as caught:
            ratelimit.hit_all(cache, both, clock=clock)
        assert caught.value.retry_after_s == 40 and "MEDAI_GATEWAY_KEY_REQUESTS_PER_MINUTE" in caught.value.remedy
    ratelimit.hit_all(cache, [(KEY, "k2"), (TENANT, "t")], clock=clock)  # the tenant's third request
    with pytest.raises(MedAIError) as caught:
        ratelimit.hit_all(cache, [(KEY, "k2"), (TENANT, "t")], clock=clock)
    assert "MEDAI_GATEWAY_TENANT_RATE_LIMIT" in caught.value.remedy  # the name-derived setting by default
    # refused by the tenant, the request still counted against k2 (as hit one after another would)
    assert cache.get(f"ratelimit:gateway_key:k2:{6_000_020 // 60}") == b"2"


# sign-in ---------------------------------------------------------------------------------


@pytest.fixture
def login(runtime, monkeypatch):
    """Sign-in with a limit of 3 per minute, on a clock that stays inside one window."""
    ruijin = add_tenant(runtime, "ruijin")
    for email in ("a@ruijin.cn", "b@ruijin.cn", "c@ruijin.cn", "d@ruijin.cn"):
        add_user(runtime, email, [(ruijin, "developer")])
    monkeypatch.setattr(ratelimit, "hit", functools.partial(ratelimit.hit, clock=Clock(6_000_030.0)))
    limit = Limit("login", 3, 60)

    def attempt(email, address, password=PASSWORD):
        if password == PASSWORD:
            with runtime.session() as session:
                return identity.sign_in(session, runtime.cache, limit, email, password, address)
        with pytest.raises(MedAIError) as caught, runtime.session() as session:
            identity.sign_in(session, runtime.cache, limit, email, password, address)
        assert caught.value.code is ErrorCode.UNAUTHENTICATED  # counted, but not yet limited
        return None

    return attempt


def test_sign_in_is_limited_per_client_address(runtime, login):
    for email in ("a@ruijin.cn", "b@ruijin.cn", "c@ruijin.cn"):
        login(email, "10.0.0.1", "wrong password!")
    with pytest.raises(MedAIError) as caught:
        login("d@ruijin.cn", "10.0.0.1")  # a fourth account from the same address, right password
    assert (caught.value.code, caught.value.retry_after_s) == (ErrorCode.RATE_LIMITED, 30)
    assert login("d@ruijin.cn", "10.0.0.2").token  # another address is not affected
    # refused before the password was even checked: no audit row, no failure counted
    assert [e.actor_label for e in events(runtime, "auth.login")].count("d@ruijin.cn") == 1
    with runtime.session() as session:
        assert session.exec(select(User.failed_logins).where(User.email == "d@ruijin.cn")).one() == 0


def test_sign_in_is_limited_per_email_across_addresses(runtime, login):
    for n in range(3):
        login("a@ruijin.cn", f"10.0.1.{n}", "wrong password!")
    with pytest.raises(MedAIError) as caught:
        login(" A@Ruijin.cn ", "10.0.1.99")  # the same account however it is typed
    assert caught.value.code is ErrorCode.RATE_LIMITED
    assert login("b@ruijin.cn", "10.0.1.99").token
