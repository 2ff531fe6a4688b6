"""Deploy and the Playground as people meet them in Chromium: the platform admin makes a tenant
and registers a tiny model through the REST API with the browser's own session, deploys it on
/serving, follows it live until the controller has a replica ready, reads the service page
(replicas, log, API snippets), chats with it in the Playground (the answer streamed through
the gateway, with tokens and latency), stops a long answer while it streams, sees the requests in
the service's usage and stops the service."""

import json
import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot, sign_in_as_admin
from tests.tiny_model import build_model

pytestmark = pytest.mark.e2e

TENANT_SLUG = "xiangya-deploy"
TENANT_NAME = "湘雅医院部署组"
MODEL_NAME = "tiny-chat"
SERVICE = "bp-chat"
LOAD_TIMEOUT = 30_000
READY_TIMEOUT = 120_000  # a tiny model on CPU is ready in 5-15 s; a busy machine takes longer


def _choose(page: Page, trigger: str, option: str) -> None:
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(trigger)).to_contain_text(option)


def _toast(page: Page, text: str) -> None:
    expect(page.locator("[data-sonner-toast]").filter(has_text=text).first).to_be_visible(timeout=LOAD_TIMEOUT)


def _no_toasts(page: Page) -> None:
    expect(page.locator("[data-sonner-toast]")).to_have_count(0, timeout=LOAD_TIMEOUT)


def _session_headers(page: Page) -> dict[str, str]:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "medai_session")
    return {"Authorization": f"Bearer {token}"}


def test_a_model_is_deployed_chatted_with_and_stopped(app_server, admin, page, tmp_path):
    sign_in_as_admin(page, app_server.url, admin)
    page.goto(app_server.url + "/admin")
    page.get_by_role("tab", name="租户").click()
    page.locator("#tenant-slug").fill(TENANT_SLUG)
    page.locator("#tenant-name").fill(TENANT_NAME)
    page.locator("#create-tenant").click()
    expect(page.locator(f'#tenant-list tr[data-slug="{TENANT_SLUG}"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    _choose(page, "#tenant-switcher", TENANT_NAME)

    folder = build_model(tmp_path / "tiny", seed=0)  # its greedy answer below runs to max tokens
    files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in sorted(folder.iterdir())]
    model = httpx.post(
        app_server.url + "/api/models",
        headers=_session_headers(page),
        data={"spec": json.dumps({"model_name": MODEL_NAME})},
        files=files,
        timeout=60,
    )
    assert model.status_code == 201, model.text

    # deploy it from the form
    page.locator("#nav-serving").click()
    expect(page).to_have_url(re.compile(r"/serving/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#no-services")).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("#deploy-model")).to_contain_text(MODEL_NAME)
    expect(page.locator("#deploy-version")).to_contain_text(f"{MODEL_NAME} v1")
    for field_id, value in (("#deploy-name", SERVICE), ("#deploy-cpu", "1"), ("#deploy-memory-gb", "1")):
        page.locator(field_id).fill(value)
    page.locator("#deploy-max-model-len").fill("4096")
    expect(page.locator("#deploy-max-model-len")).to_have_value("4096")
    expect(page.locator("#cluster-list tr[data-cluster='local']")).to_be_visible()
    page.locator("#test-connection").click()
    expect(page.locator('#connection-steps [data-step="local host"]')).to_have_attribute("data-ok", "ok")
    screenshot(page, "deploy-form-zh")
    page.locator("#deploy-submit").click()
    _toast(page, "服务已创建")
    row = page.locator(f'#service-list tr[data-name="{SERVICE}"]')
    expect(row).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("#deploy-name")).to_have_value("")
    expect(row).to_have_attribute("data-status", "ready", timeout=READY_TIMEOUT)  # followed live, no reload
    expect(row.locator(".replicas")).to_have_text("1/1")
    expect(row).to_contain_text(f"{MODEL_NAME} v1")
    _no_toasts(page)
    screenshot(page, "deploy-list-zh")

    # the service page: replicas, log, how to call it
    row.get_by_role("link", name=SERVICE).click()
    expect(page).to_have_url(re.compile(r"/serving/\w+/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#service-title")).to_have_text(SERVICE, timeout=LOAD_TIMEOUT)
    expect(page.locator("#service-status")).to_have_attribute("data-status", "ready")
    expect(page.locator('#replica-list tr[data-ordinal="0"]')).to_have_attribute("data-status", "ready")
    expect(page.locator("#service-base-url")).to_have_text(app_server.url + "/v1")
    expect(page.locator("#snippet-curl")).to_contain_text(f'"model": "{SERVICE}"')
    expect(page.locator("#snippet-python")).to_contain_text(f'model="{SERVICE}"')
    expect(page.locator('#version-list tr[data-version="v1"]')).to_contain_text("当前版本")
    screenshot(page, "deploy-service-zh")

    # a second version of the model: a rolling update to it, then a rollback, followed live
    second = httpx.post(
        app_server.url + "/api/models",
        headers=_session_headers(page),
        data={"spec": json.dumps({"model_name": MODEL_NAME, "parameters": {"note": "v2"}})},
        files=files,
        timeout=60,
    )
    assert second.status_code == 201, second.text
    page.reload()
    replicas = page.locator("#replica-list tbody tr")
    page.locator('#version-list tr[data-version="v2"]').get_by_role("button", name="更新到此版本").click()
    _toast(page, "滚动更新已开始")
    expect(page.locator('#version-list tr[data-version="v2"]')).to_contain_text("当前版本", timeout=LOAD_TIMEOUT)
    expect(replicas).to_have_count(1, timeout=READY_TIMEOUT)  # the old replica went once the new one was ready
    expect(replicas.first).to_contain_text(f"{MODEL_NAME} v2", timeout=READY_TIMEOUT)
    expect(replicas.first).to_have_attribute("data-status", "ready", timeout=READY_TIMEOUT)
    page.locator("#service-rollback").click()
    _toast(page, "正在回滚到上一版本")
    expect(page.locator('#version-list tr[data-version="v1"]')).to_contain_text("当前版本", timeout=LOAD_TIMEOUT)
    expect(replicas.first).to_contain_text(f"{MODEL_NAME} v1", timeout=READY_TIMEOUT)
    expect(replicas).to_have_count(1, timeout=READY_TIMEOUT)
    expect(replicas.first).to_have_attribute("data-status", "ready", timeout=READY_TIMEOUT)
    _no_toasts(page)

    # chat with it in the Playground
    page.locator("#service-try").click()
    expect(page).to_have_url(re.compile(r"/playground"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#playground-service")).to_contain_text(SERVICE, timeout=LOAD_TIMEOUT)
    page.locator("#playground-system").fill("You are a doctor.")
    page.locator("#playground-temperature [role=slider]").press("Home")  # greedy: the seeded model's answer is known
    expect(page.locator("#playground-temperature-value")).to_have_text(re.compile(r"^0(\.0)?$"))
    page.locator("#playground-max-tokens").fill("16")
    page.locator("#playground-input").fill("高血压患者饮食要注意什么？")
    page.locator("#playground-send").click()
    expect(page.locator(".chat-user")).to_contain_text("高血压患者饮食要注意什么？")
    answer = page.locator(".chat-assistant")
    expect(answer).to_have_count(1, timeout=LOAD_TIMEOUT)
    expect(page.locator("#playground-stats")).to_be_visible(timeout=READY_TIMEOUT)
    assert answer.inner_text().strip() not in ("", "助手")  # the tiny model still says something
    completion = int(page.locator("#stat-completion-tokens").inner_text())
    assert 1 <= completion <= 16
    assert int(page.locator("#stat-prompt-tokens").inner_text()) > 0
    assert int(page.locator("#stat-total").inner_text()) >= int(page.locator("#stat-first-token").inner_text())
    screenshot(page, "playground-zh")

    # a long answer, stopped while it streams: it ends where it is, and the chat is ready again
    page.locator("#playground-clear").click()
    expect(answer).to_have_count(0)
    page.locator("#playground-max-tokens").fill("3500")  # a few seconds of generation: time enough to press Stop
    page.locator("#playground-input").fill("请详细说明。")
    page.locator("#playground-send").click()
    expect(answer.first).to_have_text(re.compile(r"助手\s*\S"), timeout=LOAD_TIMEOUT)  # the first words
    page.locator("#playground-stop").click()
    expect(page.locator("#stat-stopped")).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("#playground-send")).to_be_visible()
    expect(page.locator("#stat-completion-tokens")).to_have_text("—")  # the usage comes only at the end
    _no_toasts(page)
    screenshot(page, "playground-stopped-zh")

    # the request counts in the service's usage; then stop it
    page.go_back()
    expect(page.locator("#service-title")).to_have_text(SERVICE, timeout=LOAD_TIMEOUT)
    expect(page.locator("#service-usage")).to_contain_text("session", timeout=LOAD_TIMEOUT)
    page.locator("#service-stop").click()
    page.locator("#service-stop-confirm").click()
    _toast(page, "服务正在停止")
    expect(page.locator("#service-status")).to_have_attribute("data-status", "stopped", timeout=LOAD_TIMEOUT)
    expect(page.locator("#no-replicas")).to_be_visible(timeout=LOAD_TIMEOUT)
    page.locator("#language-switch").get_by_role("radio", name="EN").click()
    expect(page.locator("#service-status")).to_contain_text("Stopped")
    _no_toasts(page)
    screenshot(page, "deploy-stopped-en")
    page.goto(app_server.url + "/deploy")  # the area's address before it was renamed forwards to /serving
    expect(page).to_have_url(re.compile(r"/serving/?$"), timeout=LOAD_TIMEOUT)
    row = page.locator(f'#service-list tr[data-name="{SERVICE}"]')
    expect(row).to_have_attribute("data-status", "stopped", timeout=LOAD_TIMEOUT)
    expect(row).to_contain_text("2 · p50")  # the Playground's two requests, in the last 30 minutes
    bars = page.locator("#traffic-chart g.trace.bars path").filter(visible=True)  # quiet minutes draw no bar
    expect(bars.first).to_be_visible(timeout=LOAD_TIMEOUT)
    assert bars.count() in (1, 2)  # the two requests fall in one clock minute, or in two when one ended between
