"""An OpenAI completion request, checked the way vLLM's OpenAI server checks it and turned into
the local engine's ``generate`` arguments.

A value the engine cannot honour (several choices, log probabilities, OpenAI's additive
penalties) is refused with the reason, never silently ignored; ``tools`` and
``response_format`` pass through unused, as agents send them to any engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

SAMPLING_EPS = 1e-5  # a temperature below this is greedy decoding (vLLM's rule)
REFUSED = {
    "n": (1, None),
    "best_of": (1, None),
    "logprobs": (None, False, 0),
    "top_logprobs": (None, 0),
    "echo": (None, False),
    "presence_penalty": (None, 0, 0.0),
    "frequency_penalty": (None, 0, 0.0),
    "logit_bias": (None, {}),
}


@dataclass(frozen=True)
class Sampling:
    """What one request asks of ``generate``."""

    max_new_tokens: int
    stops: list[str] = field(default_factory=list)
    ignore_eos: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k filtering (transformers' own default would be 50)
    repetition_penalty: float = 1.0
    seed: int | None = None

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "repetition_penalty": self.repetition_penalty}
        if self.ignore_eos:  # vLLM's parameter: exactly max_tokens, for benchmarks and tests
            kwargs["min_new_tokens"] = self.max_new_tokens
        if self.temperature < SAMPLING_EPS:
            return {**kwargs, "do_sample": False}
        return {**kwargs, "do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}


def sampling(body: dict[str, Any], prompt_len: int, max_model_len: int) -> Sampling:
    """The request's sampling, or ``ValueError`` with what is wrong and what is allowed."""
    for name, allowed in REFUSED.items():
        if body.get(name) not in allowed:
            raise ValueError(f"'{name}' is not supported by the local engine; serve the model on vLLM for it")
    room = max_model_len - prompt_len
    if room <= 0:
        raise ValueError(f"the prompt has {prompt_len} tokens; this model takes at most {max_model_len}")
    wanted = body.get("max_completion_tokens")  # OpenAI's newer name wins, as in vLLM
    wanted = body.get("max_tokens") if wanted is None else wanted
    if wanted is None:
        wanted = room  # vLLM's default: as many as the context leaves
    elif not _is_int(wanted) or wanted < 1:
        raise ValueError("'max_tokens' must be a whole number of at least 1")
    # more than the context leaves is cut to fit (finish reason "length"), where vLLM refuses: a
    # retrieval prompt's length varies from question to question, and an answer that fits beats an error
    wanted = min(wanted, room)
    return Sampling(
        max_new_tokens=wanted,
        stops=_stops(body.get("stop")),
        ignore_eos=bool(body.get("ignore_eos")),
        temperature=_number(body, "temperature", 1.0, low=0.0),
        top_p=_number(body, "top_p", 1.0, low=0.0, high=1.0, low_open=True),
        top_k=_top_k(body.get("top_k")),
        repetition_penalty=_number(body, "repetition_penalty", 1.0, low=0.0, low_open=True),
        seed=_seed(body.get("seed")),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(
    body: dict[str, Any], name: str, default: float, low: float, high: float | None = None, low_open: bool = False
) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"'{name}' must be a number")
    if value < low or (low_open and value == low) or (high is not None and value > high):
        bounds = f"{'above' if low_open else 'at least'} {low:g}" + (
            f" and at most {high:g}" if high is not None else ""
        )
        raise ValueError(f"'{name}' must be {bounds}; it is {value:g}")
    return float(value)


def _top_k(value: Any) -> int:
    if value is None:
        return 0
    if not _is_int(value) or value < -1:
        raise ValueError("'top_k' must be a whole number: -1 or 0 for none, else how many tokens to keep")
    return max(value, 0)


def _seed(value: Any) -> int | None:
    if value is not None and not _is_int(value):
        raise ValueError("'seed' must be a whole number")
    return value


def _stops(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise ValueError("'stop' must be a string or a list of strings")
    return [s for s in stops if s]


def message_text(content: Any) -> str:
    """A chat message's content as text: a string, or OpenAI's list of typed parts of which only
    text parts can be read by a text model."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        if any(p.get("type") != "text" or not isinstance(p.get("text"), str) for p in content):
            raise ValueError("this model reads text only: every content part must be {'type': 'text', 'text': ...}")
        return "".join(p["text"] for p in content)
    raise ValueError("a message's 'content' must be a string or a list of text parts")
