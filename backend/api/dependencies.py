"""FastAPI dependencies shared by the routers; tests override ``runtime``."""

from backend.runtime import Runtime, get_runtime


def runtime() -> Runtime:
    return get_runtime()
