"""R&D and orchestration as people meet them in Chromium: the platform admin makes a tenant,
a tiny base model and a dataset are registered through the REST API with the browser's own
session, two SFT jobs are filled in on /training from the quick-check preset and really
trained by the controller; the job page follows one live to success (curve drawn, progress
full, trained model registered), the runs are compared, and /orchestration shows the local
pool, the default queue and the admin's pool and quota forms."""

import io
import json
import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot, sign_in_as_admin
from tests.tiny_model import build_model

pytestmark = pytest.mark.e2e

TENANT_SLUG = "xiangya-research"
TENANT_NAME = "湘雅医院科研组"
MODEL_NAME = "tiny-base"
DATASET_NAME = "bp-advice"
JOBS = ("bp-sft-lr3", "bp-sft-lr1")
LOAD_TIMEOUT = 30_000
TRAIN_TIMEOUT = 300_000  # a tiny model on CPU trains in 10-30 s; two at once on a small machine take longer
ROWS = [
    {"instruction": "高血压患者饮食要注意什么？", "output": "低盐低脂，多吃蔬菜水果，规律服药。"},
    {"instruction": "What is a normal resting heart rate?", "output": "60 to 100 beats per minute for adults."},
] * 12


@pytest.fixture(scope="module")
def journey() -> dict[str, object]:
    return {}


def _toast(page: Page, text: str) -> None:
    expect(page.locator("[data-sonner-toast]").filter(has_text=text).first).to_be_visible(timeout=LOAD_TIMEOUT)


def _choose(page: Page, trigger: str, option: str) -> None:
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(trigger)).to_contain_text(option)


def _enter_tenant(page: Page, url: str, admin) -> None:
    """Sign in as the platform admin and act in this module's tenant."""
    sign_in_as_admin(page, url, admin)
    switcher = page.locator("#tenant-switcher")
    expect(switcher).to_be_visible(timeout=LOAD_TIMEOUT)
    if TENANT_NAME not in switcher.inner_text():
        _choose(page, "#tenant-switcher", TENANT_NAME)


def _no_toasts(page: Page) -> None:
    """Toasts fade after a few seconds; screenshots wait for them."""
    expect(page.locator("[data-sonner-toast]")).to_have_count(0, timeout=LOAD_TIMEOUT)


def _session_headers(page: Page) -> dict[str, str]:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "medai_session")
    return {"Authorization": f"Bearer {token}"}


def test_admin_prepares_a_tenant_with_a_model_and_a_dataset(app_server, admin, page, journey, tmp_path):
    sign_in_as_admin(page, app_server.url, admin)
    page.goto(app_server.url + "/admin")
    page.get_by_role("tab", name="租户").click()
    page.locator("#tenant-slug").fill(TENANT_SLUG)
    page.locator("#tenant-name").fill(TENANT_NAME)
    page.locator("#create-tenant").click()
    expect(page.locator(f'#tenant-list tr[data-slug="{TENANT_SLUG}"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    _choose(page, "#tenant-switcher", TENANT_NAME)

    # The Assets pages are built separately; the REST API takes the browser's session as a Bearer token.
    headers = _session_headers(page)
    folder = build_model(tmp_path / "tiny")
    files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in sorted(folder.iterdir())]
    model = httpx.post(
        app_server.url + "/api/models",
        headers=headers,
        data={"spec": json.dumps({"model_name": MODEL_NAME})},
        files=files,
        timeout=60,
    )
    assert model.status_code == 201, model.text
    journey["model"] = model.json()["id"]
    payload = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS).encode()
    dataset = httpx.post(
        app_server.url + "/api/datasets",
        headers=headers,
        data={"name": DATASET_NAME},
        files={"file": ("bp.jsonl", io.BytesIO(payload), "application/jsonl")},
        timeout=60,
    )
    assert dataset.status_code == 201, dataset.text
    journey["dataset"] = dataset.json()["id"]
    journey["prepared"] = True


def _fill_job(page: Page, name: str, learning_rate: str) -> None:
    """Quick-check preset, then small full fine-tuning on one CPU core (the preset fills the fields)."""
    page.locator("#job-name").fill(name)
    _choose(page, "#job-preset", "快速验证（20 步）")
    expect(page.locator("#hp-max-steps")).to_have_value("20")
    expect(page.locator("#hp-logging-steps")).to_have_value("1")
    for field_id, value in (
        ("#hp-max-steps", "8"),
        ("#hp-learning-rate", learning_rate),
        ("#hp-cutoff-len", "64"),
        ("#hp-per-device-train-batch-size", "4"),
        ("#hp-gradient-accumulation-steps", "1"),
        ("#res-cpu", "1"),
        ("#res-memory-gb", "1"),
    ):
        page.locator(field_id).fill(value)
        expect(page.locator(field_id)).to_have_value(value)
    _choose(page, "#hp-finetuning", "全参数")
    expect(page.locator("#hp-lora-rank")).to_have_count(0)  # LoRA fields only for LoRA
    choice = page.locator(f'#train-datasets [data-dataset="{DATASET_NAME} v1"]').get_by_role("checkbox")
    if choice.get_attribute("aria-checked") != "true":
        choice.click()
    expect(choice).to_have_attribute("aria-checked", "true")


def test_a_job_from_the_form_trains_live_to_success(app_server, admin, page, journey):
    if not journey.get("prepared"):
        pytest.fail("the tenant, model and dataset were not prepared: see the first test of this module")
    _enter_tenant(page, app_server.url, admin)
    page.locator("#nav-research").click()  # the old id of the renamed area still leads here
    expect(page).to_have_url(re.compile(r"/training/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#no-jobs")).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("#job-base-model")).to_contain_text(f"{MODEL_NAME} v1")

    _choose(page, "#job-type", "自定义脚本")  # a custom job shows its script, with a starter that says what it gets
    expect(page.locator("#job-script")).to_contain_text("MEDAI_TRAIN_FILES")
    _choose(page, "#job-type", "SFT 监督微调")
    expect(page.locator("#job-script")).to_have_count(0)

    _fill_job(page, JOBS[0], "3e-3")
    screenshot(page, "research-form-zh")
    page.locator("#job-submit").click()
    _toast(page, "任务已提交")
    expect(page.locator(f'#job-list tr[data-name="{JOBS[0]}"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("#job-name")).to_have_value("")
    page.locator("#job-name").fill(JOBS[1])  # the second run, for the comparison: the form kept the rest
    page.locator("#hp-learning-rate").fill("1e-3")
    expect(page.locator("#hp-max-steps")).to_have_value("8")
    page.locator("#job-submit").click()
    expect(page.locator(f'#job-list tr[data-name="{JOBS[1]}"]')).to_be_visible(timeout=LOAD_TIMEOUT)

    page.locator(f'#job-list tr[data-name="{JOBS[0]}"]').get_by_role("link", name=JOBS[0]).click()
    expect(page).to_have_url(re.compile(r"/training/jobs/\w+/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#job-title")).to_have_text(JOBS[0], timeout=LOAD_TIMEOUT)
    status = page.locator("#job-status")
    expect(status).to_have_attribute("data-status", "running", timeout=TRAIN_TIMEOUT)
    expect(page.locator("#job-live")).to_be_visible()
    expect(page.locator('#job-events [data-kind="started"]')).to_be_visible()

    expect(status).to_have_attribute("data-status", "succeeded", timeout=TRAIN_TIMEOUT)  # followed live, no reload
    expect(page.locator("#job-live")).to_have_count(0, timeout=LOAD_TIMEOUT)  # the follow loop ended with the job
    expect(page.locator("#job-progress-text")).to_contain_text("8/8 · 100%")
    expect(page.locator("#job-progress-card")).to_have_attribute("data-progress", "100")
    expect(page.locator("#loss-card")).to_have_attribute("data-points", re.compile(r"^([89]|\d{2,})$"))
    expect(page.locator("#loss-chart path.point").first).to_be_visible(timeout=LOAD_TIMEOUT)
    assert page.locator("#loss-chart path.point").count() >= 8  # the raw loss points under the EMA line
    expect(page.locator("#lr-chart path.point").first).to_be_visible()
    expect(page.locator("#job-result")).to_contain_text(f"{JOBS[0]} v1")
    expect(page.locator("#job-attempts")).to_have_text("1 · 自动重试上限 2")
    expect(page.locator('#job-events [data-kind="succeeded"]')).to_be_visible()
    expect(page.locator("#job-log")).to_contain_text("step")
    expect(page.locator("#job-cancel")).to_have_count(0)
    expect(page.locator("#job-retry")).to_have_count(0)
    _no_toasts(page)
    screenshot(page, "research-job-zh")

    smoothed = page.locator("#loss-chart g.trace.scatter").count()
    page.locator("#smoothing [role=slider]").press("Home")  # smoothing 0: the raw curve only
    expect(page.locator("#smoothing-value")).to_have_text(re.compile(r"\s0$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#loss-chart g.trace.scatter")).to_have_count(smoothed - 1, timeout=LOAD_TIMEOUT)

    page.locator("#language-switch").get_by_role("radio", name="EN").click()
    expect(status).to_contain_text("Succeeded")
    expect(page.locator("#job-result")).to_contain_text("Trained model registered")
    screenshot(page, "research-job-en")
    journey["trained"] = True


def test_two_runs_are_compared_on_one_chart(app_server, admin, page, journey):
    if not journey.get("trained"):
        pytest.fail("no job was trained: see the test before this one")
    _enter_tenant(page, app_server.url, admin)
    page.goto(app_server.url + "/training")
    rows = [page.locator(f'#job-list tr[data-name="{name}"]') for name in JOBS]
    for row in rows:  # the list follows the second run live until it ends
        expect(row).to_have_attribute("data-status", "succeeded", timeout=TRAIN_TIMEOUT)
    for row in rows:
        expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
        row.get_by_role("checkbox").click()
    page.locator("#compare-runs").click()
    chart = page.locator("#compare-chart")
    expect(chart.locator("g.trace.scatter")).to_have_count(2, timeout=LOAD_TIMEOUT)
    expect(chart.locator(".legend")).to_contain_text(f"{JOBS[0]} · loss")
    expect(chart.locator(".legend")).to_contain_text(f"{JOBS[1]} · loss")
    screenshot(page, "research-compare-zh")


def test_orchestration_shows_pools_queues_and_admin_forms(app_server, admin, page, journey):
    if not journey.get("prepared"):
        pytest.fail("the tenant was not prepared: see the first test of this module")
    _enter_tenant(page, app_server.url, admin)
    page.locator("#nav-orchestration").click()
    expect(page).to_have_url(re.compile(r"/orchestration/?$"), timeout=LOAD_TIMEOUT)
    local = page.locator('#pool-nodes tr[data-pool="local"]')
    expect(local).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(local.get_by_role("progressbar")).to_have_count(3)  # GPUs, CPU, memory
    default = page.locator('#queue-list tr[data-queue="default"]')
    expect(default).to_contain_text("local")
    expect(page.locator("#none-waiting")).to_be_visible()

    # a job asking for a GPU the local pool does not have waits, with its position and the reason
    headers = _session_headers(page)
    asked = httpx.post(
        app_server.url + "/api/jobs",
        headers=headers,
        json={
            "name": "needs-a-gpu",
            "base_model_version_id": journey["model"],
            "dataset_version_ids": [journey["dataset"]],
            "gpus": 1,
            "cpu": 1,
            "memory_gb": 1,
        },
        timeout=30,
    )
    assert asked.status_code == 201, asked.text
    waiting = page.locator('#waiting-jobs tr[data-name="needs-a-gpu"]')
    expect(page.locator("#orch-live")).to_be_visible()
    expect(waiting).to_contain_text("GPU quota", timeout=LOAD_TIMEOUT)  # the page follows the controller live
    expect(waiting.locator("td").first).to_have_text("1")
    expect(default.locator("td").nth(9)).to_have_text("1")  # the queue counts it as waiting
    _no_toasts(page)
    screenshot(page, "orchestration-waiting-zh")
    cancelled = httpx.post(f"{app_server.url}/api/jobs/{asked.json()['id']}/cancel", headers=headers, timeout=30)
    assert cancelled.status_code == 204
    page.reload()
    expect(page.locator("#none-waiting")).to_be_visible(timeout=LOAD_TIMEOUT)

    # a platform admin describes a GPU pool …
    page.locator("#pool-name").fill("a100-pool")
    row = page.locator("#pool-node-rows .node-row").first
    for field_name, value in (("name", "gpu-node-1"), ("gpus", "8"), ("gpu_type", "A100"), ("cpu", "64")):
        row.locator(f'[data-field="{field_name}"]').fill(value)
    row.locator('[data-field="memory_gb"]').fill("512")
    page.locator("#save-pool").click()
    _toast(page, "资源池已保存")
    gpu_node = page.locator('#pool-nodes tr[data-pool="a100-pool"]')
    expect(gpu_node).to_contain_text("gpu-node-1")
    expect(gpu_node).to_contain_text("0/8")
    gpu_node.get_by_role("button", name="排空").click()  # no new jobs land there; its jobs move elsewhere
    _toast(page, "该节点不再接收新作业")
    expect(gpu_node).to_have_attribute("data-draining", "true")
    expect(gpu_node).to_contain_text("排空中")
    gpu_node.get_by_role("button", name="恢复调度").click()
    expect(gpu_node).to_have_attribute("data-draining", "false", timeout=LOAD_TIMEOUT)

    # … and gives this tenant's default queue a per-user cap
    default.get_by_role("button").click()
    expect(page.locator("#queue-name")).to_have_value("default")
    page.locator("#queue-per-user-gpus").fill("2")
    page.locator("#save-queue").click()
    _toast(page, "队列已保存")
    expect(default.locator("td").nth(5)).to_have_text("2", timeout=LOAD_TIMEOUT)
    _no_toasts(page)
    screenshot(page, "orchestration-zh")

    page.locator("#language-switch").get_by_role("radio", name="EN").click()
    expect(page.get_by_role("heading", name="Resource pools")).to_be_visible()
    screenshot(page, "orchestration-en")


def test_a_pipeline_is_built_in_the_form_and_runs_live_to_success(app_server, admin, page, journey):
    if not journey.get("prepared"):
        pytest.fail("the tenant was not prepared: see the first test of this module")
    _enter_tenant(page, app_server.url, admin)
    page.goto(app_server.url + "/orchestration")
    page.get_by_role("link", name="流水线").click()
    expect(page).to_have_url(re.compile(r"/orchestration/pipelines/?$"), timeout=LOAD_TIMEOUT)
    page.locator("#standard-flow").click()
    steps = page.locator("[data-step]")
    expect(steps).to_have_count(5, timeout=LOAD_TIMEOUT)
    page.locator('[data-step="serve"]').get_by_role("button", name="删除此步骤").click()  # no service this time
    expect(steps).to_have_count(4)
    train = page.locator('[data-step="train"]')
    expect(train.locator(f'[data-chip="{journey["dataset"]}"]')).to_have_attribute("data-on", "true")
    hyper = '{"max_steps": 4, "finetuning": "full", "cutoff_len": 64, "per_device_train_batch_size": 4, ' \
        '"gradient_accumulation_steps": 1, "learning_rate": 0.003}'  # fmt: skip
    for field_name, value in (("hyperparameters", hyper), ("cpu", "1"), ("memory_gb", "1")):
        train.locator(f'[data-field="{field_name}"]').fill(value)
    evaluate = page.locator('[data-step="evaluate"]')
    evaluate.locator('[data-field="hyperparameters"]').fill('{"cutoff_len": 64}')
    evaluate.locator('[data-field="cpu"]').fill("1")
    evaluate.locator('[data-field="memory_gb"]').fill("1")
    page.locator("#pipeline-name").fill("bp-flow")
    expect(page.locator("#pipeline-graph g.trace.scatter path.point")).to_have_count(4, timeout=LOAD_TIMEOUT)
    page.locator("#save-pipeline").click()
    _toast(page, "流水线已保存")
    expect(page.locator('[data-pipeline="bp-flow"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    page.locator("#run-pipeline").click()
    _toast(page, "已开始运行")
    run = page.locator("[data-run]").first
    expect(run).to_have_attribute("data-status", "running", timeout=LOAD_TIMEOUT)
    expect(page.locator('#run-steps [data-run-step="train"]')).to_have_attribute(
        "data-status", "running", timeout=LOAD_TIMEOUT
    )
    expect(run).to_have_attribute("data-status", "succeeded", timeout=TRAIN_TIMEOUT)  # followed live
    for name in ("check", "train", "evaluate", "register"):
        expect(page.locator(f'#run-steps [data-run-step="{name}"]')).to_have_attribute("data-status", "succeeded")
    expect(page.locator('#run-steps [data-run-step="evaluate"]')).to_contain_text("perplexity")
    expect(page.locator("#rerun-pipeline")).to_be_disabled()
    _no_toasts(page)
    screenshot(page, "pipeline-run-zh")
