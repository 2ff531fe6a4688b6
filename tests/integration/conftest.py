"""Real servers on 127.0.0.1. With CI=true an unreachable server fails the test;
elsewhere the test is skipped and says why."""

import os
import socket

import pytest

MARIADB_URL = os.environ.get("MEDAI_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("MEDAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must run integration tests against it")
    pytest.skip(reason)


@pytest.fixture
def mariadb_url() -> str:
    require_server("MariaDB", "127.0.0.1", 3306)
    return MARIADB_URL


@pytest.fixture
def redis_url() -> str:
    require_server("Redis", "127.0.0.1", 6379)
    return REDIS_URL
