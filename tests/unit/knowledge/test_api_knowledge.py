"""Knowledge bases over REST: create, upload (multipart), retrieve with scores, recall tests,
delete; a damaged file answers 422 with nothing stored; key scopes decide read versus write."""

import io

import pytest
from fastapi.testclient import TestClient

from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.services.identity import api_keys
from tests.unit.identity_world import add_tenant, add_user, sign

GUIDE = "高血压患者应限制钠盐摄入，每日食盐不超过5克。\n\n二甲双胍是2型糖尿病的首选口服药物。".encode()


@pytest.fixture
def client(runtime):
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    return TestClient(api)


@pytest.fixture
def tokens(runtime) -> dict[str, str]:
    tenant = add_tenant(runtime, "api-kb")
    token, principal = sign(runtime, add_user(runtime, "dev@api-kb.cn", [(tenant, "developer")]))
    found = {"session": token}
    for scope in ("knowledge:read", "knowledge:write"):
        with runtime.session() as session:
            _, found[scope] = api_keys.create_api_key(session, principal, kind="personal", name=scope, scopes=[scope])
    return found


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_whole_flow_with_a_write_key(client, tokens):
    key = _auth(tokens["knowledge:write"])
    created = client.post("/api/knowledge-bases", headers=key, json={"name": "guide", "chunk_size": 60})
    assert created.status_code == 201, created.text
    kb_id = created.json()["id"]
    bad = client.post(
        f"/api/knowledge-bases/{kb_id}/documents", headers=key, files={"file": ("x.pdf", io.BytesIO(b"%PDF-1.4 junk"))}
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "DATA_INVALID"
    assert client.get(f"/api/knowledge-bases/{kb_id}/documents", headers=key).json() == []
    doc = client.post(
        f"/api/knowledge-bases/{kb_id}/documents",
        headers=key,
        files={"file": ("guide.txt", io.BytesIO(GUIDE))},
        data={"metadata": '{"department": "cardiology"}'},
    )
    assert (
        doc.status_code == 201
        and doc.json()["status"] == "ready"
        and doc.json()["meta"] == {"department": "cardiology"}
    )
    found = client.post(f"/api/knowledge-bases/{kb_id}/retrieve", headers=key, json={"query": "二甲双胍"}).json()
    assert found[0]["document_name"] == "guide.txt" and found[0]["rank"] == 1
    assert {"score", "vector_score", "text_score"} <= found[0].keys() and found[0]["text_score"] > 0
    saved = client.post(
        f"/api/knowledge-bases/{kb_id}/recall-queries",
        headers=key,
        json={"query": "二甲双胍", "expected_documents": ["guide.txt"]},
    )
    assert saved.status_code == 201
    run = client.post(f"/api/knowledge-bases/{kb_id}/recall-runs", headers=key, json={"k": 3}).json()
    assert run["hit_rate"] == 1.0 and run["mrr"] == 1.0
    assert len(client.get(f"/api/knowledge-bases/{kb_id}/recall-runs", headers=key).json()) == 1
    doc_id = doc.json()["id"]
    chunks = client.get(f"/api/knowledge-bases/{kb_id}/documents/{doc_id}/chunks", headers=key).json()
    assert len(chunks) == doc.json()["chunk_count"] >= 1 and "二甲双胍" in chunks[-1]["text"]
    assert client.delete(f"/api/knowledge-bases/{kb_id}/documents/{doc_id}", headers=key).status_code == 204
    assert client.post(f"/api/knowledge-bases/{kb_id}/retrieve", headers=key, json={"query": "二甲双胍"}).json() == []
    assert client.delete(f"/api/knowledge-bases/{kb_id}", headers=key).status_code == 204
    assert client.get(f"/api/knowledge-bases/{kb_id}", headers=key).status_code == 404


def test_a_read_key_retrieves_but_cannot_change_anything(client, tokens):
    owner = _auth(tokens["session"])
    kb_id = client.post("/api/knowledge-bases", headers=owner, json={"name": "guide"}).json()["id"]
    client.post(f"/api/knowledge-bases/{kb_id}/documents", headers=owner, files={"file": ("g.txt", io.BytesIO(GUIDE))})
    reader = _auth(tokens["knowledge:read"])
    assert client.post(f"/api/knowledge-bases/{kb_id}/retrieve", headers=reader, json={"query": "钠盐"}).json()
    refused = [
        client.post("/api/knowledge-bases", headers=reader, json={"name": "x"}),
        client.post(
            f"/api/knowledge-bases/{kb_id}/documents", headers=reader, files={"file": ("h.txt", io.BytesIO(GUIDE))}
        ),
        client.delete(f"/api/knowledge-bases/{kb_id}", headers=reader),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert len(client.get(f"/api/knowledge-bases/{kb_id}/documents", headers=reader).json()) == 1
