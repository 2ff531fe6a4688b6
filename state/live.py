"""Pages that follow long work (a training job, a deployment) refresh it from a background
event every ``POLL_S`` seconds, and stop when the work ends, the page is left or the browser
tab is closed (its websocket is gone)."""

from __future__ import annotations

import reflex as rx
from reflex.utils.prerequisites import get_app

POLL_S = 1.5


def connected(state: rx.State) -> bool:
    """Whether the browser that owns ``state`` still has its websocket open."""
    try:
        namespace = get_app().app.event_namespace
    except AttributeError:  # no app in this process (e.g. a unit test): nothing to follow
        return False
    return namespace is not None and state.router.session.client_token in namespace.token_to_sid
