"""Gateway usage rows are written in batches off the request path: nothing waits for them, all of
them arrive, a batch is one transaction, and the writer starts again after it went idle."""

import time

from sqlmodel import select

from backend.models import UsageRecord
from backend.services.metering import UsageWriter


def _row(n: int) -> UsageRecord:
    return UsageRecord(tenant_id="t1", user_id="u", deployment_id="d", model="m", endpoint="chat", prompt_tokens=n)


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

    writer = UsageWriter(counting_session, interval_s=0.1)
    for n in range(50):
        writer.add(_row(n), "prompt")
    assert _rows(runtime) == []  # nothing was written on the caller's time
    assert _until(runtime, 50) == list(range(50))
    assert len(sessions) == 1  # fifty requests, one transaction
    time.sleep(0.3)  # the writer went idle and ended
    writer.add(_row(99))
    assert _until(runtime, 51)[-1] == 99


def test_flush_writes_what_waits_at_once_and_a_failure_does_not_escape(runtime):
    writer = UsageWriter(runtime.session, interval_s=60)
    writer.add(_row(1))
    assert writer.flush() == 1 and _rows(runtime) == [1]
    assert writer.flush() == 0

    def broken():
        raise RuntimeError("database gone")

    failing = UsageWriter(broken, interval_s=60)
    failing.add(_row(2))
    assert failing.flush() == 1  # logged, dropped, never raised into serving
