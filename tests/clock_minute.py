"""Limits and traffic charts count per clock minute: a test whose steps must fall in one minute
first makes sure enough of the current minute is left."""

import time


def with_seconds_left(needed_s: float) -> None:
    """Return at once when ``needed_s`` seconds are left in this clock minute; else sleep into the next."""
    if (left := 60 - time.time() % 60) < needed_s:
        time.sleep(left + 0.5)
