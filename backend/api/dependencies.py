"""FastAPI dependencies shared by the routers; tests override ``runtime``."""

from backend.runtime import Runtime, get_runtime


async def runtime() -> Runtime:  # async: FastAPI would run a plain function on a worker thread
    return get_runtime()
