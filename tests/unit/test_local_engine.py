"""The local engine's generation: vLLM's ``ignore_eos``, a stop string and a caller that leaves
each end generation where they should, not at ``max_tokens``."""

import asyncio
import json

import pytest

from backend.workers.serve import Engine, build_app
from tests.tiny_model import build_model

MAX = 60


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine(build_model(tmp_path_factory.mktemp("tiny"), seed=0), "tiny", max_model_len=512)


def _sample(engine, name: str, reason: str = "") -> float:
    labels = {"model_name": "tiny", **({"finished_reason": reason} if reason else {})}
    return engine.registry.get_sample_value(name, labels) or 0.0


async def _pieces(engine, body: dict) -> tuple[list[str], str]:
    pieces, done = [], ""
    async for piece, finish in engine.stream(engine.encode_text("chest pain"), body):
        pieces.append(piece)
        done = finish or done
    return pieces, done


def _collect(engine, body: dict) -> tuple[str, str]:
    pieces, done = asyncio.run(_pieces(engine, body))
    return "".join(pieces), done


GREEDY = {"max_tokens": MAX, "ignore_eos": True, "temperature": 0}


def test_ignore_eos_generates_exactly_max_tokens(engine):
    _, done = _collect(engine, GREEDY)
    assert done == f"length:{MAX}"


def _a_seam(pieces: list[str]) -> int:
    """The index of a piece that ends where a non-empty piece begins: a stop string can span them."""
    return next(i for i in range(len(pieces) // 4, len(pieces) - 1) if pieces[i] and pieces[i + 1])


def test_a_stop_string_across_two_pieces_ends_generation_and_none_of_it_is_sent(engine):
    pieces, _ = asyncio.run(_pieces(engine, GREEDY))
    text, seam = "".join(pieces), _a_seam(pieces)
    stop = pieces[seam][-1] + pieces[seam + 1][:2]
    cut, done = _collect(engine, {**GREEDY, "stop": [stop]})
    reason, produced = done.split(":")
    assert cut == text[: text.index(stop)] and reason == "stop"
    assert int(produced) < MAX  # the model stopped too, instead of generating to max_tokens unseen


def test_text_held_back_as_a_possible_stop_string_is_sent_when_it_is_not_one(engine):
    pieces, _ = asyncio.run(_pieces(engine, GREEDY))
    text, seam = "".join(pieces), _a_seam(pieces)
    held, done = _collect(engine, {**GREEDY, "stop": [pieces[seam][-1] + "\uffff"]})  # U+FFFF is never text
    assert held == text and done == f"length:{MAX}"


def test_a_caller_that_leaves_stops_the_generation(engine):
    before = _sample(engine, "vllm:generation_tokens_total")

    async def leave_after_the_first_piece() -> None:
        pieces = engine.stream(engine.encode_text("chest pain"), {"max_tokens": 400, "ignore_eos": True})
        await anext(pieces)
        await pieces.aclose()
        assert _sample(engine, "vllm:num_requests_running") == 0
        for _ in range(500):  # counted once the generation thread has stopped
            if _sample(engine, "vllm:request_success_total", "abort"):
                return
            await asyncio.sleep(0.01)

    asyncio.run(leave_after_the_first_piece())
    assert _sample(engine, "vllm:request_success_total", "abort") == 1
    assert 0 < _sample(engine, "vllm:generation_tokens_total") - before < 400


def test_a_whole_answer_whose_caller_leaves_stops_the_generation(engine):
    """The engine's HTTP app, called over ASGI: a client asks for 400 tokens without streaming
    and hangs up; the handler answers 499 and the generation stops well short of 400."""
    app = build_app(engine)
    tokens = _sample(engine, "vllm:generation_tokens_total")
    aborts = _sample(engine, "vllm:request_success_total", "abort")
    body = json.dumps({"model": "tiny", "prompt": "chest pain", "max_tokens": 400, "ignore_eos": True}).encode()
    messages, sent = [{"type": "http.request", "body": body, "more_body": False}], []

    async def receive() -> dict:
        if messages:
            return messages.pop()
        while not _sample(engine, "vllm:num_requests_running"):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # a few tokens in, the client leaves
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    async def call() -> None:
        await app(_post("/v1/completions"), receive, send)
        for _ in range(500):  # counted once the generation thread has stopped
            if _sample(engine, "vllm:request_success_total", "abort") > aborts:
                return
            await asyncio.sleep(0.01)

    asyncio.run(call())
    assert sent[0]["status"] == 499
    assert _sample(engine, "vllm:request_success_total", "abort") == aborts + 1
    assert 0 < _sample(engine, "vllm:generation_tokens_total") - tokens < 400


def _post(path: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
