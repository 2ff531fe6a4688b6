"""The gateway passes a replica's SSE stream through as whole events, whatever the read sizes,
keeps the usage of the last event for metering, and drops the usage-only event when the client
did not ask for it."""

import json

import pytest

from backend.api.gateway import UsageTap

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
    tap = UsageTap(keep_usage_event=keep)
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
