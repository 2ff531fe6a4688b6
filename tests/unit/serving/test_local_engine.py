"""The local engine: vLLM's ``ignore_eos``, a stop string and a caller that leaves each end
generation where they should, not at ``max_tokens``; bad input is a 400, a failing model a 500
(and the engine goes on serving); seeds, usage and the queue's gauges hold under concurrency."""

import asyncio
import json

import httpx
import pytest
import torch

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
    ids = engine.encode_text("chest pain")
    counts = []
    async for piece, finish, produced in engine.stream(ids, engine.sampling(body, len(ids))):
        pieces.append(piece)
        counts.append(produced)
        done = f"{finish}:{produced}" if finish else done
    assert counts == sorted(counts) and counts[0] > 0  # the tokens so far, never fewer than before
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
    aborts = _sample(engine, "vllm:request_success_total", "abort")

    async def leave_after_the_first_piece() -> None:
        ids = engine.encode_text("chest pain")
        pieces = engine.stream(ids, engine.sampling({"max_tokens": 400, "ignore_eos": True}, len(ids)))
        await anext(pieces)
        await pieces.aclose()
        assert _sample(engine, "vllm:num_requests_running") == 0
        for _ in range(500):  # counted once the generation thread has stopped
            if _sample(engine, "vllm:request_success_total", "abort") > aborts:
                return
            await asyncio.sleep(0.01)

    asyncio.run(leave_after_the_first_piece())
    assert _sample(engine, "vllm:request_success_total", "abort") == aborts + 1
    assert 0 < _sample(engine, "vllm:generation_tokens_total") - before < 400


def test_a_whole_answer_whose_caller_leaves_stops_the_generation(engine):
    """The engine's HTTP app, called over ASGI: a client asks for 400 tokens without streaming
    and hangs up; the handler answers 499 and the generation stops well short of 400."""
    app = build_app(engine)
    tokens = _sample(engine, "vllm:generation_tokens_total")
    aborts = _sample(engine, "vllm:request_success_total", "abort")
    answers = _sample(engine, "vllm:time_to_first_token_seconds_count")
    body = json.dumps({"model": "tiny", "prompt": "chest pain", "max_tokens": 400, "ignore_eos": True}).encode()
    messages, sent = [{"type": "http.request", "body": body, "more_body": False}], []

    async def receive() -> dict:
        if messages:
            return messages.pop()
        while _sample(engine, "vllm:time_to_first_token_seconds_count") == answers:
            await asyncio.sleep(0.005)
        return {"type": "http.disconnect"}  # the first token is out: the client leaves

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


def _calls(engine, *requests: tuple[str, object]) -> list[httpx.Response]:
    """POST each (path, body) to the engine's app at once; the answers in order."""

    async def all_at_once() -> list[httpx.Response]:
        engine.lock = asyncio.Lock()  # the module's engine outlives each test's loop; a lock belongs to one
        transport = httpx.ASGITransport(app=build_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://engine", timeout=60) as client:
            sends = [
                client.post(path, content=body) if isinstance(body, bytes) else client.post(path, json=body)
                for path, body in requests
            ]
            return list(await asyncio.gather(*sends))

    return asyncio.run(all_at_once())


CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "chest pain"}], "max_tokens": 8}


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/v1/chat/completions", b"{not json", "JSON object"),
        ("/v1/chat/completions", [1, 2], "JSON object"),
        ("/v1/chat/completions", {**CHAT, "messages": ["hi"]}, "'messages' must be a non-empty list"),
        ("/v1/chat/completions", {**CHAT, "stop": [1]}, "'stop' must be"),
        ("/v1/chat/completions", {**CHAT, "stream": True, "stop": [1]}, "'stop' must be"),
        ("/v1/chat/completions", {**CHAT, "stream": True, "stream_options": "x"}, "'stream_options'"),
        ("/v1/chat/completions", {**CHAT, "top_p": -0.5}, "'top_p'"),
        ("/v1/chat/completions", {**CHAT, "n": 2}, "'n' is not supported"),
        ("/v1/completions", {"model": "tiny", "prompt": ["a", "b"]}, "one prompt a request"),
    ],
)
def test_bad_input_is_a_400_in_openais_shape(engine, path, body, reason):
    (answer,) = _calls(engine, (path, body))
    assert answer.status_code == 400 and reason in answer.json()["error"]["message"]
    assert answer.json()["error"]["type"] == "invalid_request_error"


def _events(answer: httpx.Response) -> list[dict]:
    return [json.loads(line[6:]) for line in answer.text.split("\n\n") if line.startswith("data: {")]


def test_a_stream_carries_the_usage_so_far_in_every_chunk_when_asked_as_vllm_does(engine):
    body = {**CHAT, **GREEDY, "stream": True}
    running, final_only = _calls(
        engine,
        ("/v1/chat/completions", {**body, "stream_options": {"include_usage": True, "continuous_usage_stats": True}}),
        ("/v1/chat/completions", {**body, "stream_options": {"include_usage": True}}),
    )
    counts = [e["usage"]["completion_tokens"] for e in _events(running)]
    assert counts == sorted(counts) and counts[-1] == counts[-2] == MAX  # the last chunk, then the usage event
    assert len({e["usage"]["prompt_tokens"] for e in _events(running)}) == 1  # the same prompt throughout
    *chunks, last = _events(final_only)
    assert all("usage" not in e for e in chunks) and last["usage"]["completion_tokens"] == MAX


def test_text_parts_are_read_as_the_text(engine):
    parts = [{"type": "text", "text": "chest "}, {"type": "text", "text": "pain"}]
    plain, typed = _calls(
        engine,
        ("/v1/chat/completions", CHAT),
        ("/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": parts}]}),
    )
    assert typed.json()["usage"]["prompt_tokens"] == plain.json()["usage"]["prompt_tokens"]


def test_usage_counts_the_tokens_up_to_the_stop_string_and_no_further(engine):
    ids = engine.encode_text("chest pain")
    out = engine.model.generate(
        torch.tensor([ids]), max_new_tokens=MAX, min_new_tokens=MAX, do_sample=False, pad_token_id=0
    )[0][len(ids) :].tolist()
    text = engine.tokenizer.decode(out, skip_special_tokens=True)
    for stop in (text[len(text) // 4 :][:2], text[len(text) // 2 :][:3]):
        tokens = next(k for k in range(1, MAX) if stop in engine.tokenizer.decode(out[:k], skip_special_tokens=True))
        (cut,) = _calls(engine, ("/v1/completions", {**GREEDY, "model": "tiny", "prompt": "chest pain", "stop": stop}))
        assert cut.json()["choices"][0]["text"] == text[: text.index(stop)]
        assert cut.json()["usage"]["completion_tokens"] == tokens < MAX  # none generated past it unseen


def test_a_chat_stream_names_the_assistant_first(engine):
    (stream,) = _calls(engine, ("/v1/chat/completions", {**CHAT, "stream": True}))
    first = json.loads(stream.text.split("\n\n")[0].removeprefix("data: "))
    assert first["choices"][0]["delta"]["role"] == "assistant" and first["choices"][0]["logprobs"] is None


def test_a_model_that_fails_answers_500_and_the_engine_serves_the_next_request(engine, monkeypatch):
    original = engine.model.generate

    def broken(*args, **kwargs):
        raise RuntimeError("probability tensor contains inf")

    monkeypatch.setattr(engine.model, "generate", broken)
    whole, streamed = _calls(engine, ("/v1/chat/completions", CHAT), ("/v1/chat/completions", {**CHAT, "stream": True}))
    assert whole.status_code == 500 and "probability tensor contains inf" in whole.json()["error"]["message"]
    assert streamed.status_code == 200 and '"error"' in streamed.text and streamed.text.endswith("data: [DONE]\n\n")
    monkeypatch.setattr(engine.model, "generate", original)
    (after,) = _calls(engine, ("/v1/chat/completions", CHAT))
    assert after.status_code == 200 and _sample(engine, "vllm:request_success_total", "error") == 2


def test_seeded_requests_sent_together_give_the_same_answer(engine):
    seeded = {**CHAT, "max_tokens": 24, "temperature": 1.0, "seed": 7}
    answers = _calls(engine, *[("/v1/chat/completions", seeded)] * 3)
    assert len({a.json()["choices"][0]["message"]["content"] for a in answers}) == 1


def test_a_caller_that_leaves_while_waiting_is_no_longer_counted_waiting(engine):
    async def queue_and_leave() -> None:
        engine.lock = asyncio.Lock()
        ids = engine.encode_text("chest pain")
        first = engine.stream(ids, engine.sampling({"max_tokens": 50, "ignore_eos": True}, len(ids)))
        await anext(first)  # generating: the engine is busy
        waiting = asyncio.ensure_future(engine.complete(ids, engine.sampling({"max_tokens": 5}, len(ids))))
        while not _sample(engine, "vllm:num_requests_waiting"):
            await asyncio.sleep(0.005)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await first.aclose()

    asyncio.run(queue_and_leave())
    assert _sample(engine, "vllm:num_requests_waiting") == 0 and _sample(engine, "vllm:num_requests_running") == 0
