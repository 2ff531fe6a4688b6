"""Real servers on 127.0.0.1. With CI=true an unreachable server fails the test;
elsewhere the test is skipped and says why."""

import os
import socket
from collections.abc import Iterator
from typing import NoReturn

import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import MetaData

from tests.unit.agent_world import free_port

MARIADB_URL = os.environ.get("MEDAI_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("MEDAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def unavailable(reason: str) -> NoReturn:
    """Skip the test on a developer's machine; fail it in CI, which must run it."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must run this test")
    pytest.skip(reason)


def require_server(name: str, host: str, port: int) -> None:
    if not _reachable(host, port):
        unavailable(f"{name} is not reachable on {host}:{port}")


@pytest.fixture
def mariadb_url() -> str:
    require_server("MariaDB", "127.0.0.1", 3306)
    return MARIADB_URL


@pytest.fixture
def redis_url() -> str:
    require_server("Redis", "127.0.0.1", 6379)
    return REDIS_URL


def drop_everything(engine) -> None:
    """Empty the test database (every table, whatever made it)."""
    metadata = MetaData()
    metadata.reflect(engine)
    metadata.drop_all(engine)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto's server mode) on 127.0.0.1 for this test session; any
    access key works. No MinIO binary exists in the registries these machines reach."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()
