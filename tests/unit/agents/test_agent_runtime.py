"""Running agent graphs: every node type, streaming, traces, failures named by node, code limits,
tool hosts and timeouts. Model calls go through the gateway's routing to a real local HTTP server
speaking OpenAI's chat API (tests/unit/agent_world.py), registered as a ready replica."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlmodel import select

from backend.errors import ErrorCode, MedAIError
from backend.models import AgentRun, AgentTool, UsageRecord
from backend.services.agents import definitions as agents
from backend.services.agents import runs as agent_runs
from backend.services.agents import tools as agent_tools
from backend.services.agents.code import CodeLimits
from backend.services.agents.runs import RunRequest
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from tests.unit.agent_world import START, add_model_service, chain, edge, node, start_fake_openai, start_tool_server
from tests.unit.identity_world import add_tenant, add_user, sign

ANSWER = node("answer_1", "answer", answer="{{llm_1.output}}")


@pytest.fixture(scope="module")
def fake_llm():
    server = start_fake_openai()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tool_server():
    server = start_tool_server()
    yield server
    server.stop()


@pytest.fixture
def lab(runtime, fake_llm):
    """A tenant with a developer, a model service 'chat' answered by the fake model, and run deps."""
    tenant = add_tenant(runtime, "ruijin")
    _, dev = sign(runtime, add_user(runtime, "dev@ruijin.cn", [(tenant, "developer")]))
    _, admin = sign(runtime, add_user(runtime, "admin@ruijin.cn", [(tenant, "tenant_admin")]))
    add_model_service(runtime, dev, "chat", fake_llm.url)
    fake_llm.requests.clear()
    deps = dataclasses.replace(agent_runs.deps_from(runtime), code_limits=CodeLimits(1.0, 256))  # fast loop test
    return runtime, dev, admin, deps


def make_agent(rt, principal, graph, slug=""):
    with rt.session() as session:
        slug = slug or f"flow-{uuid.uuid4().hex[:8]}"
        return agents.create_agent(session, principal, agents.AgentSpec("Flow", slug, graph=graph)).id


def run_draft(lab, graph, query="", **inputs):
    rt, dev, _admin, deps = lab
    agent_id = make_agent(rt, dev, graph)
    stream = agent_runs.start_run(deps, dev, agent_id, RunRequest(query=query, inputs=inputs, draft=True))
    events = list(stream.events)
    return events, events[-1]


def finished(node_events, kind="node_finished"):
    return {e.node_id: e.data for e in node_events if e.type == kind}


def test_an_llm_node_streams_tokens_from_the_deployed_model_and_is_traced_and_metered(lab, fake_llm):
    llm = node("llm_1", "llm", model="chat", system_prompt="Patient question below.", prompt="Q: {{start.question}}")
    events, last = run_draft(lab, chain(START, llm, ANSWER), query="is 140/90 high")
    assert last.type == "run_finished" and last.data["answer"] == "Echo: Q: is 140/90 high"
    tokens = [e.data["text"] for e in events if e.type == "token"]
    assert len(tokens) > 3 and "".join(tokens) == "Echo: Q: is 140/90 high"  # streamed word by word
    sent = fake_llm.requests[-1]
    assert sent["model"] == "chat" and sent["stream"] is True
    assert sent["messages"][0] == {"role": "system", "content": "Patient question below."}
    trace = {t["node_id"]: t for t in last.data["trace"]}
    assert [t["node_id"] for t in last.data["trace"]] == ["start", "llm_1", "answer_1"]
    assert trace["llm_1"]["completion_tokens"] == 5 and trace["llm_1"]["latency_ms"] > 0
    assert trace["llm_1"]["input"]["messages"][1]["content"] == "Q: is 140/90 high"
    rt = lab[0]
    with rt.session() as session:
        usage = session.exec(select(UsageRecord).where(UsageRecord.endpoint == "agent/chat")).all()
        run = session.get(AgentRun, last.data["run_id"])
    assert [u.model for u in usage] == ["chat"] and usage[0].completion_tokens == 5
    assert run.status == "succeeded" and run.trace == last.data["trace"] and run.query == "is 140/90 high"


def test_a_model_service_without_ready_replicas_fails_the_llm_node_by_name(lab):
    graph = chain(START, node("llm_1", "llm", model="missing", prompt="{{start.question}}"), ANSWER)
    _events, last = run_draft(lab, graph, query="hi")
    assert last.type == "run_failed" and last.data["failed_node"] == "llm_1"
    assert last.data["error"].startswith("Node 'llm_1' failed:")


def test_condition_routes_to_one_branch_and_the_other_is_skipped(lab):
    graph = {
        "nodes": [
            START,
            node("condition_1", "condition", variable="{{start.question}}", operator="contains", value="pain"),
            node("template_1", "template", template="Pain: {{ start.question | upper }}"),
            node("template_2", "template", template="No pain"),
            node("answer_1", "answer", answer="{{template_1.output}}{{template_2.output}}"),
        ],
        "edges": [
            edge("start", "condition_1"),
            edge("condition_1", "template_1", "true"),
            edge("condition_1", "template_2", "false"),
            edge("template_1", "answer_1"),
            edge("template_2", "answer_1"),
        ],
    }
    events, last = run_draft(lab, graph, query="chest pain")
    assert last.data["answer"] == "Pain: CHEST PAIN"
    assert "template_2" in finished(events, "node_skipped")
    _events, last = run_draft(lab, graph, query="a rash")
    assert last.data["answer"] == "No pain"


def test_numbers_compare_as_numbers_in_a_condition(lab):
    graph = {
        "nodes": [
            node("start", "start", variables=[{"name": "age", "required": True}]),
            node("condition_1", "condition", variable="{{start.age}}", operator="greater_than", value="65"),
            node("answer_1", "answer", answer="senior"),
            node("answer_2", "answer", answer="adult"),
        ],
        "edges": [
            edge("start", "condition_1"),
            edge("condition_1", "answer_1", "true"),
            edge("condition_1", "answer_2", "false"),
        ],
    }
    assert run_draft(lab, graph, age=70)[1].data["answer"] == "senior"
    assert run_draft(lab, graph, age="9")[1].data["answer"] == "adult"  # "9" > "65" as text, not as numbers


def test_the_classifier_picks_a_class_whose_handle_leads_on(lab, fake_llm):
    graph = {
        "nodes": [
            START,
            node(
                "classifier_1",
                "classifier",
                model="chat",
                input="{{start.question}}",
                classes=["emergency", "urgent", "routine"],
            ),
            node("answer_1", "answer", answer="Go to the emergency department now."),
            node("answer_2", "answer", answer="See a doctor today."),
            node("answer_3", "answer", answer="Book a routine visit."),
        ],
        "edges": [
            edge("start", "classifier_1"),
            edge("classifier_1", "answer_1", "emergency"),
            edge("classifier_1", "answer_2", "urgent"),
            edge("classifier_1", "answer_3", "routine"),
        ],
    }
    events, last = run_draft(lab, graph, query="crushing chest pain")
    assert last.data["answer"] == "Go to the emergency department now."
    assert finished(events)["classifier_1"]["output"]["class"] == "emergency"
    assert "emergency; urgent; routine" in fake_llm.requests[-1]["messages"][0]["content"]
    assert run_draft(lab, graph, query="fever since yesterday")[1].data["answer"] == "See a doctor today."


def test_a_code_node_runs_restricted_python_on_referenced_inputs(lab):
    code = "def main(inputs):\n    words = inputs['text'].split()\n    return {'count': len(words), 'first': words[0]}"
    graph = chain(
        START,
        node("code_1", "code", code=code, inputs={"text": "{{start.question}}"}),
        node("answer_1", "answer", answer="{{code_1.output.count}} words, first {{code_1.output.first}}"),
    )
    assert run_draft(lab, graph, query="blood pressure 150 over 95")[1].data["answer"] == "5 words, first blood"


def test_a_code_node_that_loops_forever_is_stopped_and_the_run_names_it(lab):
    graph = chain(
        START,
        node("code_1", "code", code="def main(inputs):\n    while True:\n        pass\n", inputs={}),
        node("template_1", "template", template="never"),
        node("answer_1", "answer", answer="{{template_1.output}}"),
    )
    events, last = run_draft(lab, graph, query="x")
    assert last.type == "run_failed" and last.data["failed_node"] == "code_1"
    assert "stopped" in last.data["error"] and "code_1" in last.data["error"]
    assert "template_1" not in finished(events, "node_started")  # nothing after the failure ran
    assert [t["status"] for t in last.data["trace"]] == ["succeeded", "failed"]
    with pytest.raises(MedAIError) as caught:
        agent_runs.result_of(last)
    assert caught.value.code is ErrorCode.TASK_FAILED and "code_1" in caught.value.message


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("import os\ndef main(inputs):\n    return os.getcwd()", "ImportError"),
        ("def main(inputs):\n    return open('/etc/passwd').read()", "open"),
        ("def main(inputs):\n    return inputs.__class__.__subclasses__()", "_"),
        ("def main(inputs):\n    return 'x' * (10 ** 10)", "MemoryError"),
    ],
)
def test_code_cannot_import_open_files_reach_dunders_or_exhaust_memory(lab, code, says):
    graph = chain(START, node("code_1", "code", code=code, inputs={}), node("answer_1", "answer", answer="x"))
    last = run_draft(lab, graph, query="x")[1]
    assert last.type == "run_failed" and last.data["failed_node"] == "code_1" and says in last.data["error"]


def test_builtin_tools_look_up_icd10_and_convert_units(lab):
    graph = {
        "nodes": [
            START,
            node("tool_1", "tool", tool="builtin:icd10_lookup", arguments={"query": "{{start.question}}"}),
            node(
                "tool_2",
                "tool",
                tool="builtin:unit_convert",
                arguments={"value": 7.0, "from_unit": "mmol/L", "to_unit": "mg/dL", "analyte": "glucose"},
            ),
            node(
                "template_1",
                "template",
                template="{% for m in tool_1.output.matches %}{{ m.code }} {{ m.name_zh }};{% endfor %}"
                " {{ tool_2.output.value }} {{ tool_2.output.unit }}",
            ),
            node("answer_1", "answer", answer="{{template_1.output}}"),
        ],
        "edges": [
            edge("start", "tool_1"),
            edge("start", "tool_2"),
            edge("tool_1", "template_1"),
            edge("tool_2", "template_1"),  # a join: waits for both tools
            edge("template_1", "answer_1"),
        ],
    }
    assert run_draft(lab, graph, query="糖尿病")[1].data["answer"] == "E10 1型糖尿病;E11 2型糖尿病; 126.112 mg/dL"


def _http_tool(rt, principal, url, **extra):
    with rt.session() as session:
        spec = agent_tools.ToolSpec(
            name="drug_info", url=url, headers={"Accept": "application/json"}, auth_header="X-Api-Key", **extra
        )
        return agent_tools.create_tool(session, rt.keys, principal, spec).id


def test_an_http_tool_reaches_only_registered_hosts_with_its_sealed_secret(lab, tool_server):
    rt, dev, admin, _deps = lab
    tool_id = _http_tool(rt, dev, tool_server.url + "/drugs/{name}", auth_secret="s3cret-key")
    graph = chain(
        START,
        node("tool_1", "tool", tool=tool_id, arguments={"name": "{{start.question}}", "dose": 5}),
        node("answer_1", "answer", answer="{{tool_1.output.drug}} {{tool_1.output.dose}} {{tool_1.output.auth}}"),
    )
    refused = run_draft(lab, graph, query="metformin")[1]
    assert refused.type == "run_failed" and refused.data["failed_node"] == "tool_1"
    assert "has not registered that host" in refused.data["error"] and tool_server.requests == []
    with rt.session() as session, pytest.raises(MedAIError) as caught:
        agent_tools.try_tool(session, rt.keys, dev, tool_id, {"name": "x"}, 5)
    assert caught.value.code is ErrorCode.FORBIDDEN
    with rt.session() as session, pytest.raises(MedAIError) as caught:  # developers cannot open hosts
        agent_tools.add_allowed_host(session, dev, "127.0.0.1")
    assert caught.value.code is ErrorCode.FORBIDDEN
    with rt.session() as session:
        agent_tools.add_allowed_host(session, admin, "127.0.0.1")
    assert run_draft(lab, graph, query="metformin")[1].data["answer"] == "metformin 5 s3cret-key"
    assert tool_server.requests[-1]["query"] == {"dose": "5"}
    with rt.session() as session:
        stored = session.get(AgentTool, tool_id).auth_secret
    assert stored and "s3cret-key" not in stored


def test_a_registered_port_does_not_open_other_ports(lab, tool_server):
    rt, dev, admin, _deps = lab
    with rt.session() as session:
        agent_tools.add_allowed_host(session, admin, "127.0.0.1:1")
        assert not agent_tools.host_allowed(session, dev.tenant_id, tool_server.url + "/drugs/x")
        assert agent_tools.host_allowed(session, dev.tenant_id, "http://127.0.0.1:1/x")


def test_a_slow_tool_times_out_and_fails_its_node(lab, tool_server):
    rt, dev, admin, _deps = lab
    with rt.session() as session:
        agent_tools.add_allowed_host(session, admin, "127.0.0.1")
    tool_id = _http_tool(rt, dev, tool_server.url + "/slow", timeout_s=0.5)
    graph = chain(START, node("tool_1", "tool", tool=tool_id, arguments={}), node("answer_1", "answer", answer="x"))
    last = run_draft(lab, graph, query="x")[1]
    assert last.data["failed_node"] == "tool_1" and "did not answer in 0.5 s" in last.data["error"]


def test_an_llm_node_calls_tools_by_function_calling(lab, fake_llm):
    llm = node("llm_1", "llm", model="chat", prompt="{{start.question}}", tools=["builtin:unit_convert"])
    events, last = run_draft(lab, chain(START, llm, ANSWER), query="convert my glucose 180")
    assert last.data["answer"] == 'Tool said: {"value": 9.9911, "unit": "mmol/L", "from": "180 mg/dL"}'
    calls = [e.data for e in events if e.type == "tool_call"]
    assert [c["name"] for c in calls] == ["unit_convert"]
    assert fake_llm.requests[-2]["tools"][0]["function"]["name"] == "unit_convert"
    assert fake_llm.requests[-1]["messages"][-1]["role"] == "tool"
    assert finished(events)["llm_1"]["output"]["tool_calls"][0]["result"]["value"] == 9.9911


def test_a_knowledge_node_retrieves_and_passes_citations_on(lab, fake_llm):
    rt, dev, _admin, _deps = lab
    with rt.session() as session:
        kb = knowledge.create_knowledge_base(
            session, rt.knowledge, dev, knowledge.KnowledgeBaseSpec(name="Hypertension guideline")
        )
        session.flush()
        kb_id = kb.id
        document = knowledge_documents.upload_document(
            session,
            rt.knowledge,
            rt.objects,
            dev,
            kb_id,
            "htn.md",
            b"Adults with blood pressure above 140/90 mmHg on two visits have hypertension.\n\n"
            b"Lifestyle first: less salt, more exercise, no smoking.",
        )
        document_id = document.id
    graph = chain(
        START,
        node("knowledge_1", "knowledge", knowledge_bases=[kb_id], query="{{start.question}}", top_k=2),
        node("llm_1", "llm", model="chat", system_prompt="Cite:\n{{knowledge_1.output}}", prompt="{{start.question}}"),
        ANSWER,
    )
    last = run_draft(lab, graph, query="what blood pressure is hypertension")[1]
    assert last.type == "run_finished", last.data["error"]
    citations = last.data["citations"]
    assert citations and citations[0]["document_id"] == document_id and citations[0]["document_name"] == "htn.md"
    assert citations[0]["index"] == 1 and citations[0]["chunk_id"]
    assert "[1] (htn.md)" in fake_llm.requests[-1]["messages"][0]["content"]
    assert last.data["answer"].endswith("[1]")


def test_missing_required_inputs_fail_at_start(lab):
    last = run_draft(lab, chain(START, node("answer_1", "answer", answer="x")))[1]
    assert last.data["failed_node"] == "start" and "question" in last.data["error"]
    with pytest.raises(MedAIError) as caught:
        agent_runs.result_of(last)
    assert caught.value.code is ErrorCode.DATA_INVALID


def test_a_graph_naming_another_tenants_knowledge_base_gets_nothing_from_it(lab):
    rt, _dev, _admin, _deps = lab
    other = add_tenant(rt, "elsewhere")
    _, stranger = sign(rt, add_user(rt, "dev@elsewhere.cn", [(other, "developer")]))
    with rt.session() as session:
        kb = knowledge.create_knowledge_base(
            session, rt.knowledge, stranger, knowledge.KnowledgeBaseSpec(name="Theirs")
        )
        session.flush()
        kb_id = kb.id
        knowledge_documents.upload_document(
            session, rt.knowledge, rt.objects, stranger, kb_id, "secret.md", b"Ward 7 door code is 4412."
        )
    graph = chain(
        START,
        node("knowledge_1", "knowledge", knowledge_bases=[kb_id], query="{{start.question}}"),
        node("answer_1", "answer", answer="{{knowledge_1.output}}"),
    )
    last = run_draft(lab, graph, query="door code")[1]
    assert last.type == "run_failed" and last.data["failed_node"] == "knowledge_1"
    assert "No such knowledge base" in last.data["error"] and "4412" not in str(last.data)


def test_a_run_its_client_abandons_is_recorded_as_failed(lab):
    rt, dev, _admin, deps = lab
    agent_id = make_agent(rt, dev, chain(START, node("answer_1", "answer", answer="{{start.question}}")))
    stream = agent_runs.start_run(deps, dev, agent_id, RunRequest(query="hi", draft=True))
    assert next(stream.events).type == "run_started"
    stream.events.close()
    with rt.session() as session:
        run = session.get(AgentRun, stream.run_id)
    assert run.status == "failed" and "abandoned" in run.error
