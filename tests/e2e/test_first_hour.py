"""The first hour of a new tenant, in Chromium, from an empty data folder with nothing uploaded:

a. the platform admin creates a tenant and its admin; that admin signs in, opens the Playground and
   gets a streamed answer from the platform's starter model;
b. the sample knowledge base (zh and en documents) in one click, a recall test, an agent from the
   "medical knowledge Q&A with citations" template, validated, published, answering with citations
   in its web chat and to the official openai client as ``agent:<slug>``;
c. the sample SFT dataset in one click, a LoRA job on the starter model (3 steps, 128 tokens) whose
   loss curve moves live, the trained version registered, deployed and answering in the Playground;
d. the sample preference pairs and a DPO job on the starter model that registers its model.

The starter model's conversion comes from the model cache (the integration tests fill it), so the
app only registers and serves it. Answers are capped at 16 new tokens."""

import re
import time

import pytest
from openai import OpenAI
from playwright.sync_api import Page, expect

from tests.e2e.conftest import change_password, screenshot, sign_in, sign_in_as_admin

pytestmark = pytest.mark.e2e

TENANT_SLUG = "first-hour"
TENANT_NAME = "第一小时医院"
OWNER_EMAIL = "owner@first-hour.cn"
OWNER_PASSWORD = "first hour owner password"
LOAD_TIMEOUT = 30_000
STARTER_TIMEOUT = 300_000  # the starter's replica loads 135 M parameters on a busy CPU
TRAIN_TIMEOUT = 420_000
RUN_TIMEOUT = 180_000
QUESTION_EN = "What is the first-line drug for anaphylaxis?"


@pytest.fixture(scope="module")
def journey() -> dict[str, object]:
    return {}


def _toast(page: Page, text: str) -> None:
    expect(page.locator("[data-sonner-toast]").filter(has_text=text).first).to_be_visible(timeout=LOAD_TIMEOUT)


def _choose(page: Page, trigger: str, option: str, exact: bool = True) -> None:
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=exact).first.click()
    expect(page.locator(trigger)).to_contain_text(option)


def _as_owner(page: Page, url: str, journey: dict[str, object]) -> None:
    if not journey.get("owner"):
        pytest.fail("the tenant and its admin were not made: see the first test of this module")
    sign_in(page, url, OWNER_EMAIL, OWNER_PASSWORD)
    expect(page.locator("#health-overall")).to_be_visible(timeout=LOAD_TIMEOUT)


def _ask_in_playground(page: Page, service: str, question: str) -> str:
    page.locator("#nav-playground").click()
    expect(page).to_have_url(re.compile(r"/playground/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#playground-service")).to_be_visible(timeout=STARTER_TIMEOUT)  # once a replica is ready
    _choose(page, "#playground-service", service)
    page.locator("#playground-max-tokens").fill("16")
    page.locator("#playground-input").fill(question)
    page.locator("#playground-send").click()
    answer = page.locator("#chat-messages .chat-assistant").last
    expect(answer).to_have_text(re.compile(r"\S"), timeout=RUN_TIMEOUT)
    expect(page.locator("#stat-completion-tokens")).to_have_text(re.compile(r"^([1-9]|1[0-6])\b"), timeout=RUN_TIMEOUT)
    return answer.inner_text()


def test_a_new_tenant_admin_chats_with_the_starter_model(app_server, admin, page, journey):
    sign_in_as_admin(page, app_server.url, admin)
    page.goto(app_server.url + "/admin")
    page.get_by_role("tab", name="租户").click()
    page.locator("#tenant-slug").fill(TENANT_SLUG)
    page.locator("#tenant-name").fill(TENANT_NAME)
    page.locator("#create-tenant").click()
    expect(page.locator(f'#tenant-list tr[data-slug="{TENANT_SLUG}"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("#tenant-list")).not_to_contain_text("medai-platform")  # the platform's own is hidden
    _choose(page, "#tenant-switcher", TENANT_NAME)
    page.get_by_role("tab", name="成员").click()
    page.locator("#invite-email").fill(OWNER_EMAIL)
    page.locator("#invite-name").fill("王主任")
    _choose(page, "#invite-role", "租户管理员")
    page.locator("#invite-submit").click()
    temporary = page.locator("#temporary-password")
    expect(temporary).to_be_visible(timeout=LOAD_TIMEOUT)
    first_password = temporary.inner_text().strip()

    page.context.clear_cookies()
    sign_in(page, app_server.url, OWNER_EMAIL, first_password)
    expect(page.locator("#must-change-password")).to_be_visible(timeout=LOAD_TIMEOUT)
    change_password(page, first_password, OWNER_PASSWORD)
    expect(page.locator("#health-overall")).to_be_visible(timeout=LOAD_TIMEOUT)
    journey["owner"] = True
    started = time.monotonic()

    answer = _ask_in_playground(page, "starter", "What does the heart do? Answer in one sentence.")
    assert answer.strip()
    print(f"first answer from the starter model {time.monotonic() - started:.0f} s after the first page")
    screenshot(page, "first-hour-playground")


def test_the_sample_knowledge_base_becomes_a_published_agent_with_citations(app_server, page, journey):
    _as_owner(page, app_server.url, journey)
    page.locator("#nav-knowledge").click()
    expect(page.locator("#kb-none")).to_be_visible(timeout=LOAD_TIMEOUT)
    page.locator("#cta-sample-kb").click()
    _toast(page, "sample-medical-knowledge")
    page.goto(app_server.url + "/knowledge")
    page.locator("#kb-list").get_by_role("link", name="sample-medical-knowledge").click()
    expect(page.locator("#kb-title")).to_have_text("sample-medical-knowledge", timeout=LOAD_TIMEOUT)
    documents = page.locator("#kb-documents tr[data-name]")
    expect(documents).to_have_count(20, timeout=LOAD_TIMEOUT)
    expect(page.locator('#kb-documents tr[data-status="ready"]')).to_have_count(20, timeout=RUN_TIMEOUT)

    page.locator("#kb-query").fill("过敏性休克首选什么药？")  # a Chinese question: zh and en documents answer
    page.locator("#kb-run-test").click()
    first = page.locator("#kb-results .result").first
    expect(first).to_contain_text(re.compile("肾上腺素|epinephrine|adrenaline", re.I), timeout=LOAD_TIMEOUT)
    screenshot(page, "first-hour-recall")

    page.locator("#nav-agents").click()
    expect(page.locator("#agents-none")).to_be_visible(timeout=LOAD_TIMEOUT)
    page.locator("#cta-sample-agent").click()
    expect(page).to_have_url(re.compile(r"/agents/\w+/?$"), timeout=LOAD_TIMEOUT)
    agent_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    slug = "sample-medical-qa"  # the sample agent's
    expect(page.locator("#agent-slug")).to_have_text(f"agent:{slug}", timeout=LOAD_TIMEOUT)
    canvas = page.locator("[data-testid='agent-canvas']")
    expect(canvas).to_have_attribute("data-nodes", "4", timeout=LOAD_TIMEOUT)
    page.locator(".react-flow__node[data-id='llm_1']").click()
    expect(page.locator("#selected-node")).to_have_text("llm_1", timeout=LOAD_TIMEOUT)
    expect(page.locator("#setting-model")).to_contain_text("starter")
    page.locator("#setting-max_tokens").fill("16")
    page.locator("#agent-save").click()
    _toast(page, "草稿已保存")
    page.locator("#agent-validate").click()
    _toast(page, "该流程可以运行")
    page.locator("#agent-publish").click()
    expect(page.locator("#agent-live")).to_contain_text("v1", timeout=LOAD_TIMEOUT)

    page.goto(f"{app_server.url}/agents/{agent_id}/chat")
    page.locator("#chat-input").fill(QUESTION_EN)
    page.locator("#chat-send").click()
    expect(page.locator(".chat-citation").first).to_be_visible(timeout=RUN_TIMEOUT)
    screenshot(page, "first-hour-agent-chat")

    token = next(c["value"] for c in page.context.cookies() if c["name"] == "medai_session")
    client = OpenAI(base_url=app_server.url + "/v1", api_key=token, timeout=RUN_TIMEOUT / 1000, max_retries=0)
    completion = client.chat.completions.create(
        model=f"agent:{slug}", messages=[{"role": "user", "content": QUESTION_EN}], max_tokens=16
    )
    body = completion.model_dump()
    citations = body.get("citations") or (body["choices"][0]["message"] or {}).get("citations")
    assert completion.choices[0].message.content and citations, body


def _train(page: Page, name: str, job_type: str, dataset: str) -> None:
    """A job on the starter model: 3 steps of LoRA at 128 tokens, followed live to success."""
    page.locator("#nav-training").click()
    expect(page).to_have_url(re.compile(r"/training/?$"), timeout=LOAD_TIMEOUT)
    _choose(page, "#job-type", job_type)
    _choose(page, "#job-base-model", "smollm2-135m-instruct v1", exact=False)
    page.locator("#job-name").fill(name)
    for field_id, value in (
        ("#hp-max-steps", "3"),
        ("#hp-cutoff-len", "128"),
        ("#hp-per-device-train-batch-size", "2"),
        ("#hp-gradient-accumulation-steps", "1"),
        ("#hp-logging-steps", "1"),
        ("#res-cpu", "2"),
        ("#res-memory-gb", "4"),
    ):
        page.locator(field_id).fill(value)
        expect(page.locator(field_id)).to_have_value(value)
    _choose(page, "#hp-finetuning", "LoRA 低秩适配")
    choice = page.locator(f'#train-datasets [data-dataset="{dataset} v1"]').get_by_role("checkbox")
    if choice.get_attribute("aria-checked") != "true":
        choice.click()
    page.locator("#job-submit").click()
    _toast(page, "任务已提交")
    page.locator(f'#job-list tr[data-name="{name}"]').get_by_role("link", name=name).click()
    status = page.locator("#job-status")
    expect(status).to_have_attribute("data-status", "running", timeout=TRAIN_TIMEOUT)
    expect(page.locator("#loss-chart path.point").first).to_be_visible(timeout=TRAIN_TIMEOUT)  # the curve, live
    expect(status).to_have_attribute("data-status", "succeeded", timeout=TRAIN_TIMEOUT)
    expect(page.locator("#job-progress-text")).to_contain_text("3/3")
    expect(page.locator("#job-result")).to_contain_text(f"{name} v1")


def test_sft_on_the_starter_with_the_sample_dataset_is_deployed_and_answers(app_server, page, journey):
    _as_owner(page, app_server.url, journey)
    page.locator("#nav-training").click()
    page.locator("#cta-sample-sft").click()
    _toast(page, "sample-medical-sft")
    _train(page, "first-sft", "SFT 监督微调", "sample-medical-sft")
    screenshot(page, "first-hour-sft")

    page.locator("#nav-serving").click()
    expect(page.locator("#platform-services")).to_contain_text("starter", timeout=LOAD_TIMEOUT)
    _choose(page, "#deploy-model", "first-sft")
    _choose(page, "#deploy-version", "first-sft v1", exact=False)
    for field_id, value in (("#deploy-name", "first-sft-chat"), ("#deploy-cpu", "1"), ("#deploy-memory-gb", "2")):
        page.locator(field_id).fill(value)
    page.locator("#deploy-submit").click()
    _toast(page, "服务已创建")
    row = page.locator('#service-list tr[data-name="first-sft-chat"]')
    expect(row).to_have_attribute("data-status", "ready", timeout=STARTER_TIMEOUT)
    assert _ask_in_playground(page, "first-sft-chat", "How should a patient with hypertension eat?").strip()


def test_dpo_on_the_sample_preference_pairs_registers_its_model(app_server, page, journey):
    _as_owner(page, app_server.url, journey)
    page.locator("#nav-training").click()
    page.locator("#cta-sample-preference").click()
    _toast(page, "sample-medical-preference")
    _train(page, "first-dpo", "DPO 偏好优化", "sample-medical-preference")
    screenshot(page, "first-hour-dpo")
