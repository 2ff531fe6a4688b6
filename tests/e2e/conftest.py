"""Start the app exactly as the README does (`make run`) in its own process group, drive it
with Debian's Chromium, and stop the whole group afterwards."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.integration.conftest import unavailable

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
ADMIN_EMAIL = "admin@medai.local"  # MEDAI_ADMIN_EMAIL's default
ADMIN_NEW_PASSWORD = "correct horse battery staple"  # what the first admin sign-in changes the one-time one to
# Two cores carry the app, its workers and Chromium: a web-first assertion waits up to 15 s, not 5
expect.set_options(timeout=15_000)
# e2e signs in far more often than a person from one address; the limit itself is covered by unit tests
LOGIN_RATE_LIMIT = "200"


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


def stop_workloads(data_dir: Path) -> list[str]:
    """End what the platform started under ``data_dir``: replicas, IDEs and training workers run in
    sessions of their own, so that they outlive a restart of the platform, and so outlive the app's
    group too. Returns their command lines."""
    ended = []
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if str(data_dir) in command:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(process.pid), signal.SIGKILL)
                ended.append(command)
    return ended


class AppServer:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"app-{self.port}.log"  # one per run: runs side by side keep their own
        env = {
            **os.environ,
            "MEDAI_PORT": str(self.port),
            "MEDAI_DATA_DIR": str(data_dir),
            "MEDAI_LOGIN_RATE_LIMIT": LOGIN_RATE_LIMIT,
            "MEDAI_STARTER_MODEL": "on",  # as after `make run`: the first-hour flows chat with it
        }
        env.pop("MEDAI_ADMIN_PASSWORD", None)  # the first start must print a one-time password
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pgid = self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def one_time_password(self) -> str:
        """The first admin's password, printed once on the console at the first start."""
        found = re.search(r"One-time password: (\S+)", self.log_path.read_text(errors="replace"))
        if found is None:
            pytest.fail(f"no one-time password in the server log:\n{self.log_tail()}")
        return found.group(1)

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
        unavailable(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    server = AppServer(tmp_path_factory.mktemp("e2e-data"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        stop_workloads(server.data_dir)


@dataclass
class Account:
    email: str
    password: str
    must_change_password: bool = False


@pytest.fixture(scope="session")
def admin(app_server) -> Account:
    """The platform admin. Whichever test signs in first meets the forced password change and
    changes it to ADMIN_NEW_PASSWORD (see sign_in_as_admin); this object follows."""
    return Account(ADMIN_EMAIL, app_server.one_time_password(), must_change_password=True)


def sign_in(page: Page, url: str, email: str, password: str) -> None:
    """Type the e-mail and password on the sign-in page and submit (what follows is the caller's)."""
    page.goto(url + "/login")
    expect(page.locator("#login-submit")).to_be_enabled(timeout=30_000)  # the page is live (hydrated)
    page.locator("#login-email").fill(email)
    page.locator("#login-password").fill(password)
    page.locator("#login-submit").click()


def change_password(page: Page, current: str, new: str) -> None:
    page.locator("#current-password").fill(current)
    page.locator("#new-password").fill(new)
    page.locator("#confirm-password").fill(new)
    page.locator("#change-password").click()


def sign_in_as_admin(page: Page, url: str, admin: Account) -> None:
    """Sign in as the platform admin and land on the home page, changing the one-time password first
    when nobody has yet."""
    sign_in(page, url, admin.email, admin.password)
    if admin.must_change_password:
        expect(page.locator("#must-change-password")).to_be_visible(timeout=30_000)
        change_password(page, admin.password, ADMIN_NEW_PASSWORD)
        admin.password, admin.must_change_password = ADMIN_NEW_PASSWORD, False
    expect(page.locator("#health-overall")).to_be_visible(timeout=30_000)


def sign_out(page: Page) -> None:
    page.locator("#user-menu").click()
    page.locator("#menu-sign-out").click()
    expect(page.locator("#login-email")).to_be_visible(timeout=30_000)


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last (Playwright's loop must not meet later async tests), and among them
    test_identity.py first: it is the one that meets the first admin's one-time password; a test
    that stops the shared app server comes after every other one that uses it."""

    def rank(item: pytest.Item) -> int:
        if "e2e" not in item.path.parts:
            return 0
        if item.get_closest_marker("stops_app_server"):
            return 3
        return 1 if item.path.name == "test_identity.py" else 2

    items.sort(key=rank)  # stable: the order inside each group stays as collected
