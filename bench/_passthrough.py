"""A bare pass-through proxy for the gateway bench: the smallest thing that can stand between a
client and the engine (uvicorn, one aiohttp session, the bytes copied). What it adds is the cost
of the extra hop on this machine, the floor under any gateway's added latency.

Run: ``MEDAI_BENCH_UPSTREAM=http://… python -m uvicorn bench._passthrough:app``.
"""

import os

import aiohttp

UPSTREAM = os.environ.get("MEDAI_BENCH_UPSTREAM", "")
_sessions: list[aiohttp.ClientSession] = []


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if not _sessions:
        _sessions.append(aiohttp.ClientSession())
    headers = {"content-type": "application/json"}
    async with _sessions[0].post(UPSTREAM + scope["path"], data=body, headers=headers) as response:
        start = {"type": "http.response.start", "status": response.status}
        await send({**start, "headers": [(b"content-type", b"text/event-stream")]})
        async for chunk in response.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
