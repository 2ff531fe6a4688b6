"""Knowledge bases on the production adapters: a real Chroma server (``chroma run``, shipped
with the pinned chromadb, started for this module) through HttpClient, and embeddings cached
in the real Redis. Import, hybrid retrieval, isolation of collections and delete go over the wire."""

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend import db
from backend.adapters.cache.redis import RedisCache
from backend.adapters.vectors.chroma import ChromaVectorStore
from backend.errors import MedAIError
from backend.runtime import build_runtime
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge.index import collection_name
from backend.services.serving import embeddings
from backend.settings import Settings
from tests.unit.agent_world import free_port
from tests.unit.identity_world import add_tenant, add_user, sign

pytestmark = pytest.mark.integration

GUIDE = (
    "高血压患者应限制钠盐摄入，每日食盐不超过5克。\n\n"
    "2型糖尿病患者应监测空腹血糖，二甲双胍是首选口服药物。\n\n"
    "Warfarin requires regular INR monitoring; the usual target is 2.0 to 3.0."
)


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory) -> Iterator[str]:
    """`chroma run` on a free port; failing to start it fails the tests (it ships with chromadb)."""
    binary = Path(sys.executable).with_name("chroma")
    if not binary.exists():
        binary = Path(shutil.which("chroma") or "chroma")
    port, folder = free_port(), tmp_path_factory.mktemp("chroma-server")
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [str(binary), "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"chroma run exited with {process.returncode}: {(folder / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"chroma run did not answer in 60 s: {(folder / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def runtime(tmp_path, clean_env, chroma_url, redis_url):
    settings = Settings(data_dir=tmp_path / "data", chroma_url=chroma_url, redis_url=redis_url, _env_file=None)
    rt = build_runtime(settings)
    db.upgrade(rt.engine)
    yield rt
    rt.engine.dispose()


def test_runtime_uses_the_server_and_redis(runtime):
    assert runtime.knowledge.vectors.backend == "chroma-server"
    assert runtime.knowledge.cache.backend == "redis"
    runtime.knowledge.vectors.ping()


def test_import_retrieve_and_delete_through_the_chroma_server(runtime):
    tenant = add_tenant(runtime, f"kb-{uuid.uuid4().hex[:8]}")
    owner = sign(runtime, add_user(runtime, f"o@{tenant.slug}.cn", [(tenant, "tenant_owner")]))[1]
    with runtime.session() as session:
        spec = knowledge.KnowledgeBaseSpec(name="Guide", chunk_size=60, chunk_overlap=0)
        kb = knowledge.create_knowledge_base(session, runtime.knowledge, owner, spec)
    with runtime.session() as session:
        doc = knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, owner, kb.id, "guide.txt", GUIDE.encode()
        )
    name = collection_name(kb.id)
    assert runtime.knowledge.vectors.count(name, kb.tenant_id) == doc.chunk_count >= 3
    # a second client (another app process) sees the same vectors on the server
    other = ChromaVectorStore.server(runtime.settings.chroma_url)
    assert other.count(name, kb.tenant_id) == doc.chunk_count
    with pytest.raises(MedAIError):
        other.query(name, "another-tenant", [0.0] * 384, 3)
    with runtime.session() as session:
        found = knowledge.retrieve(session, runtime.knowledge, owner, kb.id, "warfarin INR monitoring")
    assert found[0].document_name == "guide.txt" and "Warfarin" in found[0].text
    assert found[0].vector_score is not None and found[0].vector_score > 0  # vectors came back from the server
    assert found[0].vector_score == max(hit.vector_score or 0.0 for hit in found)
    with runtime.session() as session:
        knowledge_documents.delete_document(session, runtime.knowledge, runtime.objects, owner, kb.id, doc.id)
    assert runtime.knowledge.vectors.count(name, kb.tenant_id) == 0


def test_embeddings_are_cached_in_redis_across_processes(runtime, redis_url):
    text = f"胸痛患者首先做心电图 {uuid.uuid4().hex}"
    first, computed = embeddings.embed(runtime.knowledge.cache, runtime.embedder, [text])
    assert computed == 1
    fresh = RedisCache(redis_url)  # what another process would use
    try:
        again, computed = embeddings.embed(fresh, runtime.embedder, [text])
    finally:
        fresh.close()
    assert computed == 0 and again[0] == pytest.approx(first[0], abs=1e-6)
