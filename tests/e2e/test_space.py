"""AI space in Chromium: the platform admin makes a tenant, creates a workbench on /space within the
self-service limits, follows it live until the controller has JupyterLab running, opens its page,
opens the IDE (a new tab on JupyterLab, logged in by the token in the link), and stops it; a request
beyond the limits waits in the approvals queue with its reason."""

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot, sign_in_as_admin

pytestmark = pytest.mark.e2e

TENANT_SLUG = "xiangya-space"
TENANT_NAME = "湘雅医院 AI 空间"
WORKBENCH = "ecg-lab"
LOAD_TIMEOUT = 30_000
RUN_TIMEOUT = 120_000  # JupyterLab starts in a few seconds; a busy machine takes longer


def _choose(page: Page, trigger: str, option: str) -> None:
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(trigger)).to_contain_text(option)


def _toast(page: Page, text: str) -> None:
    expect(page.locator("[data-sonner-toast]").filter(has_text=text).first).to_be_visible(timeout=LOAD_TIMEOUT)


def _session_headers(page: Page) -> dict[str, str]:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "medai_session")
    return {"Authorization": f"Bearer {token}"}


def test_a_workbench_is_created_opened_in_jupyterlab_and_stopped(app_server, admin, page):
    sign_in_as_admin(page, app_server.url, admin)
    page.goto(app_server.url + "/admin")
    page.get_by_role("tab", name="租户").click()
    page.locator("#tenant-slug").fill(TENANT_SLUG)
    page.locator("#tenant-name").fill(TENANT_NAME)
    page.locator("#create-tenant").click()
    expect(page.locator(f'#tenant-list tr[data-slug="{TENANT_SLUG}"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    _choose(page, "#tenant-switcher", TENANT_NAME)

    page.locator("#nav-space").click()
    expect(page).to_have_url(re.compile(r"/space/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#no-workbenches")).to_be_visible(timeout=LOAD_TIMEOUT)
    for field_id, value in (("#wb-name", WORKBENCH), ("#wb-cpu", "1"), ("#wb-memory-gb", "2")):
        page.locator(field_id).fill(value)
    expect(page.locator("#wb-memory-gb")).to_have_value("2")
    page.locator("#wb-create").click()
    _toast(page, "工作台已创建")
    row = page.locator(f'#workbench-list tr[data-name="{WORKBENCH}"]')
    expect(row).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(row).to_have_attribute("data-status", "running", timeout=RUN_TIMEOUT)  # followed live
    screenshot(page, "space-list-zh")

    # beyond the limits: it waits for approval, with its reason in the queue
    page.locator("#wb-name").fill("gpu-lab")
    page.locator("#wb-gpus").fill("1")
    page.locator("#wb-reason").fill("心电大模型微调需要一张 GPU")
    expect(page.locator("#wb-reason")).to_have_value("心电大模型微调需要一张 GPU")
    page.locator("#wb-create").click()
    _toast(page, "申请已提交审批")
    expect(page.locator('#workbench-list tr[data-name="gpu-lab"]')).to_have_attribute(
        "data-status", "pending_approval", timeout=LOAD_TIMEOUT
    )
    request = page.locator('#approval-list tr[data-name="gpu-lab"]')
    expect(request).to_contain_text("心电大模型微调需要一张 GPU")
    expect(request).to_contain_text("gpus 1 > 0")
    request.locator(".reject").click()
    _toast(page, "已驳回")
    expect(page.locator('#workbench-list tr[data-name="gpu-lab"]')).to_have_attribute(
        "data-status", "rejected", timeout=LOAD_TIMEOUT
    )
    expect(page.locator("#no-approvals")).to_be_visible()

    # its page, and the IDE in a new tab
    row.get_by_role("link", name=WORKBENCH).click()
    expect(page).to_have_url(re.compile(r"/space/\w+/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#wb-title")).to_have_text(WORKBENCH, timeout=LOAD_TIMEOUT)
    expect(page.locator("#wb-status")).to_have_attribute("data-status", "running")
    expect(page.locator('#member-list tr[data-role="owner"]')).to_contain_text("admin@medai.local")
    screenshot(page, "space-workbench-zh")
    with page.expect_popup(timeout=LOAD_TIMEOUT) as opened:
        page.locator("#wb-open-ide").click()
    ide = opened.value
    ide.wait_for_load_state("domcontentloaded", timeout=LOAD_TIMEOUT)
    assert re.search(r"^http://127\.0\.0\.1:\d+/lab", ide.url), ide.url
    expect(ide).to_have_title(re.compile("JupyterLab"), timeout=RUN_TIMEOUT)
    ide.close()
    expect(page.locator('#activity-list tr[data-action="open_ide"]')).to_be_visible(timeout=LOAD_TIMEOUT)

    # a folder written in the IDE becomes a model version
    workbench_id = page.url.rstrip("/").rsplit("/", 1)[1]
    link = httpx.post(f"{app_server.url}/api/workbenches/{workbench_id}/ide", headers=_session_headers(page))
    assert link.status_code == 200, link.text
    base, token = link.json()["url"].split("/lab?token=")
    auth = {"Authorization": f"token {token}"}
    assert httpx.put(f"{base}/api/contents/outputs", json={"type": "directory"}, headers=auth).status_code == 201
    weights = {"type": "file", "format": "base64", "content": "d2VpZ2h0cw=="}
    assert httpx.put(f"{base}/api/contents/outputs/model.safetensors", json=weights, headers=auth).status_code == 201
    page.locator("#publish-folder").fill("outputs")
    page.locator("#publish-model-name").fill("ecg-classifier")
    expect(page.locator("#publish-model-name")).to_have_value("ecg-classifier")
    page.locator("#publish-register").click()
    _toast(page, "模型版本已注册")
    expect(page.locator("#publish-registered")).to_have_text("ecg-classifier v1")

    page.locator("#wb-stop").click()
    _toast(page, "正在停止")
    expect(page.locator("#wb-status")).to_have_attribute("data-status", "stopped", timeout=LOAD_TIMEOUT)
    expect(page.locator("#wb-start")).to_be_visible()
    screenshot(page, "space-stopped-zh")
