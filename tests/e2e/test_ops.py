"""Operations as people meet it in Chromium: the platform admin opens /ops in a tenant and
watches the dashboard refresh by itself (a new update time and more points, pushed over the
websocket); a node without a GPU says so plainly; log search answers; an alert rule and a work
order are filed and listed, the order commented on, with no error on the way."""

import re

import pytest
from playwright.sync_api import Page, expect

from backend.adapters.gpus import read_gpus
from tests.e2e.conftest import screenshot, sign_in_as_admin

pytestmark = pytest.mark.e2e

TENANT_SLUG = "xiangya-ops"
TENANT_NAME = "湘雅医院运维组"
LOAD_TIMEOUT = 30_000


def _choose(page: Page, trigger: str, option: str) -> None:
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(trigger)).to_contain_text(option)


def test_the_dashboard_updates_live_and_work_orders_are_filed(app_server, admin, page):
    sign_in_as_admin(page, app_server.url, admin)
    page.goto(app_server.url + "/admin")
    page.get_by_role("tab", name="租户").click()
    page.locator("#tenant-slug").fill(TENANT_SLUG)
    page.locator("#tenant-name").fill(TENANT_NAME)
    page.locator("#create-tenant").click()
    expect(page.locator(f'#tenant-list tr[data-slug="{TENANT_SLUG}"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    _choose(page, "#tenant-switcher", TENANT_NAME)

    page.locator("#nav-ops").click()
    expect(page).to_have_url(re.compile(r"/ops/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#ops-live")).to_be_visible(timeout=LOAD_TIMEOUT)
    if read_gpus().available:
        expect(page.locator(".gpu-card").first).to_be_visible()
    else:
        expect(page.locator("#ops-no-gpu")).to_contain_text("本节点没有 GPU")
    expect(page.locator("#ops-cpu")).to_have_text(re.compile(r"^\d+(\.\d)?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#ops-latest")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"), timeout=LOAD_TIMEOUT)
    updated, latest = page.locator("#ops-updated").inner_text(), page.locator("#ops-latest").inner_text()
    expect(page.locator("#ops-updated")).not_to_have_text(updated, timeout=LOAD_TIMEOUT)  # pushed, not reloaded
    expect(page.locator("#ops-latest")).not_to_have_text(latest, timeout=LOAD_TIMEOUT)  # a newer sample arrived
    assert int(page.locator("#ops-points").inner_text()) > 0
    expect(page.locator("#ops-host-chart .main-svg").first).to_be_attached(timeout=LOAD_TIMEOUT)
    screenshot(page, "ops-dashboard-zh")

    page.locator("#ops-tab-logs").click()
    page.locator("#ops-log-text").fill("nothing-like-this-was-logged")
    page.locator("#ops-log-search").click()
    expect(page.locator("#ops-no-lines")).to_be_visible(timeout=LOAD_TIMEOUT)

    page.locator("#ops-tab-alerts").click()
    page.locator("#rule-name").fill("CPU 过高")
    page.locator("#rule-create").click()
    expect(page.locator('#rule-list tr[data-rule="CPU 过高"]')).to_contain_text("host.cpu_pct > 90 for 60 s")

    page.locator("#ops-tab-orders").click()
    page.locator("#order-title").fill("GPU 节点巡检")
    page.locator("#order-create").click()
    expect(page.locator('#order-list tr[data-order="GPU 节点巡检"] .order-status')).to_have_text(
        "open", timeout=LOAD_TIMEOUT
    )
    page.locator('#order-list tr[data-order="GPU 节点巡检"] .order-open').click()
    page.locator("#order-comment-text").fill("已检查 GPU 温度，正常。")
    page.locator("#order-comment").click()
    expect(page.locator("#order-comments .order-comment")).to_contain_text("已检查 GPU 温度，正常。")
    screenshot(page, "ops-orders-zh")
    expect(page.locator("[data-sonner-toast][data-type='error']")).to_have_count(0)
