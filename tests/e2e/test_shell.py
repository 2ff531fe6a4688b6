"""A user signs in to MedAI Studio, reads platform health, switches language and theme."""

import httpx
import psutil
import pytest
from playwright.sync_api import expect

from backend.services.ops.health import COMPONENTS
from tests.e2e.conftest import ROOT, group_members, screenshot, sign_in_as_admin

pytestmark = pytest.mark.e2e


def test_binds_loopback_only(app_server):
    listening = [
        c.laddr.ip
        for c in psutil.net_connections(kind="inet")
        if c.status == "LISTEN" and c.laddr.port == app_server.port
    ]
    assert listening, "nothing listens on the app's port"
    assert set(listening) == {"127.0.0.1"}


def test_api_is_served_by_the_same_server(app_server):
    health = httpx.get(app_server.url + "/api/health", timeout=10).json()
    assert health["status"] == "ok"
    controller = next(c for c in health["components"] if c["name"] == "controller")
    assert controller["status"] == "ok"  # the lifespan task is running
    schema = httpx.get(app_server.url + "/openapi.json", timeout=10).json()
    assert "/api/health" in schema["paths"]
    missing = httpx.get(app_server.url + "/api/does-not-exist", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"


def test_home_shows_health_then_switches_language_and_theme(app_server, admin, page):
    sign_in_as_admin(page, app_server.url, admin)
    page.goto(app_server.url + "/")
    expect(page.locator("#health-overall")).to_be_visible(timeout=30_000)
    # default language comes from MEDAI_UI_LANGUAGE (zh)
    expect(page.get_by_role("heading", name="平台健康")).to_be_visible()
    for name in COMPONENTS:
        expect(page.locator(f"#health-{name}")).to_have_attribute("data-status", "ok")
    expect(page.locator("#health-database")).to_contain_text("SQLite")
    screenshot(page, "home-zh-light")

    page.locator("#language-switch").get_by_role("radio", name="EN").click()
    expect(page.get_by_role("heading", name="Platform health")).to_be_visible()
    expect(page.locator("#health-cache")).to_contain_text("Cache")
    expect(page.locator("#sidebar")).to_contain_text("Home")

    page.reload()  # the choice is remembered by the browser
    expect(page.get_by_role("heading", name="Platform health")).to_be_visible(timeout=30_000)

    html = page.locator("html")
    expect(html).not_to_have_class("dark")
    page.locator("#theme-toggle").click()
    expect(html).to_have_class("dark")
    expect(page.locator("#health-overall")).to_be_visible()
    screenshot(page, "home-en-dark")

    page.locator("#theme-toggle").click()
    expect(html).not_to_have_class("dark")
    page.locator("#language-switch").get_by_role("radio", name="中文").click()
    expect(page.get_by_role("heading", name="平台健康")).to_be_visible()


def test_refresh_checks_again(app_server, admin, page):
    sign_in_as_admin(page, app_server.url, admin)
    page.goto(app_server.url + "/")
    checked = page.locator("text=/\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} UTC/")
    expect(checked).to_be_visible(timeout=30_000)
    first = checked.inner_text()
    page.wait_for_timeout(1100)
    page.locator("#health-refresh").click()
    expect(checked).not_to_have_text(first, timeout=10_000)


@pytest.mark.stops_app_server
def test_stopping_the_group_leaves_nothing_behind(app_server):
    survivors = app_server.stop()
    assert survivors == [], f"still running after SIGTERM: {survivors}"
    assert group_members(app_server.pgid) == []
    assert not any(
        c.laddr.port == app_server.port and c.status == "LISTEN" for c in psutil.net_connections(kind="inet")
    )
    # no node or vite process left anywhere working in the app's frontend folder
    web = str(ROOT / ".web")
    leftovers = [
        p.info["cmdline"] for p in psutil.process_iter(["cmdline", "cwd"]) if (p.info["cwd"] or "").startswith(web)
    ]
    assert leftovers == []
