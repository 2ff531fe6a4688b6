import asyncio
import logging

import pytest

from backend.services.orchestration.controller import Controller


async def test_a_failing_reconciler_does_not_stop_the_others(caplog):
    calls: list[str] = []
    controller = Controller(interval_s=0.01)
    controller.register("jobs", lambda: calls.append("jobs"))

    def broken() -> None:
        calls.append("broken")
        raise ValueError("cluster unreachable")

    controller.register("deployments", broken)
    controller.register("alerts", lambda: calls.append("alerts"))

    with caplog.at_level(logging.ERROR):
        outcome = await controller.run_once()
        await controller.run_once()

    assert calls == ["jobs", "broken", "alerts"] * 2
    assert outcome == {"jobs": None, "deployments": "ValueError: cluster unreachable", "alerts": None}
    stats = controller.status().reconcilers
    assert (stats["deployments"].runs, stats["deployments"].failures) == (2, 2)
    assert (stats["jobs"].runs, stats["jobs"].failures) == (2, 0)
    assert "reconciler deployments failed" in caplog.text


async def test_loop_keeps_calling_until_stopped_and_recovers_after_errors():
    ticks = {"n": 0}

    def flaky() -> None:
        ticks["n"] += 1
        if ticks["n"] % 2:
            raise RuntimeError("odd pass")

    controller = Controller(interval_s=0.01)
    controller.register("flaky", flaky)
    task = asyncio.create_task(controller.run())
    while ticks["n"] < 6:
        await asyncio.sleep(0.01)
    assert controller.status().running
    controller.stop()
    await asyncio.wait_for(task, timeout=2)
    status = controller.status()
    assert not status.running
    assert status.passes >= 6
    assert status.reconcilers["flaky"].failures >= 3
    assert status.seconds_since_last_pass is not None


async def test_a_stop_before_the_first_pass_is_honoured():
    controller = Controller(interval_s=0.01)
    task = asyncio.create_task(controller.run())
    controller.stop()  # before the task has had a chance to start
    await asyncio.wait_for(task, timeout=2)
    assert controller.status().passes <= 1
    second = asyncio.create_task(controller.run())  # and the controller can run again
    await asyncio.sleep(0.05)
    assert controller.status().running
    controller.stop()
    await asyncio.wait_for(second, timeout=2)


def test_names_are_unique():
    controller = Controller()
    controller.register("jobs", lambda: None)
    with pytest.raises(ValueError, match="jobs"):
        controller.register("jobs", lambda: None)


async def test_runtime_serving_refuses_an_unmigrated_database(settings):
    from backend.errors import ErrorCode, MedAIError
    from backend.runtime import build_runtime

    rt = build_runtime(settings)
    with pytest.raises(MedAIError) as caught:
        async with rt.serving():
            raise AssertionError("served an unmigrated database")
    assert caught.value.code is ErrorCode.DB_NOT_MIGRATED
    assert not rt.controller.status().running


async def test_runtime_serving_runs_the_controller(runtime):
    seen = asyncio.Event()
    loop = asyncio.get_running_loop()
    runtime.controller.register("probe", lambda: loop.call_soon_threadsafe(seen.set))
    async with runtime.serving():
        await asyncio.wait_for(seen.wait(), timeout=5)
        assert runtime.controller.status().running
    assert not runtime.controller.status().running
