"""``unless_hung_up``: the work's result when it finishes first; the work cancelled (its own
clean-up run) and ``ClientLeftError`` when the client leaves first."""

import asyncio

import pytest

from backend.adapters.client_connection import ClientLeftError, unless_hung_up


def _client(leaves: asyncio.Event):
    """An ASGI receive whose request body was read: a stray body message, then the hang-up."""
    messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict:
        if (message := next(messages, None)) is not None:
            return message
        await leaves.wait()
        return {"type": "http.disconnect"}

    return receive


def test_the_answer_comes_back_when_the_client_stays():
    async def scenario():
        return await unless_hung_up(_client(asyncio.Event()), asyncio.sleep(0.01, result="answer"))

    assert asyncio.run(scenario()) == "answer"


def test_a_failure_of_the_work_reaches_the_caller():
    async def fail():
        raise ValueError("replica said no")

    async def scenario():
        await unless_hung_up(_client(asyncio.Event()), fail())

    with pytest.raises(ValueError, match="replica said no"):
        asyncio.run(scenario())


def test_a_client_that_leaves_cancels_the_work_and_its_clean_up_runs():
    cleaned = []

    async def generate():
        try:
            await asyncio.sleep(60)
        finally:
            cleaned.append("stopped")

    async def scenario():
        leaves = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, leaves.set)
        started = asyncio.get_running_loop().time()
        with pytest.raises(ClientLeftError):
            await unless_hung_up(_client(leaves), generate())
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(scenario()) < 30 and cleaned == ["stopped"]
