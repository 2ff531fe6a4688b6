"""Sample data, one click away: the files pass the platform's own validators, each use case goes
through the ordinary one (dataset import, knowledge upload, agent from a template), a second
click returns what is there, roles without write rights are refused, tenants see only their own,
and the REST routes answer the same."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.errors import ErrorCode, MedAIError
from backend.models import Agent, DatasetVersion, KnowledgeBase, KnowledgeDocument
from backend.services import samples
from backend.services.agents import templates as agent_templates
from backend.services.agents.nodes import validate
from backend.services.assets import dataset_formats, datasets
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge.parsing import parse
from backend.services.knowledge.text_search import tokenize
from tests.unit.identity_world import add_tenant, add_user, events, sign

CJK = re.compile(r"[\u4e00-\u9fff]")


def fake_embed(_model: str, texts: list[str]) -> list[list[float]]:
    """Bag-of-tokens vectors: keeps ingestion in tests instant (the real models are tested elsewhere)."""
    vectors = []
    for text in texts:
        vector = [0.0] * 64
        for token in tokenize(text):
            vector[hashlib.blake2b(token.encode(), digest_size=2).digest()[0] % 64] += 1.0
        norm = sum(v * v for v in vector) ** 0.5 or 1.0
        vectors.append([v / norm for v in vector])
    return vectors


@pytest.fixture
def hospital(runtime, monkeypatch):
    monkeypatch.setattr(runtime.knowledge, "embed", fake_embed)
    tenant = add_tenant(runtime, "samples-hospital")
    people = {
        role: sign(runtime, add_user(runtime, f"{role}@samples-hospital.cn", [(tenant, role)]))
        for role in ("developer", "clinician", "viewer")
    }
    return runtime, tenant, people


def dataset_sample(rt, principal, which):
    with rt.session() as session:
        return samples.import_sample_dataset(session, principal, rt.objects, which, rt.settings.scratch_dir)


def knowledge_sample(rt, principal, inline=False):
    with rt.session() as session:
        return samples.create_sample_knowledge_base(session, principal, rt.knowledge, rt.objects, inline)


def agent_sample(rt, principal):
    with rt.session() as session:
        return samples.create_agent_from_sample_template(session, principal)


def status(rt, principal) -> samples.SamplesStatus:
    with rt.session() as session:
        return samples.samples_status(session, principal)


# the files -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "shape", "rows"),
    [("medical_sft.jsonl", "alpaca", 200), ("medical_preference.jsonl", "preference", 100)],
)
def test_the_sample_datasets_pass_the_import_validation_in_both_languages(filename, shape, rows):
    path = samples.FOLDER / filename
    report = dataset_formats.validate(path, "jsonl")
    assert report.ok, report.summary()
    assert (report.shape, report.rows, report.duplicates) == (shape, rows, 0)
    assert report.phi["rows_with_phi"] == 0  # written by the project: no patient anywhere
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    prompts = [r.get("instruction", r.get("prompt")) + r.get("input", "") for r in records]
    assert len(set(prompts)) == rows  # every row asks something of its own
    chinese = sum(1 for p in prompts if CJK.search(p))
    assert chinese == rows // 2
    answers = [r.get("output") or r["chosen"] for r in records]
    assert max(dataset_formats.approximate_tokens(a) for a in answers) <= 120  # short answers


def test_the_knowledge_sample_parses_with_both_languages_and_shared_topics():
    paths = samples.sample_documents()
    assert len(paths) == 20
    topics: dict[str, set[str]] = {}
    for path in paths:
        parsed = parse(path.name, path.read_bytes())
        assert parsed.file_format == "md" and parsed.text.startswith("# ")
        language = path.suffixes[0].lstrip(".")
        size = len(CJK.findall(parsed.text)) if language == "zh" else len(parsed.text.split())
        assert 150 <= size <= 600, (path.name, size)  # words, or Chinese characters
        topics.setdefault(path.name.split(".")[0], set()).add(language)
    assert sorted(p.suffixes[0] for p in paths).count(".zh") == 10
    assert sum(1 for langs in topics.values() if langs == {"en", "zh"}) >= 5  # cross-lingual pairs


def test_the_template_is_listed_runs_on_the_starter_model_and_only_lacks_the_knowledge_base():
    template = next(t for t in agent_templates.list_templates() if t.id == samples.TEMPLATE_ID)
    assert (template.name_en, template.name_zh) == ("Medical knowledge Q&A with citations", "医学知识问答（带引用）")
    assert [n["type"] for n in template.graph["nodes"]] == ["start", "knowledge", "llm", "answer"]
    llm = next(n["data"] for n in template.graph["nodes"] if n["type"] == "llm")
    assert llm["model"] == "starter" and llm["max_tokens"] == 256 and "[1]" in llm["system_prompt"]
    assert {(p.code, p.field) for p in validate(template.graph)} == {("missing_setting", "knowledge_bases")}


# datasets ----------------------------------------------------------------------------------------


def test_a_sample_dataset_is_imported_once_through_the_ordinary_import(hospital):
    rt, tenant, people = hospital
    dev = people["developer"][1]
    first = dataset_sample(rt, dev, "sft")
    assert (first.kind, first.name, first.created, first.rows) == ("dataset", "sample-medical-sft", True, 200)
    again = dataset_sample(rt, dev, "sft")
    assert (again.created, again.id, again.version_id) == (False, first.id, first.version_id)
    with rt.session() as session:
        versions = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == first.id)).all()
        assert [(v.version, v.shape, v.rows, v.tenant_id) for v in versions] == [(1, "alpaca", 200, tenant.id)]
        assert (
            rt.objects.stat(versions[0].object_key).sha256
            == hashlib.sha256((samples.FOLDER / "medical_sft.jsonl").read_bytes()).hexdigest()
        )
    assert [e.target_id for e in events(rt, "dataset.import")] == [first.id]  # the import use case ran once
    clicks = events(rt, "sample.import_dataset")
    assert [(e.detail["created"], e.tenant_id) for e in clicks] == [(True, tenant.id), (False, tenant.id)]
    pairs = dataset_sample(rt, dev, "preference")
    assert (pairs.name, pairs.rows, pairs.created) == ("sample-medical-preference", 100, True)
    with pytest.raises(MedAIError) as unknown:
        dataset_sample(rt, dev, "rlhf")
    assert unknown.value.code == ErrorCode.NOT_FOUND


def test_a_retired_sample_version_is_imported_afresh(hospital):
    rt, _tenant, people = hospital
    dev = people["developer"][1]
    first = dataset_sample(rt, dev, "preference")
    with rt.session() as session:
        datasets.retire_version(session, dev, first.version_id)
    second = dataset_sample(rt, dev, "preference")
    assert second.created and second.id == first.id and second.version_id != first.version_id


# knowledge base and agent ------------------------------------------------------------------------


def test_the_sample_knowledge_base_gets_the_twenty_documents_ingested_as_usual(hospital):
    rt, _tenant, people = hospital
    dev = people["developer"][1]
    kb = knowledge_sample(rt, dev)
    assert (kb.kind, kb.name, kb.created, kb.documents) == ("knowledge_base", "sample-medical-knowledge", True, 20)
    with rt.session() as session:
        docs = session.exec(select(KnowledgeDocument).where(KnowledgeDocument.knowledge_base_id == kb.id)).all()
        assert {d.status for d in docs} == {"queued"}  # the controller ingests them, as any upload
        assert sorted(d.meta["language"] for d in docs) == ["en"] * 10 + ["zh"] * 10
        base = session.get(KnowledgeBase, kb.id)
        assert base.embedding_model == rt.knowledge.check_model(knowledge.KnowledgeBaseSpec("x").embedding_model)
    assert len(events(rt, "knowledge_document.upload")) == 20
    assert knowledge_documents.reconcile(rt.session, rt.knowledge, rt.objects, limit=25) == 20
    with rt.session() as session:
        ready = session.exec(select(KnowledgeDocument).where(KnowledgeDocument.status == "ready")).all()
        assert len(ready) == 20
        found = knowledge.retrieve(session, rt.knowledge, dev, kb.id, "二甲双胍 肾功能", top_k=1, mode="text")
        assert found[0].document_name == "type-2-diabetes-metformin.zh.md"
    again = knowledge_sample(rt, dev)
    assert (again.created, again.id, again.documents) == (False, kb.id, 20)
    assert len(events(rt, "knowledge_document.upload")) == 20


def test_the_sample_agent_uses_the_starter_model_and_the_sample_knowledge_base(hospital):
    rt, _tenant, people = hospital
    dev = people["developer"][1]
    bare = agent_sample(rt, dev)  # before the knowledge base exists: the person picks one later
    assert (bare.kind, bare.name, bare.created, bare.knowledge_base_id) == ("agent", "sample-medical-qa", True, "")
    with rt.session() as session:
        session.delete(session.get(Agent, bare.id))
    kb = knowledge_sample(rt, dev)
    made = agent_sample(rt, dev)
    assert made.created and made.knowledge_base_id == kb.id
    with rt.session() as session:
        agent = session.get(Agent, made.id)
        nodes = {n["type"]: n["data"] for n in agent.graph["nodes"]}
        assert nodes["llm"]["model"] == "starter" and nodes["knowledge"]["knowledge_bases"] == [kb.id]
        assert validate(agent.graph) == []
        assert agent.name == "Medical knowledge Q&A with citations"
    again = agent_sample(rt, dev)
    assert (again.created, again.id) == (False, made.id)
    assert [e.detail["created"] for e in events(rt, "sample.create_agent")] == [True, True, False]
    assert len(events(rt, "agent.create")) == 2


@pytest.mark.parametrize("role", ["clinician", "viewer"])
def test_roles_without_write_rights_are_refused_and_see_what_exists(hospital, role):
    rt, _tenant, people = hospital
    reader = people[role][1]
    for click in (
        lambda: dataset_sample(rt, reader, "sft"),
        lambda: knowledge_sample(rt, reader),
        lambda: agent_sample(rt, reader),
    ):
        with pytest.raises(MedAIError) as refused:
            click()
        assert refused.value.code == ErrorCode.FORBIDDEN
    dataset_sample(rt, people["developer"][1], "sft")
    seen = status(rt, reader)
    assert seen.sft_dataset.exists and not seen.sft_dataset.may_create
    assert not seen.knowledge_base.exists and not seen.agent.may_create


def test_another_tenant_sees_none_of_the_samples_and_gets_its_own(hospital):
    rt, _tenant, people = hospital
    dev = people["developer"][1]
    mine = (dataset_sample(rt, dev, "sft"), knowledge_sample(rt, dev), agent_sample(rt, dev))
    other_tenant = add_tenant(rt, "other-clinic")
    _, other = sign(rt, add_user(rt, "dev@other-clinic.cn", [(other_tenant, "developer")]))
    before = status(rt, other)
    assert not any(s.exists for s in (before.sft_dataset, before.knowledge_base, before.agent))
    assert before.sft_dataset.may_create and before.agent.may_create
    with rt.session() as session:
        assert datasets.list_datasets(session, other) == []
    theirs = (dataset_sample(rt, other, "sft"), knowledge_sample(rt, other), agent_sample(rt, other))
    assert all(t.created for t in theirs)
    assert not {t.id for t in theirs} & {m.id for m in mine}
    assert theirs[2].knowledge_base_id == theirs[1].id
    after = status(rt, dev)
    assert (after.sft_dataset.id, after.knowledge_base.id, after.agent.id) == tuple(m.id for m in mine)


# REST --------------------------------------------------------------------------------------------


@pytest.fixture
def client(hospital):
    rt = hospital[0]
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: rt
    return TestClient(api)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_rest_routes_make_each_sample_once(client, hospital):
    _rt, _tenant, people = hospital
    dev, viewer = auth(people["developer"][0]), auth(people["viewer"][0])
    empty = client.get("/api/samples", headers=dev)
    assert empty.status_code == 200
    assert empty.json()["knowledge_base"] == {"exists": False, "id": "", "may_create": True}
    made = client.post("/api/samples/datasets/sft", headers=dev)
    assert made.status_code == 201 and made.json()["rows"] == 200
    again = client.post("/api/samples/datasets/sft", headers=dev)
    assert again.status_code == 200 and again.json()["created"] is False
    assert client.post("/api/samples/datasets/nope", headers=dev).json()["error"]["code"] == "NOT_FOUND"
    kb = client.post("/api/samples/knowledge-base", headers=dev)
    assert kb.status_code == 201 and kb.json()["documents"] == 20
    agent = client.post("/api/samples/agent", headers=dev, json={"name": "医学问答"})
    assert agent.status_code == 201 and agent.json()["knowledge_base_id"] == kb.json()["id"]
    refused = client.post("/api/samples/agent", headers=viewer)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    listed = client.get("/api/samples", headers=viewer).json()
    assert listed["agent"] == {"exists": True, "id": agent.json()["id"], "may_create": False}
    assert listed["preference_dataset"]["exists"] is False
