"""Knowledge bases in Chromium: create a knowledge base, preview and import a Chinese document
(it becomes ready with its chunks), refuse a damaged PDF with the reason and list nothing for it,
run a recall test and read the vector, text and fused scores, then save the query and evaluate it
(hit@k and MRR in the history with its chart)."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Account, screenshot, sign_in_as_admin

pytestmark = pytest.mark.e2e

TENANT_SLUG = "knowledge-lab"
TENANT_NAME = "临床知识库组"
KB_NAME = "高血压指南"
LOAD_TIMEOUT = 30_000
GUIDE = (
    "高血压患者应限制钠盐摄入，每日食盐不超过5克。规律有氧运动有助于降低血压。\n\n"
    "2型糖尿病患者应监测空腹血糖，目标范围为4.4至7.0毫摩尔每升。二甲双胍是首选口服药物。\n\n"
    "Warfarin requires regular INR monitoring; the usual target range is 2.0 to 3.0."
)


def _toast(page: Page, text: str) -> None:
    expect(page.locator("[data-sonner-toast]").filter(has_text=text).first).to_be_visible(timeout=LOAD_TIMEOUT)


def _open_knowledge(page: Page, url: str, admin: Account) -> None:
    """Sign in as the platform admin, acting in the knowledge tenant (created the first time)."""
    sign_in_as_admin(page, url, admin)
    page.goto(url + "/admin")
    page.get_by_role("tab", name="租户").click()
    if page.locator(f'#tenant-list tr[data-slug="{TENANT_SLUG}"]').count() == 0:
        page.locator("#tenant-slug").fill(TENANT_SLUG)
        page.locator("#tenant-name").fill(TENANT_NAME)
        page.locator("#create-tenant").click()
        expect(page.locator(f'#tenant-list tr[data-slug="{TENANT_SLUG}"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    page.locator("#nav-knowledge").click()
    expect(page).to_have_url(re.compile(r"/knowledge/?$"), timeout=LOAD_TIMEOUT)
    if not page.locator("#tenant-switcher").filter(has_text=TENANT_NAME).count():
        page.locator("#tenant-switcher").click()
        page.get_by_role("option", name=TENANT_NAME).click()
        expect(page.locator("#tenant-switcher")).to_contain_text(TENANT_NAME, timeout=LOAD_TIMEOUT)
    expect(page.locator("#kb-new")).to_be_visible(timeout=LOAD_TIMEOUT)


def _choose(page: Page, name: str, payload: bytes) -> None:
    page.locator("#kb-document-upload input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": payload}]
    )
    expect(page.locator("#kb-selected")).to_contain_text(name)


def test_create_import_and_recall_test_with_scores(app_server, admin, page):
    _open_knowledge(page, app_server.url, admin)
    page.locator("#kb-name").fill(KB_NAME)
    page.locator("#kb-description").fill("心血管与内分泌常用指南")
    page.locator("#kb-chunk-size").fill("80")
    page.locator("#kb-chunk-overlap").fill("0")
    page.locator("#kb-create").click()
    expect(page).to_have_url(re.compile(r"/knowledge/[0-9a-f]{32}$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#kb-title")).to_have_text(KB_NAME, timeout=LOAD_TIMEOUT)

    # a damaged PDF is refused with the reason; nothing is listed for it
    _choose(page, "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> no xref")
    page.locator("#kb-upload").click()
    _toast(page, "broken.pdf")
    expect(page.locator("#kb-no-documents")).to_be_visible()

    # preview first (nothing stored), then import
    _choose(page, "guide.txt", GUIDE.encode())
    page.locator("#kb-preview").click()
    expect(page.locator("#kb-preview-chunks .chunk").first).to_be_visible(timeout=LOAD_TIMEOUT)
    assert page.locator("#kb-preview-chunks .chunk").count() >= 3
    expect(page.locator("#kb-no-documents")).to_be_visible()
    page.locator("#kb-upload").click()
    row = page.locator('#kb-documents tr[data-name="guide.txt"]')
    expect(row).to_have_attribute("data-status", "ready", timeout=120_000)
    assert int(row.locator(".chunks").inner_text()) >= 3
    row.get_by_role("button", name="查看分块").click()
    expect(page.locator("#kb-doc-chunks")).to_contain_text("二甲双胍", timeout=LOAD_TIMEOUT)

    # the recall test shows the Chinese chunk first, with all three scores
    page.locator("#kb-query").fill("二甲双胍 血糖")
    page.locator("#kb-run-test").click()
    first = page.locator("#kb-results .result").first
    expect(first).to_contain_text("二甲双胍", timeout=LOAD_TIMEOUT)
    expect(first).to_contain_text("guide.txt")
    for score in ("fused", "vector", "text-score"):
        assert re.fullmatch(r"-?\d\.\d{3}", first.locator(f".{score}").inner_text()), score
    assert float(first.locator(".fused").inner_text()) > 0
    screenshot(page, "knowledge-recall")

    # saved as a test query and evaluated: hit@k and MRR recorded with the chart
    page.locator("#kb-expected").click()
    page.get_by_role("option", name="guide.txt").click()
    page.locator("#kb-save-query").click()
    expect(page.locator("#kb-queries")).to_contain_text("二甲双胍 血糖", timeout=LOAD_TIMEOUT)
    page.locator("#kb-evaluate").click()
    expect(page.locator("#kb-runs .hit-rate").first).to_have_text("1.00", timeout=LOAD_TIMEOUT)
    expect(page.locator("#kb-runs .mrr").first).to_have_text("1.000")
    expect(page.locator("#kb-history-chart")).to_be_visible()
    screenshot(page, "knowledge-evaluation")

    # the knowledge base's own synonyms: saved, re-indexed in the background, used by the recall test
    page.locator("#kb-vocabulary-synonyms").fill("低盐饮食，钠盐")
    page.locator("#kb-save-vocabulary").click()
    expect(page.locator("#kb-vocabulary-panel")).to_contain_text("全文索引已是最新", timeout=120_000)
    page.locator("#kb-query").fill("低盐饮食")
    page.locator("#kb-run-test").click()
    expect(page.locator("#kb-expanded-terms")).to_contain_text("钠盐", timeout=LOAD_TIMEOUT)
    expect(page.locator("#kb-results .result").first).to_contain_text("钠盐")
    screenshot(page, "knowledge-vocabulary")


def test_a_knowledge_base_for_chosen_members(app_server, admin, page):
    """Visibility "chosen members": the colleagues of the tenant are listed to tick."""
    colleague = "nurse.wang@knowledge-lab.cn"
    _open_knowledge(page, app_server.url, admin)
    page.goto(app_server.url + "/admin")
    page.get_by_role("tab", name="成员").click()
    if page.locator(f'#member-list tr[data-email="{colleague}"]').count() == 0:
        page.locator("#invite-email").fill(colleague)
        page.locator("#invite-name").fill("王护士")
        page.locator("#invite-role").click()
        page.get_by_role("option", name="临床医生").click()
        page.locator("#invite-submit").click()
        expect(page.locator(f'#member-list tr[data-email="{colleague}"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    page.locator("#nav-knowledge").click()
    expect(page.locator("#kb-new")).to_be_visible(timeout=LOAD_TIMEOUT)
    page.locator("#kb-name").fill("护理交班要点")
    page.locator("#kb-visibility").click()
    page.get_by_role("option", name="指定成员").click()
    choice = page.locator(f'#kb-members [data-member="{colleague}"]')
    expect(choice).to_contain_text("王护士", timeout=LOAD_TIMEOUT)
    choice.get_by_role("checkbox").click()
    expect(choice.get_by_role("checkbox")).to_be_checked()
    screenshot(page, "knowledge-members")
    page.locator("#kb-create").click()
    expect(page).to_have_url(re.compile(r"/knowledge/[0-9a-f]{32}$"), timeout=LOAD_TIMEOUT)
    page.goto(app_server.url + "/knowledge")
    expect(page.locator('tr[data-name="护理交班要点"]')).to_contain_text("指定成员", timeout=LOAD_TIMEOUT)
