"""The local engine reads an OpenAI request as vLLM does: what it cannot honour is refused with
the reason, the defaults are vLLM's, and generate gets exactly what was asked."""

import pytest

from backend.workers.sampling import message_text, sampling


def _asked(prompt_len: int = 10, max_model_len: int = 100, **body):
    return sampling(body, prompt_len, max_model_len)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"n": 3}, "'n' is not supported"),
        ({"logprobs": True}, "'logprobs' is not supported"),
        ({"echo": True}, "'echo' is not supported"),
        ({"presence_penalty": 0.5}, "'presence_penalty' is not supported"),
        ({"max_tokens": 0}, "at least 1"),
        ({"max_tokens": -3}, "at least 1"),
        ({"max_tokens": "5"}, "whole number"),
        ({"top_p": -0.5}, "'top_p' must be above 0 and at most 1"),
        ({"top_p": 0}, "'top_p' must be above 0"),
        ({"temperature": -1}, "'temperature' must be at least 0"),
        ({"temperature": float("nan")}, "'temperature' must be a number"),
        ({"top_k": -2}, "'top_k'"),
        ({"stop": [1]}, "'stop' must be a string or a list of strings"),
        ({"seed": 1.5}, "'seed'"),
    ],
)
def test_what_cannot_be_honoured_is_refused_with_the_reason(body, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        _asked(**body)


def test_a_prompt_that_fills_the_context_is_refused():
    with pytest.raises(ValueError, match="the prompt has 100 tokens; this model takes at most 100"):
        _asked(prompt_len=100)


def test_more_tokens_than_the_context_leaves_are_cut_to_fit():
    assert _asked(max_tokens=91).max_new_tokens == 90


def test_defaults_are_vllms():
    asked = _asked(n=1, logprobs=False, presence_penalty=0, logit_bias={})
    assert asked.max_new_tokens == 90  # as many as the context leaves, not an arbitrary cap
    assert asked.generate_kwargs() == {
        "max_new_tokens": 90,
        "repetition_penalty": 1.0,
        "do_sample": True,
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 0,  # no top-k unless asked (transformers alone would apply 50)
    }


def test_what_is_asked_reaches_generate():
    asked = _asked(max_completion_tokens=7, max_tokens=30, temperature=0.5, top_p=0.9, top_k=-1, ignore_eos=True)
    kwargs = asked.generate_kwargs()
    assert kwargs["max_new_tokens"] == kwargs["min_new_tokens"] == 7  # the newer name wins
    assert (kwargs["temperature"], kwargs["top_p"], kwargs["top_k"]) == (0.5, 0.9, 0)
    assert _asked(top_k=5, repetition_penalty=1.2).generate_kwargs()["top_k"] == 5
    assert _asked(repetition_penalty=1.2).generate_kwargs()["repetition_penalty"] == 1.2
    assert _asked(stop="##").stops == ["##"] and _asked(stop=["a", ""]).stops == ["a"] and _asked(seed=3).seed == 3


@pytest.mark.parametrize("temperature", [0, 1e-300, 1e-6])
def test_a_temperature_near_zero_is_greedy(temperature):
    kwargs = _asked(temperature=temperature).generate_kwargs()
    assert kwargs["do_sample"] is False and "temperature" not in kwargs


def test_message_content_is_text_or_text_parts():
    assert message_text("hello") == "hello" and message_text(None) == ""
    assert message_text([{"type": "text", "text": "chest "}, {"type": "text", "text": "pain"}]) == "chest pain"
    with pytest.raises(ValueError, match="text only"):
        message_text([{"type": "image_url", "image_url": {"url": "http://x/ct.png"}}])
    with pytest.raises(ValueError, match="string or a list of text parts"):
        message_text(42)
