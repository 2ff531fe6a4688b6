"""Pages that follow long work (a training job, a deployment) refresh it from a background
event every ``POLL_S`` seconds, and stop when the work ends, the page is left or the browser
tab is closed (its websocket is gone)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import reflex as rx
from reflex.utils.prerequisites import get_app

POLL_S = 1.5
T = TypeVar("T")


def connected(state: rx.State) -> bool:
    """Whether the browser that owns ``state`` still has its websocket open."""
    try:
        namespace = get_app().app.event_namespace
    except AttributeError:  # no app in this process (e.g. a unit test): nothing to follow
        return False
    return namespace is not None and state.router.session.client_token in namespace.token_to_sid


def on_page(state: rx.State, route: str) -> bool:
    return state.router.url.path.rstrip("/") == route


async def follow(
    state: Any,
    fetch: Callable[[], Awaitable[T]],
    show: Callable[[T], None],
    wanted: Callable[[], bool],
    every_s: float = POLL_S,
    flag: str = "",
    stop_on: tuple[type[Exception], ...] = (),
) -> None:
    """The body of a page's background follow event: every ``every_s`` seconds, while ``wanted()``
    holds, the browser is connected and no newer follow of the same state started, ``fetch()`` off
    the state lock and ``show`` the result under it. ``flag`` names a bool var that is true meanwhile
    (the page's "live" badge). A ``stop_on`` error from ``fetch`` ends the follow quietly (what was
    followed is gone); any other reaches the app's error handler. The state needs an int
    ``_follow_round``."""
    async with state:
        state._follow_round += 1
        round_ = state._follow_round
        if flag:
            setattr(state, flag, True)
    try:
        while True:
            await asyncio.sleep(every_s)
            async with state:
                if round_ != state._follow_round or not wanted() or not connected(state):
                    return
            try:
                found = await fetch()
            except stop_on:
                return
            async with state:
                if round_ != state._follow_round or not wanted():
                    return
                show(found)
    finally:
        if flag:
            async with state:
                if round_ == state._follow_round:
                    setattr(state, flag, False)
