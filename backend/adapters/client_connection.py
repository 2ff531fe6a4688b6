"""The client's side of an HTTP request, as the ASGI server reports it.

An ASGI server does not cancel a handler whose client has left: a plain (not streaming) answer
would be worked out to its end for nobody. ``unless_hung_up`` races the work against the
client's hang-up and cancels the work when the client goes first, so the engine stops
generating and the gateway closes its call to the replica (which then stops in turn).

Used by the gateway (backend/api) and the local engine (backend/workers/serve.py), which must
not import the platform's API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# What nginx and others record for a request whose client closed the connection first.
CLIENT_CLOSED_REQUEST = 499


class ClientLeftError(Exception):
    """The client closed the connection before the answer was ready; the work was cancelled."""


async def unless_hung_up(receive: Callable[[], Awaitable[dict[str, Any]]], work: Coroutine[Any, Any, T]) -> T:
    """``work``'s result, or ``ClientLeftError`` once the work is cancelled because the client left.

    ``receive`` is the request's ASGI receive; its body must have been read already, so the
    only message left to come is the disconnect."""
    task = asyncio.ensure_future(work)
    hang_up = asyncio.ensure_future(_disconnect(receive))
    try:
        await asyncio.wait((task, hang_up), return_when=asyncio.FIRST_COMPLETED)
    finally:
        hang_up.cancel()
        if not task.done():  # the client left, or this handler itself was cancelled
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        raise ClientLeftError
    return task.result()


async def _disconnect(receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
