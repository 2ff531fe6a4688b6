"""A knowledge base embedded by an OpenAI-compatible embeddings endpoint (``remote:<model>``):
here the endpoint is another MedAI platform's /v1/embeddings over HTTP, with an API key. Its
vectors match the local model's, retrieval finds the right chunk, and an endpoint that is down
refuses the import with the reason and leaves nothing behind."""

import math

import pytest

from backend import db
from backend.adapters.embeddings import RemoteEmbedder
from backend.errors import ErrorCode, MedAIError
from backend.runtime import build_runtime
from backend.services.identity import api_keys
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.settings import Settings
from tests.integration.api_server import serve_api
from tests.unit.identity_world import add_tenant, add_user, sign

pytestmark = pytest.mark.integration

GUIDE = (
    "高血压患者应限制钠盐摄入，每日食盐不超过5克。\n\n"
    "2型糖尿病患者应监测空腹血糖，二甲双胍是首选口服药物。\n\n"
    "Warfarin requires regular INR monitoring; the usual target range is 2.0 to 3.0."
)


@pytest.fixture
def endpoint(runtime, tmp_path):
    """Another MedAI platform (its own database) serving /v1 on a real port, a key that may call
    it, and a developer of this platform."""
    host = build_runtime(Settings(data_dir=tmp_path / "endpoint", _env_file=None))
    db.upgrade(host.engine)
    tenant = add_tenant(host, "embed-host")
    _, caller = sign(host, add_user(host, "svc@embed-host.cn", [(tenant, "developer")]))
    with host.session() as session:
        _, token = api_keys.create_api_key(session, caller, kind="personal", name="emb", scopes=["models:invoke"])
    tenant = add_tenant(runtime, "kb-hospital")
    _, dev = sign(runtime, add_user(runtime, "dev@kb-hospital.cn", [(tenant, "developer")]))
    with serve_api(host) as url:
        yield f"{url}/v1", token, dev
    host.engine.dispose()


def test_a_knowledge_base_on_a_remote_embeddings_endpoint(runtime, endpoint):
    url, token, dev = endpoint
    remote = RemoteEmbedder(url, "all-minilm-l6-v2", token)
    (far,), (near,) = remote.embed(["胸痛"]), runtime.embedder.embed(["胸痛"])
    assert math.isclose(sum(a * b for a, b in zip(far, near, strict=True)), 1.0, abs_tol=1e-4)

    unset = knowledge.KnowledgeBaseSpec("x", embedding_model="remote:m")
    with runtime.session() as session, pytest.raises(MedAIError) as caught:  # not configured: says what to set
        knowledge.create_knowledge_base(session, runtime.knowledge, dev, unset)
    assert "MEDAI_EMBEDDINGS_URL" in caught.value.remedy
    runtime.knowledge.remote_url, runtime.knowledge.remote_key = url, token
    spec = knowledge.KnowledgeBaseSpec("指南", embedding_model="remote:all-minilm-l6-v2", chunk_size=60)
    with runtime.session() as session:
        kb = knowledge.create_knowledge_base(session, runtime.knowledge, dev, spec)
    with runtime.session() as session:
        doc = knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, dev, kb.id, "guide.txt", GUIDE.encode(), inline=True
        )
    assert doc.status == "ready" and doc.chunk_count >= 3
    with runtime.session() as session:
        found = knowledge.retrieve(session, runtime.knowledge, dev, kb.id, "糖尿病用什么药", mode="vector")
    assert "二甲双胍" in found[0].text

    runtime.knowledge.remote_key = "mk_wrong"  # a key the endpoint refuses: the import is refused whole
    runtime.knowledge._embedders.clear()
    with pytest.raises(MedAIError) as caught, runtime.session() as session:  # the failure rolls the session back
        knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, dev, kb.id, "more.txt", "新的内容。".encode(), inline=True
        )
    assert caught.value.code is ErrorCode.UPSTREAM_FAILED and "401" in caught.value.message
    with runtime.session() as session:
        assert [d.name for d in knowledge_documents.list_documents(session, dev, kb.id)] == ["guide.txt"]
    assert len(list(runtime.objects.list(knowledge.knowledge_prefix(kb.tenant_id, kb.id)))) == 1  # guide.txt only
