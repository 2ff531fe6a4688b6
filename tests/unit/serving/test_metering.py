"""Gateway usage rows are written in batches off the request path: nothing waits for them, all of
them arrive, a batch is one transaction, and the writer starts again after it went idle. The
batch's tokens count against each tenant's tokens-per-minute limit."""

import logging
import time

import pytest
from sqlmodel import select

from backend.errors import ErrorCode, MedAIError
from backend.models import UsageRecord
from backend.models.base import utcnow
from backend.services.identity.access import Principal
from backend.services.serving import gateway
from backend.services.serving.metering import UsageWriter
from tests.clock_minute import with_seconds_left


def _row(n: int, tenant_id: str = "t1", completion: int = 0) -> dict:
    return {
        "at": utcnow(),
        "tenant_id": tenant_id,
        "api_key_id": None,
        "user_id": "u",
        "deployment_id": "d",
        "model": "m",
        "endpoint": "chat",
        "prompt_tokens": n,
        "completion_tokens": completion,
        "latency_ms": 1.5,
        "status": 200,
        "served_by": "r1",
    }


def _rows(runtime) -> list[int]:
    with runtime.session() as session:
        return sorted(r.prompt_tokens for r in session.exec(select(UsageRecord)).all())


def _until(runtime, count: int) -> list[int]:
    deadline = time.monotonic() + 10
    while len(found := _rows(runtime)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_rows_arrive_in_batches_and_the_writer_wakes_again(runtime):
    sessions = []

    def counting_session():
        sessions.append(1)
        return runtime.session()

    writer = UsageWriter(counting_session, runtime.cache, interval_s=0.5)
    for n in range(50):
        writer.add(_row(n), "prompt")
    assert _rows(runtime) == []  # nothing was written on the caller's time
    assert _until(runtime, 50) == list(range(50))
    assert len(sessions) == 1  # fifty requests, one transaction
    time.sleep(1.2)  # the writer went idle and ended
    writer.add(_row(99))
    assert _until(runtime, 51)[-1] == 99


def test_flush_writes_what_waits_at_once_and_a_failure_does_not_escape(runtime):
    writer = UsageWriter(runtime.session, runtime.cache, interval_s=60)
    writer.add(_row(1))
    assert writer.flush() == 1 and _rows(runtime) == [1]
    assert writer.flush() == 0

    def broken():
        raise RuntimeError("database gone")

    failing = UsageWriter(broken, runtime.cache, interval_s=60)
    failing.add(_row(2))
    assert failing.flush() == 1  # logged, dropped, never raised into serving


def test_a_batch_is_one_insert_and_the_debug_log_shows_prompts_masked(runtime, caplog):
    with runtime.session() as session:
        gateway.record_usage_rows(session, [(_row(7), "患者张三 电话 13812345678 胸痛"), (_row(8), "")])
    assert _rows(runtime) == [7, 8]
    with caplog.at_level(logging.INFO, logger="backend.services.serving.gateway"):
        assert not gateway.logs_prompts()  # so the gateway does not even collect the prompt text
    with caplog.at_level(logging.DEBUG, logger="backend.services.serving.gateway"), runtime.session() as session:
        gateway.record_usage_rows(session, [(_row(9), "患者张三 电话 13812345678 胸痛")])
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "胸痛" in logged and "13812345678" not in logged and "张三" not in logged


def test_a_batchs_tokens_count_against_each_tenants_limit(runtime):
    limits = gateway.Limits(100, 100, tenant_tokens_per_minute=1000)
    caller = Principal(user_id="u", label="u", tenant_id="t1", role="developer", api_key_id="k")

    def admit(tenant_id: str) -> None:
        gateway.admit(runtime.cache, limits, caller, [gateway.Route("d", tenant_id, "m", ("http://r",), 0)])

    writer = UsageWriter(runtime.session, runtime.cache, interval_s=60)
    with_seconds_left(5)  # counted and read in the same minute
    for n in range(4):
        writer.add(_row(200, completion=50 + n))  # 1006 tokens for t1
    writer.add(_row(10, tenant_id="t2"))
    admit("t1")  # not counted until the batch is written
    writer.flush()
    with pytest.raises(MedAIError) as caught:
        admit("t1")
    assert caught.value.code is ErrorCode.RATE_LIMITED and "1006 tokens" in caught.value.message
    assert 0 < caught.value.retry_after_s <= 60 and "MEDAI_GATEWAY_TENANT_TOKENS_PER_MINUTE" in caught.value.remedy
    admit("t2")  # another tenant's count is its own
