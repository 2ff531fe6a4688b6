"""The agents service: drafts checked against the tenant, publish and rollback, conversations and
their history, run logs and feedback, chat agents, starter templates and the market."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend.adapters.envelope import KeyRing, generate_master_key, parse_master_key
from backend.errors import ErrorCode, MedAIError
from backend.models import AgentConversation, AgentFeedback, AgentRun, AgentTool, AgentVersion
from backend.services.agents import definitions as agents
from backend.services.agents import market as agent_market
from backend.services.agents import runs as agent_runs
from backend.services.agents import tools as agent_tools
from backend.services.agents.runs import RunRequest
from backend.services.identity import secrets
from tests.unit.agent_world import START, add_model_service, chain, node, start_fake_openai
from tests.unit.identity_world import add_tenant, add_user, sign


@pytest.fixture(scope="module")
def fake_llm():
    server = start_fake_openai()
    yield server
    server.stop()


@pytest.fixture
def hospital(runtime, fake_llm):
    tenant = add_tenant(runtime, "xiehe")
    _, dev = sign(runtime, add_user(runtime, "dev@xiehe.cn", [(tenant, "developer")]))
    _, admin = sign(runtime, add_user(runtime, "admin@xiehe.cn", [(tenant, "tenant_admin")]))
    _, doctor = sign(runtime, add_user(runtime, "doctor@xiehe.cn", [(tenant, "clinician")]))
    add_model_service(runtime, dev, "chat", fake_llm.url)
    return runtime, dev, admin, doctor, agent_runs.deps_from(runtime)


def template_graph(text: str) -> dict:
    return chain(
        START, node("template_1", "template", template=text), node("answer_1", "answer", answer="{{template_1.output}}")
    )


def create(rt, principal, slug="triage", graph=None, mode="graph", chat_config=None):
    with rt.session() as session:
        spec = agents.AgentSpec("Triage", slug, mode=mode, graph=graph, chat_config=chat_config)
        return agents.create_agent(session, principal, spec).id


def test_a_new_graph_agent_starts_as_a_skeleton_whose_only_gap_is_the_model(hospital):
    rt, dev, *_ = hospital
    agent_id = create(rt, dev)
    with rt.session() as session:
        problems = agents.validate_draft(session, dev, agent_id)
    assert [(p.node_id, p.field, p.code) for p in problems] == [("llm", "model", "missing_setting")]


def test_drafts_are_kept_with_problems_and_checked_against_the_tenant(hospital):
    rt, dev, *_ = hospital
    agent_id = create(rt, dev)
    graph = chain(
        START,
        node("knowledge_1", "knowledge", knowledge_bases=["kb-of-nobody"], query="{{start.question}}"),
        node(
            "llm_1", "llm", model="gpt-elsewhere", prompt="{{knowledge_1.output}}", tools=["builtin:icd10_lookup", "t"]
        ),
        node("answer_1", "answer", answer="{{llm_1.output}}"),
    )
    with rt.session() as session:
        checked = agents.save_draft(session, dev, agent_id, graph=graph)
    found = {(p.node_id, p.field, p.code) for p in checked.problems}
    assert found == {
        ("knowledge_1", "knowledge_bases", "unknown_option"),
        ("llm_1", "model", "unknown_option"),
        ("llm_1", "tools", "unknown_option"),  # "t"; the built-in is known
    }
    with rt.session() as session:
        assert agents.get_agent(session, dev, agent_id).graph == graph  # kept as work in progress
        with pytest.raises(MedAIError) as caught:
            agents.publish(session, dev, agent_id)
    assert caught.value.code is ErrorCode.DATA_INVALID and "3 problem(s)" in caught.value.message


def test_publish_rollback_and_runs_use_the_active_version(hospital):
    rt, dev, _admin, doctor, deps = hospital
    agent_id = create(rt, dev, graph=template_graph("version one"))
    with rt.session() as session, pytest.raises(MedAIError) as caught:
        agent_runs.start_run(deps, doctor, agent_id, RunRequest(query="hi"))
    assert caught.value.code is ErrorCode.CONFLICT  # not published yet
    with rt.session() as session:
        first = agents.publish(session, dev, agent_id, "first").id
        agents.save_draft(session, dev, agent_id, graph=template_graph("version two"))
    assert agent_runs.run_agent(deps, doctor, agent_id, RunRequest(query="hi")).answer == "version one"
    with rt.session() as session:
        assert agents.publish(session, dev, agent_id).number == 2
    assert agent_runs.run_agent(deps, doctor, agent_id, RunRequest(query="hi")).answer == "version two"
    with rt.session() as session:
        back = agents.rollback(session, dev, agent_id)
        assert back.id == first and back.number == 1
        actives = session.exec(select(AgentVersion.number).where(AgentVersion.active)).all()
    assert actives == [1]
    assert agent_runs.run_agent(deps, doctor, agent_id, RunRequest(query="hi")).answer == "version one"
    draft = agent_runs.run_agent(deps, dev, agent_id, RunRequest(query="hi", draft=True))
    assert draft.answer == "version two"  # a test run of the draft
    with rt.session() as session, pytest.raises(MedAIError) as caught:
        agent_runs.start_run(deps, doctor, agent_id, RunRequest(query="hi", draft=True))
    assert caught.value.code is ErrorCode.FORBIDDEN  # clinicians use published versions only
    with rt.session() as session, pytest.raises(MedAIError):
        agents.rollback(session, dev, agent_id)  # nothing before version 1


def test_a_conversation_carries_its_history_and_belongs_to_its_user(hospital, fake_llm):
    rt, dev, _admin, doctor, deps = hospital
    llm = node("llm_1", "llm", model="chat", prompt="{{start.question}}", history_turns=3)
    agent_id = create(rt, dev, graph=chain(START, llm, node("answer_1", "answer", answer="{{llm_1.output}}")))
    with rt.session() as session:
        agents.publish(session, dev, agent_id)
    first = agent_runs.run_agent(deps, doctor, agent_id, RunRequest(query="my head hurts"))
    second = agent_runs.run_agent(
        deps, doctor, agent_id, RunRequest(query="since monday", conversation_id=first.conversation_id)
    )
    assert second.conversation_id == first.conversation_id
    assert fake_llm.requests[-1]["messages"][-3:] == [
        {"role": "user", "content": "my head hurts"},
        {"role": "assistant", "content": "Echo: my head hurts"},
        {"role": "user", "content": "since monday"},
    ]
    with pytest.raises(MedAIError) as caught:  # someone else cannot continue it
        agent_runs.start_run(deps, dev, agent_id, RunRequest(query="x", conversation_id=first.conversation_id))
    assert caught.value.code is ErrorCode.NOT_FOUND
    with rt.session() as session:
        conversation = session.get(AgentConversation, first.conversation_id)
        assert conversation.title == "my head hurts" and conversation.user_id == doctor.user_id


def test_run_logs_show_builders_every_run_and_users_their_own_and_feedback_is_kept(hospital):
    rt, dev, admin, doctor, deps = hospital
    agent_id = create(rt, dev, graph=template_graph("ok"))
    with rt.session() as session:
        agents.publish(session, dev, agent_id)
    mine = agent_runs.run_agent(deps, doctor, agent_id, RunRequest(query="doctor asks"))
    agent_runs.run_agent(deps, admin, agent_id, RunRequest(query="admin asks"))
    with rt.session() as session:
        assert {r.query for r in agent_runs.list_runs(session, dev, agent_id)} == {"doctor asks", "admin asks"}
        assert [r.query for r in agent_runs.list_runs(session, doctor, agent_id)] == ["doctor asks"]
        assert len(agent_runs.list_conversations(session, doctor, agent_id)) == 1
        run = agent_runs.get_run(session, dev, mine.run_id)
        assert [t["node_id"] for t in run.trace] == ["start", "template_1", "answer_1"]
        agent_runs.give_feedback(session, doctor, mine.run_id, -1, "Too short")
        agent_runs.give_feedback(session, doctor, mine.run_id, 1)  # changes the rating, keeps the note
        with pytest.raises(MedAIError):
            agent_runs.give_feedback(session, doctor, mine.run_id, 5)
    with rt.session() as session:
        rows = agent_runs.list_feedback(session, dev, agent_id)
        assert [(f.rating, f.annotation, f.by) for f in rows] == [(1, "Too short", doctor.label)]
        admin_run = next(r for r in agent_runs.list_runs(session, dev, agent_id) if r.query == "admin asks")
        with pytest.raises(MedAIError) as caught:
            agent_runs.get_run(session, doctor, admin_run.id)
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_a_chat_agent_compiles_to_the_same_runtime_with_function_calling(hospital, fake_llm):
    rt, dev, _admin, doctor, deps = hospital
    config = {"model": "chat", "system_prompt": "Be brief.", "tools": ["builtin:unit_convert"], "history_turns": 0}
    agent_id = create(rt, dev, slug="helper", mode="chat", chat_config=config)
    with rt.session() as session:
        assert agents.validate_draft(session, dev, agent_id) == []
        version = agents.publish(session, dev, agent_id)
        assert [n["type"] for n in version.graph["nodes"]] == ["start", "llm", "answer"]
    result = agent_runs.run_agent(deps, doctor, agent_id, RunRequest(query="please convert 180"))
    assert result.answer.startswith("Tool said:") and '"unit": "mmol/L"' in result.answer
    with rt.session() as session:
        agents.save_draft(session, dev, agent_id, chat_config={**config, "knowledge_bases": ["kb-x"], "bogus": 1})
        problems = {(p.field, p.code) for p in agents.validate_draft(session, dev, agent_id)}
    assert ("bogus", "invalid_setting") in problems and ("knowledge_bases", "unknown_option") in problems


def test_starter_templates_install_with_the_chosen_model_and_run(hospital):
    rt, dev, _admin, doctor, deps = hospital
    with rt.session() as session:
        agent = agents.create_from_template(session, dev, "triage_assistant", "Triage", "triage", model="chat")
        agent_id = agent.id
        assert agents.validate_draft(session, dev, agent_id) == []
        agents.publish(session, dev, agent_id)
    answer = agent_runs.run_agent(deps, doctor, agent_id, RunRequest(query="sudden chest pain", inputs={"age": 70}))
    assert answer.answer.startswith("EMERGENCY:")
    with rt.session() as session:
        summary = agents.create_from_template(session, dev, "discharge_summary", "Discharge", "discharge", "chat")
        agents.publish(session, dev, summary.id)
    result = agent_runs.run_agent(
        deps, doctor, summary.id, RunRequest(inputs={"notes": "Stable on metformin.", "diagnosis": "E11"})
    )
    assert "ICD-10: E11 Type 2 diabetes mellitus / 2型糖尿病" in result.answer


def test_the_market_lists_copies_and_installs_independent_agents(hospital, runtime):
    rt, dev, admin, doctor, _deps = hospital
    other = add_tenant(rt, "tongji")
    _, stranger = sign(rt, add_user(rt, "dev@tongji.cn", [(other, "developer")]))
    with rt.session() as session:
        tool = agent_tools.create_tool(
            session, rt.keys, dev, agent_tools.ToolSpec(name="lis", url="http://lis.xiehe.cn/q")
        )
        tool_id = tool.id
    graph = chain(
        START,
        node("tool_1", "tool", tool=tool_id, arguments={}),
        node("tool_2", "tool", tool="builtin:icd10_lookup", arguments={"query": "I10"}),
        node("answer_1", "answer", answer="{{tool_2.output.count}}"),
    )
    agent_id = create(rt, dev, graph=graph)
    with rt.session() as session:
        with pytest.raises(MedAIError) as caught:
            agent_market.publish_listing(session, dev, agent_id)
        assert caught.value.code is ErrorCode.CONFLICT  # publish a version first
        agents.publish(session, dev, agent_id)
        inside = agent_market.publish_listing(session, dev, agent_id, "tenant").id
        with pytest.raises(MedAIError) as caught:
            agent_market.publish_listing(session, dev, agent_id, "platform")
        assert caught.value.code is ErrorCode.FORBIDDEN  # platform-wide is a tenant admin's call
        everywhere = agent_market.publish_listing(session, admin, agent_id, "platform").id
    with rt.session() as session:
        assert {x.id for x in agent_market.list_listings(session, doctor)} == {inside, everywhere}
        assert {x.id for x in agent_market.list_listings(session, stranger)} == {everywhere}
        with pytest.raises(MedAIError) as caught:
            agent_market.install_listing(session, stranger, inside, "", "copy")
        assert caught.value.code is ErrorCode.NOT_FOUND
        copy = agent_market.install_listing(session, stranger, everywhere, "", "copy")
        assert copy.tenant_id == other.id and copy.installed_from == everywhere and copy.active_version_id is None
        tools = [n["data"].get("tool") for n in copy.graph["nodes"] if n["type"] == "tool"]
        assert tools == ["", "builtin:icd10_lookup"]  # the publisher's own tool id does not travel
        local = agent_market.install_listing(session, dev, inside, "Mine", "mine")
        assert next(n["data"].get("tool") for n in local.graph["nodes"] if n["type"] == "tool") == tool_id
    with rt.session() as session:
        agent_market.withdraw_listing(session, admin, everywhere)
        assert {x.id for x in agent_market.list_listings(session, stranger)} == set()


def test_deleting_an_agent_removes_its_history(hospital):
    rt, dev, _admin, doctor, deps = hospital
    agent_id = create(rt, dev, graph=template_graph("bye"))
    with rt.session() as session:
        agents.publish(session, dev, agent_id)
    run = agent_runs.run_agent(deps, doctor, agent_id, RunRequest(query="x"))
    with rt.session() as session:
        agent_runs.give_feedback(session, doctor, run.run_id, 1)
    with rt.session() as session:
        agents.delete_agent(session, dev, agent_id)
    with rt.session() as session:
        assert session.exec(select(AgentRun)).all() == [] and session.exec(select(AgentFeedback)).all() == []
        assert session.exec(select(AgentVersion)).all() == []


def test_private_agents_are_hidden_from_other_members(hospital):
    rt, dev, admin, doctor, _deps = hospital
    with rt.session() as session:
        agent_id = agents.create_agent(session, dev, agents.AgentSpec("Mine", "mine", visibility="private")).id
    with rt.session() as session:
        assert [a.id for a in agents.list_agents(session, admin)] == [agent_id]
        assert agents.list_agents(session, doctor) == []
        with pytest.raises(MedAIError) as caught:
            agents.get_agent(session, doctor, agent_id)
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_tool_secrets_are_rewrapped_when_the_master_key_rotates(hospital):
    rt, dev, *_ = hospital
    with rt.session() as session:
        spec = agent_tools.ToolSpec(name="t", url="http://x.cn/", auth_header="Authorization", auth_secret="Bearer k")
        tool_id = agent_tools.create_tool(session, rt.keys, dev, spec).id
    rotated = KeyRing((parse_master_key(generate_master_key()), *rt.keys.keys))
    with rt.session() as session:
        assert secrets.rewrap_all(session, rotated) == 1
    with rt.session() as session:
        sealed = session.get(AgentTool, tool_id).auth_secret
    only_new = KeyRing((rotated.current,))
    assert only_new.open(sealed, f"agent_tool:{tool_id}") == "Bearer k"


def test_openapi_documents_become_tools_with_merged_parameters(hospital):
    rt, dev, *_ = hospital
    document = {
        "openapi": "3.0.0",
        "servers": [{"url": "https://lis.example.org/api"}],
        "paths": {
            "/patients/{mrn}/labs": {
                "get": {
                    "operationId": "getLabs",
                    "summary": "Latest labs",
                    "parameters": [
                        {"name": "mrn", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "since", "in": "query", "schema": {"type": "string"}},
                    ],
                }
            }
        },
    }
    with rt.session() as session:
        (tool,) = agent_tools.import_openapi(session, rt.keys, dev, document)
        assert (tool.name, tool.method, tool.url) == (
            "getLabs",
            "GET",
            "https://lis.example.org/api/patients/{mrn}/labs",
        )
        assert tool.parameters["required"] == ["mrn"] and set(tool.parameters["properties"]) == {"mrn", "since"}
        with pytest.raises(MedAIError):
            agent_tools.import_openapi(session, rt.keys, dev, {"nope": 1})
