"""HTTP from the gateway to model replicas (the local engine or vLLM, both OpenAI servers).

aiohttp, whose C parser costs a fraction of a pure-Python client's CPU per request: on the
gateway's path every microsecond is added latency. One pool of kept-alive connections per
event loop. Failures are sorted into the two kinds the gateway acts on: a replica that could
not be reached or dropped the connection (try the next one) and one that did not answer in
time.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp


class ReplicaUnreachableError(Exception):
    """Refused, reset or closed before an answer: another replica may take the request."""


class ReplicaTimeoutError(Exception):
    """No connection or no bytes within the timeout."""


@dataclass
class ReplicaResponse:
    status: int
    _response: aiohttp.ClientResponse

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, one piece per read. A replica that stops sending or drops the
        connection part-way raises ``ReplicaTimeoutError`` or ``ReplicaUnreachableError``."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as error:  # before ClientError: aiohttp's read timeout is both
            raise ReplicaTimeoutError(f"the replica sent nothing more within the timeout: {error}") from error
        except aiohttp.ClientError as error:
            raise ReplicaUnreachableError(f"the replica dropped the answer part-way: {error}") from error

    async def close(self) -> None:
        """Back to the pool when the body was read to the end; the connection is closed otherwise."""
        self._response.release()


class ReplicaClient:
    def __init__(self, max_connections: int = 512) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, keepalive_timeout=30),
            json_serialize=json.dumps,
            skip_auto_headers=("User-Agent",),
        )

    async def post(
        self, url: str, body: dict[str, Any], timeout_s: float, stream: bool
    ) -> tuple[ReplicaResponse, bytes]:
        """POST JSON; the whole body comes back unless ``stream`` (then read it from ``chunks``)."""
        timeout = aiohttp.ClientTimeout(total=None if stream else timeout_s, connect=timeout_s, sock_read=timeout_s)
        try:
            response = await self._session.post(url, json=body, timeout=timeout)
            content = b"" if stream else await response.read()
        except TimeoutError as error:  # aiohttp's timeouts are TimeoutErrors (some also connection errors)
            raise ReplicaTimeoutError(f"{url} did not answer within {timeout_s:g} s") from error
        except aiohttp.ClientError as error:
            raise ReplicaUnreachableError(f"{url}: {error}") from error
        return ReplicaResponse(response.status, response), content

    async def aclose(self) -> None:
        await self._session.close()


class ReplicaClients:
    """One client per event loop (aiohttp sessions belong to the loop that made them); made on
    first use, forgotten with the loop."""

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReplicaClient] = weakref.WeakKeyDictionary()

    def current(self) -> ReplicaClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = ReplicaClient()
        return client

    async def aclose(self) -> None:
        """Close the current loop's client (at shutdown)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
