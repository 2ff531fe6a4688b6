"""The local engine's generation: vLLM's ``ignore_eos``, a stop string and a caller that leaves
each end generation where they should, not at ``max_tokens``."""

import asyncio

import pytest

from backend.workers.serve import Engine
from tests.tiny_model import build_model

MAX = 60


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine(build_model(tmp_path_factory.mktemp("tiny")), "tiny", max_model_len=512)


def _sample(engine, name: str, reason: str = "") -> float:
    labels = {"model_name": "tiny", **({"finished_reason": reason} if reason else {})}
    return engine.registry.get_sample_value(name, labels) or 0.0


async def _collect(engine, body: dict) -> tuple[str, str]:
    text, done = "", ""
    async for piece, finish in engine.stream(engine.encode_text("chest pain"), body):
        text += piece
        done = finish or done
    return text, done


def test_ignore_eos_generates_exactly_max_tokens(engine):
    _, done = asyncio.run(_collect(engine, {"max_tokens": MAX, "ignore_eos": True, "temperature": 0}))
    assert done == f"length:{MAX}"


def test_a_stop_string_ends_generation_at_once(engine):
    text, _ = asyncio.run(_collect(engine, {"max_tokens": MAX, "ignore_eos": True, "temperature": 0}))
    stop = text[len(text) // 4 :][:3]  # a few characters a quarter of the way in
    cut, done = asyncio.run(_collect(engine, {"max_tokens": MAX, "ignore_eos": True, "temperature": 0, "stop": stop}))
    reason, produced = done.split(":")
    assert cut == text[: text.index(stop)] and reason == "stop"
    assert int(produced) < MAX  # the model stopped too, instead of generating to max_tokens unseen


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
