"""The platform's API served for real in a test: uvicorn in a thread on a free port of 127.0.0.1."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.runtime import Runtime
from tests.unit.agent_world import free_port


@contextmanager
def serve_api(rt: Runtime) -> Iterator[str]:
    """The platform's REST API and /v1 on a real port of 127.0.0.1, served by uvicorn in a thread
    with ``rt`` as its runtime; yields the base URL and stops the server afterwards."""
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: rt
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), f"uvicorn could not start on port {port}"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
