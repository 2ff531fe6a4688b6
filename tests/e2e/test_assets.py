"""The Assets area in Chromium: a dataset file of 20 001 lines whose last line is cut off is
refused, after a progress bar, with its report (line number included) and nothing is listed;
a good file becomes version 1 with rows, shape, PHI and a preview, and downloads through its
presigned link; a model is registered from uploaded files twice, compared, promoted and shown
with its card, files and lineage, and the dataset version it was trained on refuses to
retire; an archive upload is unpacked into its files; an image reference is refused with the
reason, then registered, filtered and retired."""

import hashlib
import io
import json
import re
import zipfile

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Account, screenshot, sign_in_as_admin

pytestmark = pytest.mark.e2e

TENANT_SLUG = "assets-lab"
TENANT_NAME = "医学影像资产组"
DATASET = "triage-sft"
MODEL = "triage-llm"
IMAGE = "registry.hospital.cn/medai/vllm-openai:0.12-cuda12.4"
LOAD_TIMEOUT = 30_000
WEIGHTS = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "  # a few bytes are enough for the registry

GOOD_ROWS = [
    {"instruction": "患者主诉胸痛两小时，首先做什么检查？", "input": "", "output": "立即做心电图并查肌钙蛋白。"},
    {"instruction": "What is a normal adult resting heart rate?", "input": "", "output": "60 to 100 beats per minute."},
    {"instruction": "如何联系随访护士？", "input": "", "output": "拨打随访电话 021-64370045。"},
]


def _jsonl(rows: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def _toast(page: Page, text: str) -> None:
    expect(page.locator("[data-sonner-toast]").filter(has_text=text).first).to_be_visible(timeout=LOAD_TIMEOUT)


def _choose_tenant(page: Page, name: str) -> None:
    page.locator("#tenant-switcher").click()
    page.get_by_role("option", name=name).click()
    expect(page.locator("#tenant-switcher")).to_contain_text(name, timeout=LOAD_TIMEOUT)


def _open_assets(page: Page, url: str, admin: Account) -> None:
    """Sign in as the platform admin and act in the assets tenant (created the first time)."""
    sign_in_as_admin(page, url, admin)
    page.locator("#nav-assets").click()
    expect(page).to_have_url(re.compile(r"/assets/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#assets-no-tenant").or_(page.locator("#asset-tabs"))).to_be_visible(timeout=LOAD_TIMEOUT)
    if page.locator("#tenant-switcher").filter(has_text=TENANT_NAME).count():
        return
    if not _tenant_listed(page):
        page.goto(url + "/admin")
        page.get_by_role("tab", name="租户").click()
        page.locator("#tenant-slug").fill(TENANT_SLUG)
        page.locator("#tenant-name").fill(TENANT_NAME)
        page.locator("#create-tenant").click()
        expect(page.locator(f'#tenant-list tr[data-slug="{TENANT_SLUG}"]')).to_be_visible(timeout=LOAD_TIMEOUT)
        page.goto(url + "/assets")
    _choose_tenant(page, TENANT_NAME)
    expect(page.locator("#asset-tabs")).to_be_visible(timeout=LOAD_TIMEOUT)


def _tenant_listed(page: Page) -> bool:
    """Whether the header's switcher offers the assets tenant (a platform admin sees every tenant)."""
    if page.locator("#tenant-switcher").count() == 0:
        return False  # no tenant exists yet
    page.locator("#tenant-switcher").click()
    expect(page.get_by_role("option").first).to_be_visible()
    listed = page.get_by_role("option", name=TENANT_NAME).count() > 0
    page.keyboard.press("Escape")
    return listed


def _upload_dataset(page: Page, filename: str, payload: bytes) -> None:
    page.locator("#dataset-upload-zone input[type=file]").set_input_files(
        files=[{"name": filename, "mimeType": "application/octet-stream", "buffer": payload}]
    )
    expect(page.locator("#dataset-upload-selected")).to_contain_text(filename)
    page.locator("#dataset-name").fill(DATASET)
    page.locator("#dataset-submit").click()


def test_a_file_with_a_cut_off_line_is_refused_with_its_report(app_server, admin, page):
    _open_assets(page, app_server.url, admin)
    cut_off = '{"instruction": "患者发热三天", "output": "'.encode()  # the last line ends mid-string
    bad = _jsonl(GOOD_ROWS[:2] * 10_000) + cut_off + b"\n"
    _upload_dataset(page, "triage-bad.jsonl", bad)
    expect(page.locator("#dataset-progress")).to_be_visible()  # uploading, then checking 20 001 lines

    report = page.locator("#upload-report")
    expect(report).to_have_attribute("data-ok", "no", timeout=LOAD_TIMEOUT)
    expect(report).to_contain_text("文件未通过校验")
    issue = page.locator('#upload-report-issues tr[data-line="20001"]')
    expect(issue).to_contain_text("not valid JSON")
    expect(issue).to_contain_text("cut off")
    expect(page.locator("#upload-report-rows")).to_have_text(re.compile(r"20001"))
    expect(page.locator("#upload-report-issue-count")).to_have_text(re.compile(r"\b1$"))
    expect(page.locator("#dataset-progress")).to_have_count(0)
    _toast(page, "The file was not imported")
    expect(page.locator("#dataset-list-empty")).to_be_visible()  # nothing was stored
    expect(page.locator("#dataset-list tbody tr")).to_have_count(0)
    assert page.request.get(app_server.url + "/api/datasets").json() == []
    screenshot(page, "assets-dataset-rejected-zh")


def test_a_good_file_becomes_version_one_with_its_report_and_download(app_server, admin, page):
    _open_assets(page, app_server.url, admin)
    payload = _jsonl(GOOD_ROWS)
    _upload_dataset(page, "triage.jsonl", payload)

    report = page.locator("#upload-report")
    expect(report).to_have_attribute("data-ok", "yes", timeout=LOAD_TIMEOUT)
    expect(page.locator("#upload-report-rows")).to_contain_text("3")
    expect(page.locator("#upload-report-shape")).to_contain_text("指令（Alpaca）")
    expect(page.locator("#upload-report-phi")).to_contain_text("电话")
    expect(page.locator("#upload-report-tokens")).to_contain_text("中位数")
    preview = page.locator("#upload-report-preview")
    expect(preview).to_contain_text("instruction")
    expect(preview).to_contain_text("立即做心电图并查肌钙蛋白。")
    expect(page.locator("#dataset-imported")).to_contain_text("v1")
    row = page.locator(f'#dataset-list tr[data-name="{DATASET}"]')
    expect(row).to_contain_text("v1")
    expect(row).to_contain_text("3")
    screenshot(page, "assets-dataset-imported-zh")

    row.get_by_role("link", name=DATASET).click()
    expect(page).to_have_url(re.compile(r"/assets/datasets/\w+$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#dataset-title")).to_have_text(DATASET, timeout=LOAD_TIMEOUT)
    version = page.locator('#dataset-versions tr[data-version="1"]')
    expect(version).to_contain_text("triage.jsonl")
    expect(page.locator("#version-report-preview")).to_contain_text("60 to 100 beats per minute.")
    expect(page.locator("#dataset-lineage-unused")).to_be_visible()
    version.get_by_role("button", name="下载").click()
    link = page.locator("#download-link")
    expect(link).to_be_visible(timeout=LOAD_TIMEOUT)
    downloaded = httpx.get(link.get_attribute("href") or "", timeout=10)  # presigned: no cookie needed
    assert downloaded.status_code == 200 and downloaded.content == payload
    screenshot(page, "assets-dataset-detail-zh")


def _register_model(page: Page, parameters: dict[str, object]) -> None:
    page.locator("#model-upload-zone input[type=file]").set_input_files(
        files=[
            {"name": "config.json", "mimeType": "application/json", "buffer": b'{"model_type": "llama"}'},
            {"name": "model.safetensors", "mimeType": "application/octet-stream", "buffer": WEIGHTS},
        ]
    )
    expect(page.locator("#model-upload-selected")).to_contain_text("model.safetensors")
    page.locator("#model-name").fill(MODEL)
    page.locator("#model-trained-on").click()
    page.get_by_role("option", name=f"{DATASET} v1").click()
    page.locator("#model-parameters").fill(json.dumps(parameters))
    page.locator("#model-card").fill("# Triage LLM\n\nAnswers **triage** questions; not a diagnosis.")
    page.locator("#model-submit").click()


def test_a_model_is_registered_from_files_compared_and_promoted(app_server, admin, page):
    _open_assets(page, app_server.url, admin)
    page.get_by_role("tab", name="模型").click()
    _register_model(page, {"learning_rate": 0.0002, "epochs": 3})
    expect(page.locator("#model-registered")).to_contain_text(f"{MODEL} v1", timeout=LOAD_TIMEOUT)
    expect(page.locator("#model-registered")).to_contain_text("safetensors")
    _register_model(page, {"learning_rate": 0.0002, "epochs": 5})
    expect(page.locator("#model-registered")).to_contain_text(f"{MODEL} v2", timeout=LOAD_TIMEOUT)
    row = page.locator(f'#model-list tr[data-name="{MODEL}"]')
    expect(row).to_contain_text("v2")
    expect(row).to_contain_text("待部署")
    screenshot(page, "assets-models-zh")

    row.get_by_role("link", name=MODEL).click()
    expect(page.locator("#model-title")).to_have_text(MODEL, timeout=LOAD_TIMEOUT)
    expect(page.locator("#model-versions tbody tr")).to_have_count(2)
    page.locator("#diff-run").click()  # v1 → v2 by default
    changed = page.locator('#diff-table tr[data-key="epochs"]')
    expect(changed).to_contain_text("3", timeout=LOAD_TIMEOUT)
    expect(changed).to_contain_text("5")
    expect(page.locator('#diff-table tr[data-key="learning_rate"]')).to_have_count(0)
    expect(page.locator("#model-card-view").get_by_role("heading", name="Triage LLM")).to_be_visible()
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    expect(page.locator('#model-files tr[data-path="model.safetensors"]')).to_contain_text(sha)
    expect(page.locator("#model-lineage-graph .js-plotly-plot")).to_be_visible(timeout=LOAD_TIMEOUT)

    page.locator('#model-versions tr[data-version="2"]').get_by_role("button", name="设为主版本").click()
    expect(page.locator("#model-promoted")).to_contain_text("v2", timeout=LOAD_TIMEOUT)
    page.locator("#language-switch").get_by_role("radio", name="EN").click()
    expect(page.locator("#model-lineage")).to_contain_text("Where is this used")
    screenshot(page, "assets-model-detail-en")
    page.locator("#language-switch").get_by_role("radio", name="中文").click()
    expect(page.locator("#model-lineage")).to_contain_text("使用情况")

    page.locator("#back-to-assets").click()  # the dataset version is now used by both model versions
    expect(page.locator(f'#model-list tr[data-name="{MODEL}"]')).to_be_visible(timeout=LOAD_TIMEOUT)  # same tab
    page.get_by_role("tab", name="数据集").click()
    page.locator(f'#dataset-list tr[data-name="{DATASET}"]').get_by_role("link", name=DATASET).click()
    users = page.locator("#dataset-lineage-users")
    expect(users).to_contain_text(f"{MODEL} v1", timeout=LOAD_TIMEOUT)
    expect(users).to_contain_text(f"{MODEL} v2")
    page.locator('#dataset-versions tr[data-version="1"]').get_by_role("button", name="下线").click()
    _toast(page, "Cannot retire this version: it is still used by 2 item(s)")
    expect(page.locator('#dataset-versions tr[data-version="1"]')).to_have_attribute("data-status", "active")
    screenshot(page, "assets-dataset-lineage-zh")


def test_a_model_archive_is_unpacked_into_its_files(app_server, admin, page):
    _open_assets(page, app_server.url, admin)
    page.get_by_role("tab", name="模型").click()
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("qwen-med/config.json", '{"model_type": "qwen2"}')
        archive.writestr("qwen-med/model.safetensors", WEIGHTS)
    page.locator("#model-upload-zone input[type=file]").set_input_files(
        files=[{"name": "qwen-med.zip", "mimeType": "application/zip", "buffer": bundle.getvalue()}]
    )
    page.locator("#model-name").fill("qwen-med")
    page.locator("#model-submit").click()
    expect(page.locator("#model-registered")).to_contain_text("qwen-med v1", timeout=LOAD_TIMEOUT)
    expect(page.locator("#model-registered")).to_contain_text("2 个文件")  # two members, not one zip
    page.locator('#model-list tr[data-name="qwen-med"]').get_by_role("link", name="qwen-med").click()
    expect(page.locator('#model-files tr[data-path="qwen-med/model.safetensors"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator('#model-versions tr[data-version="1"]')).to_contain_text("压缩包")


def test_an_image_reference_is_checked_then_registered_filtered_and_retired(app_server, admin, page):
    _open_assets(page, app_server.url, admin)
    page.get_by_role("tab", name="镜像").click()
    page.locator("#image-reference").fill("Registry.Hospital.cn/MedAI/VLLM:0.12")
    page.locator("#image-submit").click()
    expect(page.locator("#image-error")).to_contain_text("is not a valid image reference", timeout=LOAD_TIMEOUT)
    expect(page.locator("#image-error")).to_contain_text("lowercase")
    expect(page.locator("#image-list tbody tr")).to_have_count(0)
    screenshot(page, "assets-image-refused-zh")

    page.locator("#image-reference").fill(IMAGE)
    page.locator("#image-purpose").click()
    page.get_by_role("option", name="推理服务").click()
    page.locator("#image-cuda").fill("12.4")
    page.locator("#image-framework").fill("vllm 0.12")
    page.locator("#image-submit").click()
    row = page.locator(f'#image-list tr[data-reference="{IMAGE}"]')
    expect(row).to_contain_text("推理服务", timeout=LOAD_TIMEOUT)
    expect(row).to_contain_text("12.4")
    expect(page.locator("#image-error")).to_have_count(0)

    page.locator("#language-switch").get_by_role("radio", name="EN").click()
    page.locator("#image-purpose-filter").click()
    page.get_by_role("option", name="Training").click()
    expect(row).to_have_count(0, timeout=LOAD_TIMEOUT)
    page.locator("#image-purpose-filter").click()
    page.get_by_role("option", name="Serving").click()
    expect(row).to_be_visible(timeout=LOAD_TIMEOUT)
    row.get_by_role("button", name="Retire").click()
    expect(row).to_have_attribute("data-status", "retired", timeout=LOAD_TIMEOUT)
    screenshot(page, "assets-images-en")
    page.locator("#language-switch").get_by_role("radio", name="中文").click()
