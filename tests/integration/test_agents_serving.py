"""Agents on a real model service: a tiny model deployed on the local engine by the controller's
pass, a published agent (Start -> Knowledge -> LLM -> Answer) called over HTTP on the platform's
/v1 with the official openai client (streaming and not), answering with citations; the run's
trace holds the real engine's token counts."""

from __future__ import annotations

import openai
import pytest
from sqlmodel import select

from backend.models import AgentRun
from backend.services.agents import definitions as agents
from backend.services.identity import api_keys
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.serving import deployments as serving
from tests.integration.api_server import serve_api
from tests.integration.serving_world import register_tiny, stop_replicas, until_ready
from tests.unit.identity_world import add_tenant, add_user, sign

pytestmark = pytest.mark.integration


@pytest.fixture
def served(runtime):
    """The platform on a real port; a tenant with a developer, a clinician's agents:invoke key and a
    tiny model deployed on the local engine (ready)."""
    with serve_api(runtime) as url:
        yield from _served(runtime, url)


def _served(runtime, url):
    tenant = add_tenant(runtime, "zhongshan")
    _, dev = sign(runtime, add_user(runtime, "dev@zhongshan.cn", [(tenant, "developer")]))
    _, doctor = sign(runtime, add_user(runtime, "doctor@zhongshan.cn", [(tenant, "clinician")]))
    version_id = register_tiny(runtime, dev)
    with runtime.session() as session:
        deployment_id = serving.deploy(
            session, dev, serving.DeploySpec("tiny-chat", version_id, cpu=1, memory_gb=1, max_model_len=256)
        ).id
        _, token = api_keys.create_api_key(session, doctor, kind="personal", name="ward", scopes=["agents:invoke"])
    until_ready(runtime, deployment_id)
    yield runtime, dev, token, f"{url}/v1"
    stop_replicas(runtime)


def test_a_published_grounded_agent_answers_through_v1_on_a_real_engine(served):
    runtime, dev, token, base_url = served
    with runtime.session() as session:
        kb = knowledge.create_knowledge_base(session, runtime.knowledge, dev, knowledge.KnowledgeBaseSpec("Guide"))
        session.flush()
        knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, dev, kb.id, "bp.md", b"Target blood pressure: below 130/80."
        )
        agent = agents.create_from_template(
            session, dev, "guideline_qa", "Guide", "guide", model="tiny-chat", knowledge_base_ids=(kb.id,)
        )
        for item in agent.graph["nodes"]:  # the tiny model's context is 256 tokens
            if item["type"] == "llm":
                item["data"] |= {"system_prompt": "Cite [1].\n{{knowledge_1.output}}", "max_tokens": 8}
            if item["type"] == "knowledge":
                item["data"]["top_k"] = 1
        agents.save_draft(session, dev, agent.id, graph=agent.graph)
        agents.publish(session, dev, agent.id)
    client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=120)
    reply = client.chat.completions.create(
        model="agent:guide", messages=[{"role": "user", "content": "target blood pressure?"}]
    )
    message = reply.choices[0].message
    assert message.model_extra["citations"][0]["document_name"] == "bp.md"
    assert message.content.endswith(f"[1] bp.md (chunk {message.model_extra['citations'][0]['chunk_id'][:12]})")
    assert reply.usage.completion_tokens > 0  # counted by the real engine
    chunks = list(
        client.chat.completions.create(
            model="agent:guide", messages=[{"role": "user", "content": "blood pressure"}], stream=True
        )
    )
    assert chunks[-1].choices[0].delta.model_extra["citations"][0]["document_name"] == "bp.md"
    with runtime.session() as session:
        runs = session.exec(select(AgentRun).order_by(AgentRun.created_at)).all()
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    llm = next(t for t in runs[0].trace if t["node_id"] == "llm_1")
    assert 0 < llm["completion_tokens"] <= 8 and llm["latency_ms"] > 0
