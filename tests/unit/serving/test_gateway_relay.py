"""The gateway passes a replica's SSE stream through as whole events, whatever the read sizes,
keeps the usage of the last event for metering, and drops the usage-only event when the client
did not ask for it. The relay writes each piece as it comes and ends when the client hangs up."""

import asyncio
import json

import pytest

from backend.api.gateway import RelayResponse
from backend.services.serving.proxy import UsageTap

USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def _event(payload: dict | str) -> bytes:
    return b"data: " + (payload if isinstance(payload, str) else json.dumps(payload)).encode() + b"\n\n"


STREAM = (
    _event({"choices": [{"delta": {"content": "胸"}}], "usage": None})
    + _event({"choices": [{"delta": {"content": 'say "usage"'}}], "usage": None})
    + _event({"choices": [], "usage": USAGE})
    + _event("[DONE]")
)


def _pass(stream: bytes, size: int, keep: bool) -> tuple[list[bytes], UsageTap]:
    tap = UsageTap(keep_usage_event=keep)  # the running usage is not wanted
    out = [tap.feed(stream[i : i + size]) for i in range(0, len(stream), size)]
    return [*out, tap.rest()], tap


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_events_pass_whole_and_the_usage_event_is_dropped_unless_asked(size):
    out, tap = _pass(STREAM, size, keep=False)
    assert tap.usage == USAGE
    assert b"".join(out) == STREAM.replace(_event({"choices": [], "usage": USAGE}), b"")
    assert all(piece.endswith(b"\n\n") for piece in out if piece)  # never half an event


def test_the_usage_event_stays_when_the_client_asked_for_it():
    out, tap = _pass(STREAM, 5, keep=True)
    assert b"".join(out) == STREAM and tap.usage == USAGE


def test_a_stream_without_a_final_blank_line_still_ends_with_its_last_event():
    out, tap = _pass(STREAM[:-2], 9, keep=False)
    assert b"".join(out).endswith(b"data: [DONE]") and tap.usage == USAGE
    out, tap = _pass(_event({"choices": [], "usage": USAGE})[:-2], 4, keep=False)
    assert b"".join(out) == b"" and tap.usage == USAGE


def test_a_broken_event_passes_untouched_and_counts_nothing():
    broken = b'data: {"usage": {"prompt_tokens": \n\n'
    out, tap = _pass(broken + _event("[DONE]"), 3, keep=False)
    assert b"".join(out) == broken + _event("[DONE]") and tap.usage is None


def _running(usage_of: list[int], compact: bool) -> list[bytes]:
    """Chunks carrying the usage so far (vLLM's continuous_usage_stats): pydantic's compact JSON
    as vLLM writes it, or json.dumps' spaced one as the local engine does; then the usage event."""
    dump = (lambda o: json.dumps(o, separators=(",", ":"), ensure_ascii=False)) if compact else json.dumps

    def usage(n: int) -> dict:
        return {"prompt_tokens": 5, "total_tokens": 5 + n, "completion_tokens": n, "prompt_tokens_details": None}

    chunks = [{"id": "c", "choices": [{"delta": {"content": f"胸{n}"}}], "usage": usage(n)} for n in usage_of]
    return [_event(dump(c)) for c in chunks] + [_event(dump({"id": "c", "choices": [], "usage": usage(usage_of[-1])}))]


@pytest.mark.parametrize("compact", [True, False])
def test_the_running_usage_is_kept_for_metering_and_taken_out_unless_the_client_asked(compact):
    events = _running([1, 2, 3], compact)
    out, tap = _pass(b"".join(events), 11, keep=False)
    content = [json.loads(e[6:]) for e in b"".join(out).split(b"\n\n") if e]
    assert content == [{"id": "c", "choices": [{"delta": {"content": f"胸{n}"}}]} for n in (1, 2, 3)]
    assert tap.usage["completion_tokens"] == 3
    out, tap = _pass(b"".join(events), 11, keep=True)  # include_usage: the usage event at the end only
    assert [b'"usage"' in e for e in b"".join(out).split(b"\n\n") if e] == [False, False, False, True]
    tap = UsageTap(keep_usage_event=True, keep_running_usage=True)  # asked for it all: untouched
    assert tap.feed(b"".join(events)) == b"".join(events)


def test_a_stream_cut_short_is_metered_with_the_usage_its_last_chunk_carried():
    *chunks, _ = _running([1, 2, 3, 4], compact=True)
    out, tap = _pass(b"".join(chunks[:2]), 64, keep=False)
    assert tap.usage["completion_tokens"] == 2 and b"usage" not in b"".join(out)


PIECES = (b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n")


async def _replica(log: list[str]):
    try:
        for piece in PIECES:
            yield piece
            await asyncio.sleep(0)  # the replica's next read: the loop runs other tasks meanwhile
    finally:
        log.append("released and metered")


def _relay(hang_up_after: int | None) -> tuple[list[dict], list[str]]:
    """Runs a RelayResponse against a client that hangs up after that many pieces (None: never)."""
    sent: list[dict] = []
    log: list[str] = []

    async def run() -> None:
        gone = asyncio.Event()

        async def receive() -> dict:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if hang_up_after is not None and len(sent) - 1 == hang_up_after:
                gone.set()

        await RelayResponse(_replica(log), 200)({"type": "http"}, receive, send)

    asyncio.run(run())
    return sent, log


def test_the_relay_writes_each_piece_as_it_comes_and_ends_the_body():
    sent, log = _relay(hang_up_after=None)
    start, *body = sent
    assert start["status"] == 200 and (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert [(m["body"], m["more_body"]) for m in body] == [*((p, True) for p in PIECES), (b"", False)]
    assert log == ["released and metered"]


def test_a_client_that_hangs_up_ends_the_relay_at_the_next_piece():
    sent, log = _relay(hang_up_after=1)
    assert [m.get("body") for m in sent[1:]] == [PIECES[0]]  # nothing more is written, not even the end
    assert log == ["released and metered"]  # the replica's request is let go and the usage recorded


def test_a_failed_write_ends_the_relay_quietly():  # an ASGI 2.4 server's way to say the client left
    log: list[str] = []

    async def receive() -> dict:
        await asyncio.Event().wait()
        return {}

    async def send(message: dict) -> None:
        if message.get("body"):
            raise OSError("connection reset by peer")

    asyncio.run(RelayResponse(_replica(log), 200)({"type": "http"}, receive, send))
    assert log == ["released and metered"]
