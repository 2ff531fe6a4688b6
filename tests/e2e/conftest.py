"""Start the app exactly as the README does (`make run`) in its own process group, drive it
with Debian's Chromium, and stop the whole group afterwards."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "e2e" / "screenshots"
LOGS = ROOT / "tests" / "e2e" / "logs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 900


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_members(pgid: int) -> list[str]:
    """Command lines of every live process whose process group is ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            state, group = fields[0], int(fields[2])
            if group == pgid and state != "Z":
                members.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip())
        except (OSError, IndexError, ValueError):
            continue
    return members


class AppServer:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / "app.log"
        env = {**os.environ, "MEDAI_PORT": str(self.port), "MEDAI_DATA_DIR": str(data_dir)}
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pgid = self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"`make run` exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                health = httpx.get(self.url + "/api/health", timeout=3)
                if health.status_code == 200 and httpx.get(self.url + "/", timeout=3).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(2)
        pytest.fail(f"the app did not answer within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> list[str]:
        """SIGTERM the group, then SIGKILL what is left after 30 s; returns what survived SIGTERM."""
        if self.process.poll() is None or group_members(self.pgid):
            os.killpg(self.pgid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while group_members(self.pgid) and time.monotonic() < deadline:
            time.sleep(0.5)
        survivors = group_members(self.pgid)
        if survivors:
            os.killpg(self.pgid, signal.SIGKILL)
        self.process.wait(timeout=10)
        return survivors


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Iterator[AppServer]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    server = AppServer(tmp_path_factory.mktemp("e2e-data"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(app_server) -> Iterator[Browser]:
    # module scope: Playwright's sync API holds an event loop that must not outlive e2e modules
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
