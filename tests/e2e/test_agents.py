"""The agent builder as people meet it in Chromium: a tenant with a deployed tiny model and a
knowledge base (made through the REST API with the browser's own session); on /agents a new
agent; on its canvas the skeleton is deleted (and the deletion undone and redone), then
Start -> Knowledge -> LLM -> Answer is built by dragging nodes from the palette and connecting
their handles with the mouse; settings are filled in the side panel, the draft is saved,
validated, test-run (progress, trace, citations) and published; the official openai client then
calls it as model "agent:<slug>" and gets an answer with citations; the web chat page answers
with citations too, and the run shows in the logs."""

import json
import re
import time

import httpx
import pytest
from openai import OpenAI
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import screenshot, sign_in_as_admin
from tests.tiny_model import build_model

pytestmark = pytest.mark.e2e

TENANT_SLUG = "xiangya-agents"
TENANT_NAME = "湘雅医院智能体组"
SERVICE = "agent-llm"
KB_NAME = "高血压指南"
AGENT_NAME = "指南问答"
AGENT_SLUG = "guideline-qa"
QUESTION = "高血压患者每天盐摄入量应控制在多少？"
GUIDELINE = (
    "高血压防治指南（节选）\n\n"
    "限盐：高血压患者每日食盐摄入量应少于5克。\n\n"
    "运动：每周进行至少150分钟中等强度有氧运动。\n\n"
    "血压目标：一般患者血压应控制在140/90 mmHg以下。\n"
)
LOAD_TIMEOUT = 30_000
READY_TIMEOUT = 180_000
RUN_TIMEOUT = 120_000


def _session_headers(page: Page) -> dict[str, str]:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "medai_session")
    return {"Authorization": f"Bearer {token}"}


def _toast(page: Page, text: str) -> None:
    expect(page.locator("[data-sonner-toast]").filter(has_text=text).first).to_be_visible(timeout=LOAD_TIMEOUT)


def _choose(page: Page, trigger: str, option: str) -> None:
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(trigger)).to_contain_text(option)


def _tenant_with_model_and_knowledge(page: Page, url: str, tmp_path) -> str:
    """A tenant (chosen in the header) with a ready model service and a knowledge base; the KB's id."""
    page.goto(url + "/admin")
    page.get_by_role("tab", name="租户").click()
    page.locator("#tenant-slug").fill(TENANT_SLUG)
    page.locator("#tenant-name").fill(TENANT_NAME)
    page.locator("#create-tenant").click()
    expect(page.locator(f'#tenant-list tr[data-slug="{TENANT_SLUG}"]')).to_be_visible(timeout=LOAD_TIMEOUT)
    _choose(page, "#tenant-switcher", TENANT_NAME)
    headers = _session_headers(page)
    folder = build_model(tmp_path / "tiny", seed=0)
    files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in sorted(folder.iterdir())]
    model = httpx.post(
        url + "/api/models", headers=headers, data={"spec": json.dumps({"model_name": "tiny-agent"})}, files=files
    )
    assert model.status_code == 201, model.text
    spec = {"name": SERVICE, "model_version_id": model.json()["id"], "cpu": 1, "memory_gb": 1, "max_model_len": 512}
    deployed = httpx.post(url + "/api/deployments", headers=headers, json=spec, timeout=30)
    assert deployed.status_code == 201, deployed.text
    kb = httpx.post(url + "/api/knowledge-bases", headers=headers, json={"name": KB_NAME, "chunk_size": 60}, timeout=30)
    assert kb.status_code == 201, kb.text
    kb_id = kb.json()["id"]
    upload = httpx.post(
        f"{url}/api/knowledge-bases/{kb_id}/documents",
        headers=headers,
        files={"file": ("hypertension.txt", GUIDELINE.encode(), "text/plain")},
        timeout=120,
    )
    assert upload.status_code == 201, upload.text
    deadline = time.monotonic() + READY_TIMEOUT / 1000
    while time.monotonic() < deadline:
        service = httpx.get(f"{url}/api/deployments/{deployed.json()['id']}", headers=headers, timeout=10).json()
        docs = httpx.get(f"{url}/api/knowledge-bases/{kb_id}/documents", headers=headers, timeout=10).json()
        if service["deployment"]["status"] == "ready" and all(d["status"] == "ready" for d in docs):
            return kb_id
        time.sleep(2)
    pytest.fail(f"service or document not ready: {service['deployment']} {docs}")


def _node(page: Page, node_id: str) -> Locator:
    return page.locator(f".react-flow__node[data-id='{node_id}']")


def _drag_from_palette(page: Page, node_type: str, x: float, y: float) -> None:
    """Drag a palette entry onto the canvas with the mouse (HTML5 drag and drop)."""
    flow = page.locator("[data-testid='agent-flow']")
    page.locator(f"[data-testid='palette-{node_type}']").drag_to(flow, target_position={"x": x, "y": y})


def _connect(page: Page, source: str, target: str) -> None:
    """Press on the source node's output handle and release on the target's input handle."""
    out = _node(page, source).locator(".react-flow__handle.source").first.bounding_box()
    into = _node(page, target).locator(".react-flow__handle.target").first.bounding_box()
    assert out and into
    page.mouse.move(out["x"] + out["width"] / 2, out["y"] + out["height"] / 2)
    page.mouse.down()
    page.mouse.move((out["x"] + into["x"]) / 2, (out["y"] + into["y"]) / 2 + 20, steps=8)
    page.mouse.move(into["x"] + into["width"] / 2, into["y"] + into["height"] / 2, steps=8)
    page.mouse.up()


def _canvas_counts(page: Page, nodes: int, edges: int) -> None:
    canvas = page.locator("[data-testid='agent-canvas']")
    expect(canvas).to_have_attribute("data-nodes", str(nodes), timeout=LOAD_TIMEOUT)
    expect(canvas).to_have_attribute("data-edges", str(edges), timeout=LOAD_TIMEOUT)


def _build_on_canvas(page: Page, kb_name: str) -> None:
    canvas = page.locator("[data-testid='agent-canvas']")
    expect(canvas).to_be_visible(timeout=LOAD_TIMEOUT)
    _canvas_counts(page, 3, 2)  # a new agent starts as Start -> LLM -> Answer
    # delete the skeleton with the keyboard; undo brings it back, redo removes it again
    _node(page, "start").click()
    for node_id in ("llm", "answer"):
        _node(page, node_id).click(modifiers=["Control"])
    page.keyboard.press("Delete")
    _canvas_counts(page, 0, 0)
    page.locator("#canvas-undo").click()
    _canvas_counts(page, 3, 2)
    page.locator("#canvas-redo").click()
    _canvas_counts(page, 0, 0)

    box = page.locator("[data-testid='agent-flow']").bounding_box()
    assert box
    # a staircase from the top left, clear of the toolbar (top right) and the mini map (bottom right)
    for i, node_type in enumerate(("start", "knowledge", "llm", "answer")):
        _drag_from_palette(page, node_type, box["width"] * (0.2 + 0.12 * i), box["height"] * (0.15 + 0.2 * i))
    for node_id in ("start", "knowledge_1", "llm_1", "answer_1"):
        expect(_node(page, node_id)).to_be_visible()
    for edges, (source, target) in enumerate(
        (("start", "knowledge_1"), ("knowledge_1", "llm_1"), ("llm_1", "answer_1"))
    ):
        _connect(page, source, target)
        _canvas_counts(page, 4, edges + 1)
    page.locator("#canvas-layout").click()  # auto-layout: left to right, in view
    page.wait_for_function(
        """() => {
            const x = (id) => document.querySelector(`.react-flow__node[data-id='${id}']`).getBoundingClientRect().x;
            return x("start") < x("knowledge_1") && x("knowledge_1") < x("llm_1") && x("llm_1") < x("answer_1");
        }""",
        timeout=LOAD_TIMEOUT,
    )
    screenshot(page, "agents-canvas-built")
    # copy and paste a node with the keyboard, then undo the paste
    _node(page, "llm_1").click()
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(_node(page, "llm_2")).to_be_visible(timeout=LOAD_TIMEOUT)
    _canvas_counts(page, 5, 3)
    page.keyboard.press("Control+z")
    _canvas_counts(page, 4, 3)

    # settings in the side panel; unset required settings are marked on the nodes first
    page.locator("#agent-validate").click()
    expect(page.locator("[data-testid='agent-node-problems-knowledge_1']")).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator("[data-testid='agent-node-problems-llm_1']")).to_be_visible()
    _node(page, "knowledge_1").click()
    expect(page.locator("#selected-node")).to_have_text("knowledge_1", timeout=LOAD_TIMEOUT)
    page.locator("#setting-knowledge_bases").get_by_text(kb_name).click()
    page.locator("#setting-top_k").fill("2")
    _node(page, "llm_1").click()
    expect(page.locator("#selected-node")).to_have_text("llm_1", timeout=LOAD_TIMEOUT)
    _choose(page, "#setting-model", SERVICE)
    page.locator("#setting-prompt").fill("资料：{{knowledge_1.output}}\n问题：{{start.question}}")
    page.locator("#setting-max_tokens").fill("16")
    page.locator("#setting-temperature").fill("0")
    page.locator("#agent-validate").click()
    _toast(page, "该流程可以运行")
    expect(page.locator("[data-testid='agent-canvas'] [data-problems='0']")).to_have_count(4)


def test_an_agent_is_built_by_dragging_published_and_called_with_openai(app_server, admin, page, tmp_path):
    sign_in_as_admin(page, app_server.url, admin)
    _tenant_with_model_and_knowledge(page, app_server.url, tmp_path)

    page.locator("#nav-agents").click()
    expect(page).to_have_url(re.compile(r"/agents/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#agents-none")).to_be_visible(timeout=LOAD_TIMEOUT)
    page.locator("#agent-new-name").fill(AGENT_NAME)
    page.locator("#agent-new-slug").fill(AGENT_SLUG)
    page.locator("#agent-create").click()
    expect(page).to_have_url(re.compile(r"/agents/\w+/?$"), timeout=LOAD_TIMEOUT)
    agent_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    expect(page.locator("#agent-slug")).to_have_text(f"agent:{AGENT_SLUG}", timeout=LOAD_TIMEOUT)

    _build_on_canvas(page, KB_NAME)
    page.locator("#agent-save").click()
    _toast(page, "草稿已保存")
    expect(page.locator("#agent-dirty")).to_have_count(0)

    # a test run of the draft: each node's progress, the trace and the citations
    page.locator("#run-message").fill(QUESTION)
    page.locator("#run-start").click()
    for node_id in ("start", "knowledge_1", "llm_1", "answer_1"):
        expect(page.locator(f"#run-progress [data-progress='{node_id}']")).to_have_attribute(
            "data-status", "succeeded", timeout=RUN_TIMEOUT
        )
    expect(page.locator("#run-trace tr[data-trace]")).to_have_count(4, timeout=LOAD_TIMEOUT)
    expect(page.locator("#run-citations")).to_contain_text("hypertension.txt")
    expect(page.locator("#run-trace tr[data-trace='knowledge_1']")).to_contain_text("5克")
    screenshot(page, "agents-test-run")

    # a citation opens its document in a new tab, at the cited passage
    citation = page.locator("#run-citations .citation-link").first
    cited_document = citation.inner_text().strip()
    with page.context.expect_page() as opened:
        citation.click()
    document = opened.value
    expect(document.locator("#doc-title")).to_have_text(cited_document, timeout=LOAD_TIMEOUT)
    expect(document.locator("#cited-passage")).to_be_visible(timeout=LOAD_TIMEOUT)
    assert document.locator("#cited-passage").inner_text().strip()
    assert document.locator("#cited-passage").inner_text().strip() in document.locator("#doc-text").inner_text()
    screenshot(document, "knowledge-document-passage")
    document.close()

    page.locator("#agent-publish-note").fill("first")
    page.locator("#agent-publish").click()
    _toast(page, "已发布")
    expect(page.locator("#agent-live")).to_contain_text("v1", timeout=LOAD_TIMEOUT)
    page.locator("#tab-versions").click()
    expect(page.locator("#agent-versions tr[data-version='1']")).to_contain_text("first")

    # any OpenAI client calls the published agent as model agent:<slug>
    token = _session_headers(page)["Authorization"].removeprefix("Bearer ")
    client = OpenAI(base_url=app_server.url + "/v1", api_key=token, timeout=120)
    completion = client.chat.completions.create(
        model=f"agent:{AGENT_SLUG}", messages=[{"role": "user", "content": QUESTION}]
    )
    assert completion.choices[0].message.content
    body = completion.model_dump()
    citations = body.get("citations") or (body["choices"][0]["message"] or {}).get("citations")
    assert citations, body
    assert any(c.get("document_name") == "hypertension.txt" for c in citations), citations

    # the embeddable web chat answers with citations
    page.goto(f"{app_server.url}/agents/{agent_id}/chat")
    expect(page.locator("#chat-agent")).to_have_text(AGENT_NAME, timeout=LOAD_TIMEOUT)
    page.locator("#chat-input").fill(QUESTION)
    page.locator("#chat-send").click()
    expect(page.locator(".chat-user")).to_contain_text(QUESTION, timeout=LOAD_TIMEOUT)
    expect(page.locator(".chat-citation").first).to_contain_text("hypertension.txt", timeout=RUN_TIMEOUT)
    screenshot(page, "agents-web-chat")

    # the runs are in the logs, with thumbs up
    page.goto(f"{app_server.url}/agents/{agent_id}")
    page.locator("#tab-logs").click()
    page.locator("#logs-refresh").click()
    rows = page.locator("#agent-runs tr[data-run]")
    expect(rows).to_have_count(3, timeout=LOAD_TIMEOUT)  # test run, openai, web chat
    rows.first.locator("[data-rate='1']").click()
    _toast(page, "反馈已保存")


def test_tools_are_tested_hosts_guard_them_and_the_market_installs_a_copy(app_server, admin, page):
    """Runs after the test above (its tenant and published agent)."""
    sign_in_as_admin(page, app_server.url, admin)
    page.goto(app_server.url + "/agents")
    _choose(page, "#tenant-switcher", TENANT_NAME)
    expect(page.locator(f"#agents-table tr[data-agent='{AGENT_SLUG}']")).to_be_visible(timeout=LOAD_TIMEOUT)

    # built-in tools answer the test button
    page.locator("#tab-tools").click()
    page.locator("#agent-tools [data-tool='icd10_lookup']").click()
    page.locator("#tool-test-args").fill('{"query": "E11"}')
    page.locator("#tool-test-run").click()
    expect(page.locator("#tool-test-result")).to_contain_text("E11", timeout=LOAD_TIMEOUT)

    # an HTTP tool reaches only hosts the tenant registered
    host = app_server.url.removeprefix("http://")
    page.locator("#tool-name").fill("platform_health")
    page.locator("#tool-url").fill(app_server.url + "/api/health")
    page.locator("#tool-create").click()
    _toast(page, "工具已保存")
    page.locator("#agent-tools [data-tool='platform_health']").click()
    page.locator("#tool-test-args").fill("{}")
    page.locator("#tool-test-run").click()
    expect(page.locator("#tool-test-result")).to_contain_text(host.split(":")[0], timeout=LOAD_TIMEOUT)
    page.locator("#host-new").fill(host)
    page.locator("#host-add").click()
    expect(page.locator("#allowed-hosts")).to_contain_text(host, timeout=LOAD_TIMEOUT)
    page.locator("#tool-test-run").click()
    expect(page.locator("#tool-test-result")).to_contain_text("components", timeout=LOAD_TIMEOUT)
    screenshot(page, "agents-tools")

    # the published agent offered in the market, and installed as a copy
    page.locator("#tab-agents").click()
    page.locator(f"#agents-table tr[data-agent='{AGENT_SLUG}']").get_by_role("button", name="上架到市场").click()
    _toast(page, "已上架到应用市场")
    page.locator("#tab-market").click()
    page.locator("#install-as").fill("guideline-copy")
    page.locator(f"#agents-market tr[data-listing='{AGENT_NAME}']").get_by_role("button", name="安装").click()
    expect(page).to_have_url(re.compile(r"/agents/\w+/?$"), timeout=LOAD_TIMEOUT)
    expect(page.locator("#agent-slug")).to_have_text("agent:guideline-copy", timeout=LOAD_TIMEOUT)
    _canvas_counts(page, 4, 3)

    # the listing withdrawn: gone from the market, the installed copy stays
    page.goto(app_server.url + "/agents")
    page.locator("#tab-market").click()
    page.locator(f"#agents-market tr[data-listing='{AGENT_NAME}']").get_by_role("button", name="下架").click()
    _toast(page, "已从应用市场下架")
    expect(page.locator(f"#agents-market tr[data-listing='{AGENT_NAME}']")).to_have_count(0, timeout=LOAD_TIMEOUT)
    page.locator("#tab-agents").click()
    expect(page.locator("#agents-table tr[data-agent='guideline-copy']")).to_be_visible(timeout=LOAD_TIMEOUT)


def test_a_simple_chat_agent_and_a_starter_template(app_server, admin, page):
    """A chat agent needs no graph: prompt, model and knowledge in a form, test-run and published;
    a starter template opens as a ready graph. Runs after the first test (its tenant)."""
    sign_in_as_admin(page, app_server.url, admin)
    page.goto(app_server.url + "/agents")
    _choose(page, "#tenant-switcher", TENANT_NAME)
    page.locator("#agent-new-name").fill("随访助手")
    page.locator("#agent-new-slug").fill("followup-chat")
    page.locator("#agent-new-mode").get_by_role("radio", name="简单对话智能体").click()
    page.locator("#agent-create").click()
    expect(page.locator("#agent-chat-form")).to_be_visible(timeout=LOAD_TIMEOUT)
    _choose(page, "#setting-model", SERVICE)
    page.locator("#setting-knowledge_bases").get_by_text(KB_NAME).click()
    page.locator("#setting-max_tokens").fill("16")
    page.locator("#agent-save").click()
    _toast(page, "草稿已保存")
    page.locator("#run-message").fill(QUESTION)
    page.locator("#run-start").click()
    for node_id in ("start", "knowledge", "llm", "answer"):
        expect(page.locator(f"#run-progress [data-progress='{node_id}']")).to_have_attribute(
            "data-status", "succeeded", timeout=RUN_TIMEOUT
        )
    expect(page.locator("#run-citations")).to_contain_text("hypertension.txt")
    page.locator("#agent-publish").click()
    expect(page.locator("#agent-live")).to_contain_text("v1", timeout=LOAD_TIMEOUT)
    screenshot(page, "agents-chat-agent")

    page.goto(app_server.url + "/agents")
    page.locator("#agent-new-name").fill("分诊助手")
    page.locator("#agent-new-slug").fill("triage")
    _choose(page, "#agent-new-template", "分诊助手")
    page.locator("#agent-create").click()
    expect(page.locator("#agent-slug")).to_have_text("agent:triage", timeout=LOAD_TIMEOUT)
    expect(page.locator("[data-testid='agent-canvas']")).to_have_attribute("data-nodes", "8", timeout=LOAD_TIMEOUT)
