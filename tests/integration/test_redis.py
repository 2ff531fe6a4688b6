"""The Redis cache adapter and the health report against the real server."""

import time
import uuid

import pytest
import redis

from backend import db
from backend.adapters.cache.redis import RedisCache
from backend.runtime import build_runtime
from backend.services.ops.health import check_platform
from backend.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def cache(redis_url):
    cache = RedisCache(redis_url)
    yield cache
    cache.close()


def test_set_get_expire_delete(cache):
    key = f"test:{uuid.uuid4().hex}"
    cache.set(key, "嵌入".encode(), ttl_s=1.5)
    assert cache.get(key) == "嵌入".encode()
    time.sleep(1.6)
    assert cache.get(key) is None
    cache.set(key, b"v")
    cache.delete(key)
    assert cache.get(key) is None


def test_counter_keeps_its_first_window(cache):
    key = f"rate:{uuid.uuid4().hex}"
    assert cache.incr(key, ttl_s=2) == 1
    time.sleep(1)
    assert cache.incr(key, 2, ttl_s=2) == 3  # the second call does not extend the window
    time.sleep(1.1)
    assert cache.incr(key, ttl_s=2) == 1


def test_many_counters_and_reads_in_one_round_trip(cache, monkeypatch):
    old, new, value = (f"rate:{uuid.uuid4().hex}" for _ in range(3))
    cache.incr(old, ttl_s=1.5)
    cache.set(value, b"42", ttl_s=5)
    sent = []
    original = redis.connection.Connection.send_packed_command
    monkeypatch.setattr(
        redis.connection.Connection,
        "send_packed_command",
        lambda self, *args, **kwargs: sent.append(1) or original(self, *args, **kwargs),
    )
    counts, values = cache.incr_many([(old, 10), (new, 1.5)], reads=[value, f"absent:{uuid.uuid4().hex}"])
    assert (counts, values, len(sent)) == ([2, 1], [b"42", None], 1)
    time.sleep(1.6)  # both counters expire with the window they were created with
    assert cache.incr_many([(old, 10), (new, 10)]) == ([1, 1], [])


def test_two_clients_share_state(redis_url):
    writer, reader = RedisCache(redis_url), RedisCache(redis_url)
    key = f"shared:{uuid.uuid4().hex}"
    writer.set(key, b"1", ttl_s=5)
    assert reader.get(key) == b"1"
    writer.delete(key)


def test_health_reports_redis_and_mysql(redis_url, mariadb_url, tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=mariadb_url, redis_url=redis_url, _env_file=None)
    runtime = build_runtime(settings)
    db.upgrade(runtime.engine)
    report = check_platform(runtime)
    database, cache = report.component("database"), report.component("cache")
    assert (database.backend, database.status) == ("MySQL", "ok")
    assert (cache.backend, cache.status) == ("Redis", "ok")
    runtime.engine.dispose()
