"""The built-in embedding model (all-MiniLM-L6-v2 from its package, never downloaded), the
cache in front of it, and /v1/embeddings in OpenAI's format."""

import math
import time

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from backend.adapters.cache.memory import MemoryCache
from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.models import UsageRecord
from backend.services.identity import api_keys
from backend.services.serving import embeddings
from tests.clock_minute import with_seconds_left
from tests.unit.identity_world import add_tenant, add_user, sign


def _cosine(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_vectors_are_normalised_meaningful_and_cached(runtime):
    cache = MemoryCache()
    texts = ["The patient has high blood pressure.", "Hypertension was diagnosed.", "The invoice is due Friday."]
    vectors, computed = embeddings.embed(cache, runtime.embedder, texts)
    assert computed == 3 and len(vectors[0]) == 384
    assert all(math.isclose(_cosine(v, v), 1.0, rel_tol=1e-4) for v in vectors)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2]) + 0.2
    again, computed = embeddings.embed(cache, runtime.embedder, [texts[1], "A new sentence."])
    assert computed == 1 and again[0] == pytest.approx(vectors[1], abs=1e-6)


def test_v1_embeddings_speaks_openai(runtime):
    tenant = add_tenant(runtime, "ruijin")
    _, dev = sign(runtime, add_user(runtime, "dev@ruijin.cn", [(tenant, "developer")]))
    with runtime.session() as session:
        _, token = api_keys.create_api_key(session, dev, kind="personal", name="rag", scopes=["models:invoke"])
        _, other = api_keys.create_api_key(session, dev, kind="personal", name="logs", scopes=["logs:read"])
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    client = TestClient(api)
    answer = client.post(
        "/v1/embeddings",
        headers={"Authorization": f"Bearer {token}"},
        json={"model": "all-minilm-l6-v2", "input": ["高血压", "hypertension"]},
    )
    body = answer.json()
    assert answer.status_code == 200 and [d["index"] for d in body["data"]] == [0, 1]
    assert len(body["data"][0]["embedding"]) == 384 and body["usage"]["prompt_tokens"] > 0
    wrong = client.post(
        "/v1/embeddings",
        headers={"Authorization": f"Bearer {token}"},
        json={"model": "text-embedding-3-large", "input": "x"},
    )
    assert wrong.status_code == 404 and "all-minilm-l6-v2" in wrong.json()["error"]["remedy"]
    scoped = client.post(
        "/v1/embeddings", headers={"Authorization": f"Bearer {other}"}, json={"model": "all-minilm-l6-v2", "input": "x"}
    )
    assert scoped.status_code == 403


def test_v1_embeddings_are_metered_and_limited_like_any_request(runtime, monkeypatch):
    tenant = add_tenant(runtime, "ruijin")
    _, dev = sign(runtime, add_user(runtime, "dev@ruijin.cn", [(tenant, "developer")]))
    with runtime.session() as session:
        _, token = api_keys.create_api_key(session, dev, kind="personal", name="rag", scopes=["models:invoke"])
    monkeypatch.setattr(runtime.settings, "gateway_key_requests_per_minute", 1)
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    client, headers = TestClient(api), {"Authorization": f"Bearer {token}"}
    body = {"model": "all-minilm-l6-v2", "input": ["胸痛三天", "chest pain"]}
    with_seconds_left(5)  # both requests in one clock minute
    assert client.post("/v1/embeddings", headers=headers, json=body).status_code == 200
    over = client.post("/v1/embeddings", headers=headers, json=body)
    assert over.status_code == 429 and over.headers["Retry-After"]
    for _ in range(100):  # metered on the loop's next turn, then written by the batch writer
        runtime.usage.flush()
        with runtime.session() as session:
            if rows := session.exec(select(UsageRecord)).all():
                break
        time.sleep(0.05)
    (row,) = rows
    assert (row.endpoint, row.model, row.status, row.tenant_id) == ("embeddings", "all-minilm-l6-v2", 200, tenant.id)
    assert row.prompt_tokens > 0
