"""How the local engine stops ``generate`` at the next token: when the caller has left, or when a
stop string has appeared in what was generated. Checked after every token in the generation
thread, so no token past the stop string is generated or counted (the text sent to the caller
is cut by the engine itself).

Imported only by the engine process: it loads torch, which the platform's own imports of
backend.workers.serve must not pay for.
"""

from __future__ import annotations

import threading
from typing import Any

import torch


class Halt:
    """A stopping criterion for ``generate``: true once ``event`` is set (by the caller leaving or
    by a stop string found here). ``generated`` is how many tokens have been generated so far."""

    def __init__(self, event: threading.Event, tokenizer: Any, prompt_len: int, stops: list[str]) -> None:
        self.event, self.tokenizer, self.prompt_len, self.stops = event, tokenizer, prompt_len, stops
        # a stop string spans at most this many tokens (byte-level tokens may carry part of a character)
        self.window = 4 * max((len(s) for s in stops), default=0) + 4
        self.generated = 0

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        self.generated = input_ids.shape[1] - self.prompt_len
        if self.stops and not self.event.is_set():
            tail = input_ids[0, max(self.prompt_len, input_ids.shape[1] - self.window) :]
            text = self.tokenizer.decode(tail, skip_special_tokens=True)
            if any(s in text for s in self.stops):
                self.event.set()
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)
