"""The shared follow loop of live pages: it shows what it fetched while wanted, stops quietly on
the errors it was told to (what it followed is gone), lets others through, gives way to a newer
follow of the same state, and clears its "live" flag on the way out."""

import asyncio

import pytest

from backend.errors import ErrorCode, MedAIError
from state import live


class Page:
    """What live.follow needs of a Reflex state: a lock, ``_follow_round`` and the flag."""

    def __init__(self) -> None:
        self._follow_round = 0
        self.following = False
        self.shown: list[int] = []

    async def __aenter__(self) -> "Page":
        return self

    async def __aexit__(self, *_) -> None:
        return None


@pytest.fixture(autouse=True)
def browser_connected(monkeypatch):
    monkeypatch.setattr(live, "connected", lambda state: True)


def _counter():
    calls = []

    async def fetch() -> int:
        calls.append(1)
        return len(calls)

    return fetch


async def test_it_shows_while_wanted_and_clears_its_flag():
    page = Page()
    await live.follow(page, _counter(), page.shown.append, lambda: len(page.shown) < 3, 0.001, "following")
    assert page.shown == [1, 2, 3] and page.following is False


async def test_a_stop_on_error_ends_quietly_and_another_error_gets_through():
    page = Page()

    async def gone() -> int:
        raise MedAIError(ErrorCode.NOT_FOUND, "The service was deleted.")

    await live.follow(page, gone, page.shown.append, lambda: True, 0.001, "following", stop_on=(MedAIError,))
    assert page.shown == [] and page.following is False
    with pytest.raises(MedAIError):
        await live.follow(page, gone, page.shown.append, lambda: True, 0.001, "following")
    assert page.following is False


async def test_a_newer_follow_takes_over_and_keeps_the_flag():
    page = Page()
    older = asyncio.create_task(live.follow(page, _counter(), page.shown.append, lambda: True, 0.01, "following"))
    await asyncio.sleep(0.035)
    newer = asyncio.create_task(
        live.follow(page, _counter(), page.shown.append, lambda: len(page.shown) < 100, 0.01, "following")
    )
    await asyncio.wait_for(older, 1)  # it saw the newer round and ended
    assert page.following is True  # the newer one still runs
    page._follow_round += 1  # the page is left
    await asyncio.wait_for(newer, 1)
    assert page.shown and page.following is True  # a stale loop never clears the flag of a newer round
