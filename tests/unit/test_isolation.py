"""Cross-tenant isolation: every /api endpoint and every service function that takes a principal,
tried by tenant Beta's owner (browser session), Beta's personal key and Beta's tenant key against
tenant Alpha's things. Each must refuse (401/403/404, FORBIDDEN/NOT_FOUND) or, when it acts on the
caller's own tenant, show nothing of Alpha; and Alpha's data must be unchanged afterwards.
(Alpha's people and things are named "aurora", a marker no field name contains: "alpha" is
part of the LoRA hyper-parameter lora_alpha.)

A new endpoint or service function fails ``test_*_matrix_covers_*`` until a case for it is added
here: that is the point, so isolation is checked for every future route too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import io
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select

import backend.api
import backend.services
from backend.adapters.logs import LogLine
from backend.adapters.metrics import Point
from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.api.errors import unknown_path_router
from backend.errors import ErrorCode, MedAIError
from backend.models import (
    AlertEvent,
    DatasetVersion,
    Membership,
    ModelVersion,
    Tenant,
    User,
    UserSession,
    WorkbenchUsage,
)
from backend.runtime import Runtime
from backend.services import pipelines, samples
from backend.services.agents import definitions as agents
from backend.services.agents import market as agent_market
from backend.services.agents import runs as agent_runs
from backend.services.agents import tools as agent_tools
from backend.services.agents import views as agent_views
from backend.services.assets import datasets, images, lineage, model_registry, token_counting, uploads, views
from backend.services.identity import access, api_keys, audit_log, mfa, platform_assets, tenancy
from backend.services.identity import users as identity
from backend.services.identity import views as identity_views
from backend.services.identity.access import Principal
from backend.services.identity.permissions import SCOPES, Action, Area
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge import recall as knowledge_recall
from backend.services.knowledge import reembed as knowledge_reembed
from backend.services.knowledge import views as knowledge_views
from backend.services.knowledge import vocabulary as knowledge_vocabulary
from backend.services.ops import alerts, work_orders
from backend.services.ops import logs as ops_logs
from backend.services.ops import metrics as ops_metrics
from backend.services.ops import views as ops_views
from backend.services.orchestration import clusters
from backend.services.orchestration import pools as orchestration
from backend.services.orchestration import views as orchestration_views
from backend.services.serving import deployments as serving
from backend.services.serving import gateway, starter_model
from backend.services.serving import playground as serving_playground
from backend.services.serving import proxy as serving_proxy
from backend.services.serving import views as serving_views
from backend.services.space import costs as workbench_costs
from backend.services.space import packages as workbench_packages
from backend.services.space import publishing as workbench_publishing
from backend.services.space import views as space_views
from backend.services.space import workbenches
from backend.services.training import jobs as training
from backend.services.training import views as training_views
from tests.unit.identity_world import PASSWORD, add_tenant, add_user, sign

ALL_SCOPES = sorted(SCOPES)
ROWS = b'{"instruction": "Diet for hypertension?", "output": "Less salt."}\n{"instruction": "q", "output": "a"}\n'
KB_TEXT = "Hypertension diet: less salt, more vegetables. 高血压患者应限制钠盐。".encode()


@dataclass
class Side:
    """One tenant's things."""

    tenant: Tenant
    owner: User
    member: User
    key_id: str = ""  # the owner's personal key
    member_key_id: str = ""
    tenant_key_id: str = ""
    tokens: dict[str, str] = field(default_factory=dict)  # credential name -> bearer token
    principals: dict[str, Principal] = field(default_factory=dict)
    dataset: DatasetVersion | None = None
    models: tuple[ModelVersion, ...] = ()  # two versions of one model, trained on the dataset
    image_id: str = ""
    job_id: str = ""
    pipeline_id: str = ""
    deployment_id: str = ""
    deployment_name: str = ""
    run_id: str = ""
    ops: dict[str, str] = field(default_factory=dict)  # operations: alert rule, silence, alert, work order ids
    knowledge: dict[str, str] = field(default_factory=dict)  # knowledge bases: kb, document, recall query ids
    workbench_id: str = ""  # AI space: a workbench (starting) and one waiting for approval
    pending_workbench_id: str = ""
    agents: dict[str, str] = field(default_factory=dict)  # agents: agent, versions, run, tool, host, listing ...


@dataclass
class World:
    a: Side
    b: Side
    markers: tuple[str, ...]  # anything of Alpha's that must never reach Beta
    rt: Runtime


def _key(rt, principal: Principal, kind: str, name: str) -> tuple[str, str]:
    with rt.session() as session:
        view, token = api_keys.create_api_key(session, principal, kind=kind, name=name, scopes=ALL_SCOPES)
    return view.id, token


def _side(rt, slug: str, title: str) -> Side:
    tenant = add_tenant(rt, slug, f"{title} Hospital")
    owner = add_user(rt, f"owner@{slug}.cn", [(tenant, "tenant_owner")], name=f"{title} Owner")
    member = add_user(rt, f"dev@{slug}.cn", [(tenant, "developer")], name=f"{title} Dev")
    side = Side(tenant, owner, member)
    owner_token, owner_principal = sign(rt, owner)
    _, member_principal = sign(rt, member)
    side.key_id, personal = _key(rt, owner_principal, "personal", f"{title} owner laptop")
    member_key, _ = _key(rt, member_principal, "personal", f"{title} dev notebook")
    side.tenant_key_id, tenant_token = _key(rt, owner_principal, "tenant", f"{title} PACS bridge")
    with rt.session() as session:  # some history in the tenant's audit trail, and MFA to reset
        tenancy.invite_member(session, owner_principal, tenant.id, f"nurse@{slug}.cn", f"{title} Nurse", "clinician")
        row = session.get(User, member.id)
        row.mfa_enabled = True
        session.add(row)
    side.member_key_id = member_key
    side.tokens = {"session": owner_token, "personal key": personal, "tenant key": tenant_token}
    _assets(rt, side, owner_principal, slug, title)
    _ops(rt, side, owner_principal, slug)
    _knowledge(rt, side, owner_principal, slug)
    _workbenches(rt, side, owner_principal, slug)
    _agents(rt, side, owner_principal, slug)
    with rt.session() as session:
        side.principals = {
            "session": owner_principal,
            "personal key": api_keys.authenticate_api_key(session, personal),
            "tenant key": api_keys.authenticate_api_key(session, tenant_token),
        }
    return side


def _assets(rt, side: Side, owner: Principal, slug: str, title: str) -> None:
    """A dataset, a model with two versions trained on it (lineage), and a container image."""
    with rt.session() as session:
        side.dataset = datasets.import_version(
            session,
            rt.objects,
            owner,
            name=f"{title} notes",
            filename="notes.jsonl",
            stream=io.BytesIO(ROWS),
            scratch_dir=rt.settings.scratch_dir,
        )
        side.models = tuple(
            model_registry.register_version(
                session,
                rt.objects,
                owner,
                model_registry.VersionSpec(
                    model_name=f"{slug}-model",
                    parameters={"lr": lr},
                    dataset_version_ids=(side.dataset.id,),
                ),
                [("model.safetensors", io.BytesIO(b"weights"))],
                "upload",
            )
            for lr in (1e-4, 2e-4)
        )
        side.image_id = images.register_image(session, owner, f"registry.{slug}.cn/{slug}/trainer:1", "training").id
        side.job_id = training.submit_job(
            session,
            owner,
            training.JobRequest(f"{slug}-sft", "sft", side.models[0].id, (side.dataset.id,), preset="quick-check"),
        ).id
        side.pipeline_id = pipelines.save_pipeline(
            session,
            owner,
            f"{slug}-pipeline",
            [{"name": "check", "kind": "data_check", "config": {"dataset_version_ids": [side.dataset.id]}}],
        ).id
        side.run_id = pipelines.start_run(session, owner, side.pipeline_id).id
        deployment = serving.deploy(session, owner, serving.DeploySpec(f"{slug}-chat", side.models[0].id))
        side.deployment_id, side.deployment_name = deployment.id, deployment.name


# AI space: a workbench with a member, usage and a queued package, and one waiting for approval
def _workbenches(rt, side: Side, owner: Principal, slug: str) -> None:
    with rt.session() as session:
        wb = workbenches.create(session, rt.settings, owner, workbenches.WorkbenchSpec(f"{slug}-lab", cpu=1))
        side.workbench_id = wb.id
        workbenches.add_member(session, owner, wb.id, side.member.email, "editor")
        workbench_packages.request_install(session, owner, wb.id, "rich")
        big = workbenches.WorkbenchSpec(f"{slug}-gpu", gpus=1, reason=f"{slug} needs a GPU")
        side.pending_workbench_id = workbenches.create(session, rt.settings, owner, big).id
        session.add(
            WorkbenchUsage(
                tenant_id=side.tenant.id, workbench_id=wb.id, cpu=1, gpus=0, memory_gb=4, storage_gb=10,
                started_at=datetime(2026, 11, 1, tzinfo=UTC), ended_at=datetime(2026, 11, 2, tzinfo=UTC),
            )
        )  # fmt: skip
    (workbenches.home_folder(rt.settings, side.workbench_id) / "model").mkdir(parents=True)
    (workbenches.home_folder(rt.settings, side.workbench_id) / "model" / "model.safetensors").write_bytes(b"w")


# operations: an alert rule, a silence, a fired alert, a work order waiting for approval, log
# lines and training metrics of the tenant's own
def _ops(rt, side: Side, owner: Principal, slug: str) -> None:
    with rt.session() as session:
        rule = alerts.create_rule(session, owner, alerts.RuleSpec(f"{slug} cpu", "metric", "host", "cpu_pct"))
        silence = alerts.silence(session, owner, rule.id, 60, f"{slug} maintenance")
        event = AlertEvent(
            tenant_id=side.tenant.id, rule_id=rule.id, rule_name=rule.name, status="firing", severity="warning"
        )
        order = work_orders.create_order(
            session,
            owner,
            work_orders.OrderSpec(
                f"{slug} scale", action={"kind": "scale", "deployment_id": side.deployment_id, "replicas": 2}
            ),
        )
        session.add(event)
        session.flush()
        side.ops = {"rule": rule.id, "silence": silence.id, "alert": event.id, "order": order.id}
    now = datetime.now(UTC)
    rt.logs.append([LogLine(now, side.tenant.id, "job", side.job_id, "ERROR", f"{slug} job crashed on ward 3")])
    rt.metrics.write([Point("train", {"job_id": side.job_id, "tenant_id": side.tenant.id}, {"loss": 1.5}, now)])


# knowledge bases: one with a document, a saved recall query and an evaluation run
def _knowledge(rt, side: Side, owner: Principal, slug: str) -> None:
    with rt.session() as session:
        kb = knowledge.create_knowledge_base(session, rt.knowledge, owner, knowledge.KnowledgeBaseSpec(f"{slug} kb"))
        doc = knowledge_documents.upload_document(
            session, rt.knowledge, rt.objects, owner, kb.id, f"{slug}-notes.txt", KB_TEXT
        )
        query = knowledge_recall.save_recall_query(session, owner, kb.id, "hypertension diet", [doc.name])
    with rt.session() as session:
        run = knowledge_recall.evaluate_recall(session, rt.knowledge, owner, kb.id)
    side.knowledge = {"kb": kb.id, "doc": doc.id, "query": query.id, "run": run.id}


# agents: a published agent (two versions) with a conversation, a run and its feedback, an HTTP
# tool with a sealed secret, an allowed host and a tenant-wide market listing
def _agents(rt, side: Side, owner: Principal, slug: str) -> None:
    graph = {
        "nodes": [
            {"id": "start", "type": "start", "data": {"variables": [{"name": "question", "required": True}]}},
            {"id": "template_1", "type": "template", "data": {"template": f"{slug} says {{{{ start.question }}}}"}},
            {"id": "answer_1", "type": "answer", "data": {"answer": "{{template_1.output}}"}},
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "template_1"},
            {"id": "e2", "source": "template_1", "target": "answer_1"},
        ],
    }
    with rt.session() as session:
        agent = agents.create_agent(session, owner, agents.AgentSpec(f"{slug} triage", f"{slug}-triage", graph=graph))
        first = agents.publish(session, owner, agent.id)
        agents.publish(session, owner, agent.id)
        spec = agent_tools.ToolSpec(f"{slug.replace('-', '_')}_lis", f"http://lis.{slug}.cn/q", auth_header="X")
        tool = agent_tools.create_tool(session, rt.keys, owner, dataclasses.replace(spec, auth_secret="k"))
        host = agent_tools.add_allowed_host(session, owner, f"lis.{slug}.cn")
        listing = agent_market.publish_listing(session, owner, agent.id, "tenant")
    run = agent_runs.run_agent(agent_runs.deps_from(rt), owner, agent.id, agent_runs.RunRequest(query=f"{slug} fever"))
    with rt.session() as session:
        agent_runs.give_feedback(session, owner, run.run_id, -1, f"{slug} note")
    side.agents = {
        "agent": agent.id,
        "slug": agent.slug,
        "version": first.id,
        "tool": tool.id,
        "host": host.id,
        "listing": listing.id,
        "run": run.run_id,
        "conversation": run.conversation_id,
    }


def _tenant_scoped_tables() -> list[Any]:
    return [t for t in SQLModel.metadata.sorted_tables if "tenant_id" in t.c and t.name != "audit_event"]


def _rows(session: Session, table: Any, tenant_id: str) -> list[dict[str, Any]]:
    query = sa_select(table).where(table.c.tenant_id == tenant_id)
    return [dict(row) for row in session.connection().execute(query).mappings().all()]


@pytest.fixture
def world(runtime) -> World:
    a, b = _side(runtime, "aurora-hospital", "Aurora"), _side(runtime, "beta-clinic", "Beta")
    found: list[str] = ["aurora", *a.tokens.values()]  # every name, e-mail and slug of Alpha's has "aurora"
    with runtime.session() as session:  # the id of every row Alpha owns, in every tenant-scoped table
        for table in _tenant_scoped_tables():
            found += [row["id"] for row in _rows(session, table, a.tenant.id) if isinstance(row.get("id"), str)]
        found += [row["prefix"] for row in _rows(session, SQLModel.metadata.tables["api_key"], a.tenant.id)]
        found += session.exec(select(Membership.user_id).where(Membership.tenant_id == a.tenant.id)).all()
    assert a.dataset is not None and a.dataset.id in found and a.image_id in found
    return World(a, b, tuple(dict.fromkeys(found)), runtime)


def leaked(world: World, text: str) -> list[str]:
    lowered = text.lower()
    return [m for m in world.markers if m.lower() in lowered]


def snapshot(rt, side: Side) -> dict[str, Any]:
    """Every row of the tenant in every tenant-scoped table, its people and their sessions, and its
    stored objects: what another tenant could try to change. Audit rows are left out on purpose
    (Beta's refused attempts are recorded in Alpha's trail) and so is when a key was last used."""
    with rt.session() as session:
        state: dict[str, Any] = {
            table.name: sorted(
                str({k: v for k, v in row.items() if k != "last_used_at"})
                for row in _rows(session, table, side.tenant.id)
            )
            for table in _tenant_scoped_tables()
        }
        users = session.exec(
            select(User).join(Membership, Membership.user_id == User.id).where(Membership.tenant_id == side.tenant.id)
        ).all()
        state["users"] = sorted(str(u.model_dump()) for u in users)
        state["sessions"] = sorted(
            str(s.model_dump())
            for s in session.exec(select(UserSession).where(UserSession.user_id.in_([u.id for u in users]))).all()
        )
    state["objects"] = sorted((o.key, o.sha256) for o in rt.objects.list(f"tenants/{side.tenant.id}/"))
    return state


# (a) every REST endpoint ---------------------------------------------------------------------

Fill = Callable[[World], dict[str, Any]]


def _none(_w: World) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Call:
    """One way of calling an endpoint as Beta: path parameters, query, JSON body or multipart
    form and files, from the world. ``own`` calls act on Beta's own tenant: they may succeed but
    must show nothing of Alpha's; the others must be refused (401, 403 or 404)."""

    path: Fill = _none
    query: Fill = _none
    body: Callable[[World], Any] = lambda _w: None
    form: Fill = _none
    files: Callable[[World], Any] = lambda _w: None
    own: bool = False


def _a_tenant(w: World) -> dict[str, Any]:
    return {"tenant_id": w.a.tenant.id}


def _a_member(w: World) -> dict[str, Any]:
    return {"tenant_id": w.a.tenant.id, "user_id": w.a.member.id}


def _a_member_from_b(w: World) -> dict[str, Any]:  # Alpha's person, through Beta's own tenant
    return {"tenant_id": w.b.tenant.id, "user_id": w.a.member.id}


def _a_dataset_version(w: World) -> dict[str, Any]:
    assert w.a.dataset is not None
    return {"version_id": w.a.dataset.id}


def _a_model_version(w: World) -> dict[str, Any]:
    return {"version_id": w.a.models[0].id}


def _upload(_w: World) -> Any:
    return {"file": ("notes.jsonl", io.BytesIO(ROWS), "application/octet-stream")}


def _weights(_w: World) -> Any:
    return [("files", ("model.safetensors", io.BytesIO(b"weights"), "application/octet-stream"))]


def _spec_trained_on_alphas_data(w: World) -> dict[str, Any]:
    assert w.a.dataset is not None
    return {"model_name": "beta-borrowed", "dataset_version_ids": [w.a.dataset.id]}


def _forged_download(w: World) -> dict[str, Any]:
    """Beta's own signed link for its dataset, with the key changed to Alpha's file."""
    assert w.a.dataset is not None and w.b.dataset is not None
    with w.rt.session() as session:
        url = datasets.download_url(session, w.rt.objects, w.b.principals["session"], w.b.dataset.id)
    return {**dict(parse_qsl(urlsplit(url).query)), "key": w.a.dataset.object_key}


# Needs no cross-tenant case: no credentials, or nothing of another tenant can be named.
PUBLIC = {
    ("GET", "/api/health"): "no credentials; platform health only",
    ("POST", "/api/auth/login"): "password sign-in; takes no tenant's identifiers",
    ("POST", "/api/auth/mfa"): "finishes one's own sign-in with its own token",
    ("POST", "/api/auth/logout"): "ends the token it is sent with",
    ("POST", "/api/auth/password"): "changes the caller's own password",
    ("GET", "/api/permissions"): "the same static matrix for everyone",
    ("GET", "/api/training/presets"): "static job types, defaults and presets",
}


def _a_deployment(w: World) -> dict[str, Any]:
    return {"deployment_id": w.a.deployment_id}


def _a_job(w: World) -> dict[str, Any]:
    return {"job_id": w.a.job_id}


def _a_workbench(w: World) -> dict[str, Any]:
    return {"workbench_id": w.a.workbench_id}


def _b_workbench(w: World) -> dict[str, Any]:
    return {"workbench_id": w.b.workbench_id}


def _a_kb(w: World) -> dict[str, Any]:
    return {"kb_id": w.a.knowledge["kb"]}


def _b_kb(w: World) -> dict[str, Any]:
    return {"kb_id": w.b.knowledge["kb"]}


def _kb_upload(_w: World) -> Any:
    return {"file": ("beta-notes.txt", io.BytesIO(KB_TEXT), "text/plain")}


def _a_agent(w: World) -> dict[str, Any]:
    return {"agent_id": w.a.agents["agent"]}


def _b_agent(w: World) -> dict[str, Any]:
    return {"agent_id": w.b.agents["agent"]}


def _a_tool(w: World) -> dict[str, Any]:
    return {"tool_id": w.a.agents["tool"]}


CASES: dict[tuple[str, str], tuple[Call, ...]] = {
    ("GET", "/api/jobs"): (Call(own=True),),
    ("POST", "/api/jobs"): (
        Call(
            body=lambda w: {
                "name": "x",
                "base_model_version_id": w.a.models[0].id,
                "dataset_version_ids": [w.b.dataset.id],
            }
        ),
        Call(
            body=lambda w: {
                "name": "x",
                "base_model_version_id": w.b.models[0].id,
                "dataset_version_ids": [w.a.dataset.id],
            }
        ),
    ),
    ("GET", "/api/jobs/{job_id}"): (Call(path=_a_job),),
    ("GET", "/api/jobs/{job_id}/metrics"): (Call(path=_a_job),),
    ("GET", "/api/jobs/{job_id}/log"): (Call(path=_a_job),),
    ("POST", "/api/jobs/{job_id}/cancel"): (Call(path=_a_job),),
    ("POST", "/api/jobs/{job_id}/retry"): (Call(path=_a_job),),
    ("GET", "/api/pipelines"): (Call(own=True),),
    ("PUT", "/api/pipelines"): (
        Call(
            own=True,
            body=lambda w: {
                "name": "beta-p",
                "steps": [{"name": "c", "kind": "data_check", "config": {"dataset_version_ids": [w.a.dataset.id]}}],
            },
        ),
    ),
    ("POST", "/api/pipelines/{pipeline_id}/runs"): (Call(path=lambda w: {"pipeline_id": w.a.pipeline_id}),),
    ("GET", "/api/pipelines/{pipeline_id}/runs"): (Call(path=lambda w: {"pipeline_id": w.a.pipeline_id}),),
    ("GET", "/api/pipeline-runs/{run_id}"): (Call(path=lambda w: {"run_id": w.a.run_id}),),
    ("POST", "/api/pipeline-runs/{run_id}/rerun"): (Call(path=lambda w: {"run_id": w.a.run_id}),),
    ("GET", "/api/deployments"): (Call(own=True),),
    ("POST", "/api/deployments"): (Call(body=lambda w: {"name": "beta-x", "model_version_id": w.a.models[0].id}),),
    ("GET", "/api/deployments/{deployment_id}"): (Call(path=_a_deployment),),
    ("GET", "/api/deployments/{deployment_id}/log"): (Call(path=_a_deployment),),
    ("POST", "/api/deployments/{deployment_id}/version"): (
        Call(path=_a_deployment, body=lambda w: {"model_version_id": w.a.models[1].id}),
        Call(path=_a_deployment, body=lambda w: {"model_version_id": w.b.models[1].id}),
    ),
    ("POST", "/api/deployments/{deployment_id}/rollback"): (Call(path=_a_deployment),),
    ("POST", "/api/deployments/{deployment_id}/scale"): (Call(path=_a_deployment, body=lambda _w: {"replicas": 0}),),
    ("DELETE", "/api/deployments/{deployment_id}"): (Call(path=_a_deployment),),
    ("GET", "/api/platform-services"): (Call(own=True),),
    ("POST", "/api/platform-services/{deployment_id}/scale"): (
        Call(path=_a_deployment, body=lambda _w: {"replicas": 0}),
    ),
    ("GET", "/api/usage"): (Call(own=True),),
    ("GET", "/api/clusters"): (Call(own=True),),
    ("POST", "/api/clusters/test"): (Call(own=True),),
    ("GET", "/v1/models"): (Call(own=True),),
    ("POST", "/v1/chat/completions"): (
        Call(body=lambda w: {"model": w.a.deployment_name, "messages": [{"role": "user", "content": "hi"}]}),
        Call(body=lambda w: {"model": f"agent:{w.a.agents['slug']}", "messages": [{"role": "user", "content": "hi"}]}),
    ),
    # the built-in embedding model is the same for every tenant and holds no tenant data
    ("POST", "/v1/embeddings"): (Call(own=True, body=lambda _w: {"model": "all-minilm-l6-v2", "input": "hi"}),),
    ("POST", "/v1/completions"): (Call(body=lambda w: {"model": w.a.deployment_name, "prompt": "hi"}),),
    ("GET", "/api/pools"): (Call(own=True),),
    ("PUT", "/api/pools"): (
        Call(body=lambda _w: {"name": "local", "compute": "local", "nodes": [{"name": "n", "cpu": 1, "memory_gb": 1}]}),
    ),
    ("GET", "/api/queues"): (Call(own=True),),
    ("PUT", "/api/queues"): (
        Call(body=lambda w: {"tenant_id": w.a.tenant.id, "name": "default", "pool": "local", "nominal_gpus": 0}),
    ),
    ("GET", "/api/me"): (Call(own=True),),
    ("POST", "/api/auth/tenant"): (Call(body=lambda w: {"tenant_id": w.a.tenant.id}),),
    ("GET", "/api/tenants"): (Call(own=True),),
    ("POST", "/api/tenants"): (Call(body=lambda w: {"slug": w.a.tenant.slug, "name": "Taken"}),),
    ("PATCH", "/api/tenants/{tenant_id}"): (Call(path=_a_tenant, body=lambda _w: {"status": "suspended"}),),
    ("GET", "/api/tenants/{tenant_id}/members"): (Call(path=_a_tenant),),
    ("POST", "/api/tenants/{tenant_id}/members"): (
        Call(path=_a_tenant, body=lambda _w: {"email": "spy@beta-clinic.cn", "role": "tenant_owner"}),
    ),
    ("PATCH", "/api/tenants/{tenant_id}/members/{user_id}"): (
        Call(path=_a_member, body=lambda _w: {"role": "viewer"}),
        Call(path=_a_member_from_b, body=lambda _w: {"role": "viewer"}),
    ),
    ("DELETE", "/api/tenants/{tenant_id}/members/{user_id}"): (Call(path=_a_member), Call(path=_a_member_from_b)),
    ("GET", "/api/users"): (Call(),),
    ("PATCH", "/api/users/{user_id}"): (
        Call(path=lambda w: {"user_id": w.a.member.id}, body=lambda _w: {"status": "disabled"}),
        Call(path=lambda w: {"user_id": w.a.owner.id}, body=lambda _w: {"status": "disabled"}),
    ),
    ("POST", "/api/users/{user_id}/reset-mfa"): (Call(path=lambda w: {"user_id": w.a.member.id}),),
    ("GET", "/api/keys"): (Call(own=True),),
    ("POST", "/api/keys"): (Call(own=True, body=lambda _w: {"name": "beta script", "scopes": ["logs:read"]}),),
    ("DELETE", "/api/keys/{key_id}"): (
        Call(path=lambda w: {"key_id": w.a.key_id}),
        Call(path=lambda w: {"key_id": w.a.tenant_key_id}),
        Call(path=lambda w: {"key_id": w.a.member_key_id}),
    ),
    ("GET", "/api/audit"): (Call(own=True), Call(query=_a_tenant)),
    ("GET", "/api/audit.csv"): (Call(own=True), Call(query=_a_tenant)),
    # assets
    ("GET", "/api/datasets"): (Call(own=True), Call(own=True, query=lambda _w: {"search": "aurora"})),
    ("POST", "/api/datasets"): (
        Call(own=True, form=lambda _w: {"name": "beta upload"}, files=_upload),
        Call(  # counting tokens with the tokenizer of Alpha's model
            form=lambda w: {"name": "beta upload", "tokenizer_version_id": w.a.models[0].id}, files=_upload
        ),
    ),
    ("GET", "/api/datasets/{dataset_id}"): (Call(path=lambda w: {"dataset_id": w.a.dataset.dataset_id}),),
    ("GET", "/api/datasets/versions/{version_id}/download"): (Call(path=_a_dataset_version),),
    ("POST", "/api/datasets/versions/{version_id}/retire"): (Call(path=_a_dataset_version),),
    ("DELETE", "/api/datasets/versions/{version_id}"): (Call(path=_a_dataset_version),),
    ("GET", "/api/objects/download"): (Call(query=_forged_download),),
    ("GET", "/api/models"): (Call(own=True), Call(own=True, query=lambda _w: {"search": "aurora"})),
    ("POST", "/api/models"): (
        Call(own=True, form=lambda _w: {"spec": json.dumps({"model_name": "beta-model-2"})}, files=_weights),
        Call(form=lambda w: {"spec": json.dumps(_spec_trained_on_alphas_data(w))}, files=_weights),
    ),
    ("POST", "/api/models/import-path"): (
        Call(
            body=lambda w: {"path": str(w.rt.settings.model_import_roots[0]), "spec": _spec_trained_on_alphas_data(w)}
        ),
        Call(body=lambda w: {"path": str(w.rt.settings.object_store_dir), "spec": {"model_name": "beta-copy"}}),
    ),
    ("GET", "/api/models/{model_id}"): (Call(path=lambda w: {"model_id": w.a.models[0].model_id}),),
    ("GET", "/api/models/versions/{before_id}/diff/{after_id}"): (
        Call(path=lambda w: {"before_id": w.a.models[0].id, "after_id": w.a.models[1].id}),
        Call(path=lambda w: {"before_id": w.b.models[0].id, "after_id": w.a.models[1].id}),
    ),
    ("POST", "/api/models/versions/{version_id}/promote"): (Call(path=_a_model_version),),
    ("PATCH", "/api/models/versions/{version_id}"): (
        Call(path=_a_model_version, body=lambda _w: {"status": "retired"}),
    ),
    ("DELETE", "/api/models/versions/{version_id}"): (Call(path=_a_model_version),),
    ("GET", "/api/images"): (Call(own=True), Call(own=True, query=lambda _w: {"search": "aurora"})),
    ("POST", "/api/images"): (
        Call(own=True, body=lambda _w: {"reference": "registry.beta-clinic.cn/b/serve:2", "purpose": "serving"}),
    ),
    ("POST", "/api/images/{image_id}/retire"): (Call(path=lambda w: {"image_id": w.a.image_id}),),
    # an unknown node has no edges in Beta's tenant: 200 with an empty list, nothing of Alpha's
    ("GET", "/api/lineage/{node_type}/{node_id}"): (
        Call(own=True, path=lambda w: {"node_type": "dataset_version", "node_id": w.a.dataset.id}),
        Call(own=True, path=lambda w: {"node_type": "model_version", "node_id": w.a.models[1].id}),
    ),
    # operations: logs, metrics, alerts, work orders
    ("GET", "/api/logs"): (
        Call(own=True),
        Call(own=True, query=lambda _w: {"q": "aurora crashed"}),
        Call(own=True, query=lambda w: {"source_id": w.a.job_id, "level": "ERROR"}),
        Call(query=lambda _w: {"source": "platform"}),
    ),
    ("GET", "/api/metrics"): (
        Call(own=True, query=lambda _w: {"measurement": "train"}),
        Call(own=True, query=lambda w: {"measurement": "train", "job_id": w.a.job_id}),
    ),
    ("GET", "/api/ops/gpus"): (Call(own=True),),
    ("GET", "/api/ops/cost"): (Call(own=True),),
    ("GET", "/api/alerts/rules"): (Call(own=True),),
    ("POST", "/api/alerts/rules"): (
        Call(own=True, body=lambda _w: {"name": "beta cpu", "kind": "metric", "measurement": "host", "field": "x"}),
    ),
    ("PATCH", "/api/alerts/rules/{rule_id}"): (
        Call(path=lambda w: {"rule_id": w.a.ops["rule"]}, body=lambda _w: {"enabled": False}),
    ),
    ("DELETE", "/api/alerts/rules/{rule_id}"): (Call(path=lambda w: {"rule_id": w.a.ops["rule"]}),),
    ("GET", "/api/alerts/silences"): (Call(own=True),),
    ("POST", "/api/alerts/silences"): (Call(body=lambda w: {"rule_id": w.a.ops["rule"], "minutes": 5}),),
    ("DELETE", "/api/alerts/silences/{silence_id}"): (Call(path=lambda w: {"silence_id": w.a.ops["silence"]}),),
    ("GET", "/api/alerts/history"): (Call(own=True),),
    ("POST", "/api/alerts/history/{event_id}/ack"): (Call(path=lambda w: {"event_id": w.a.ops["alert"]}),),
    ("GET", "/api/work-orders"): (Call(own=True),),
    ("POST", "/api/work-orders"): (
        Call(body=lambda w: {"title": "x", "action": {"kind": "stop", "deployment_id": w.a.deployment_id}}),
        Call(body=lambda w: {"title": "x", "links": [{"kind": "job", "id": w.a.job_id}]}),
        Call(body=lambda w: {"title": "x", "assignee_id": w.a.member.id}),
        Call(
            body=lambda w: {
                "title": "x",
                "emergency": True,
                "action": {"kind": "stop", "deployment_id": w.a.deployment_id},
            }
        ),
    ),
    ("GET", "/api/work-orders/{order_id}"): (Call(path=lambda w: {"order_id": w.a.ops["order"]}),),
    ("POST", "/api/work-orders/{order_id}/comments"): (
        Call(path=lambda w: {"order_id": w.a.ops["order"]}, body=lambda _w: {"body": "spam"}),
    ),
    ("POST", "/api/work-orders/{order_id}/status"): (
        Call(path=lambda w: {"order_id": w.a.ops["order"]}, body=lambda _w: {"status": "closed"}),
    ),
    ("POST", "/api/work-orders/{order_id}/assign"): (
        Call(path=lambda w: {"order_id": w.a.ops["order"]}, body=lambda w: {"user_id": w.b.member.id}),
    ),
    ("POST", "/api/work-orders/{order_id}/approve"): (Call(path=lambda w: {"order_id": w.a.ops["order"]}),),
    ("POST", "/api/work-orders/{order_id}/reject"): (
        Call(path=lambda w: {"order_id": w.a.ops["order"]}, body=lambda _w: {"reason": "no"}),
    ),
    # AI space: Alpha's workbenches, and Beta's own workbench pointed at Alpha's people and assets
    ("GET", "/api/workbenches"): (Call(own=True),),
    ("POST", "/api/workbenches"): (Call(own=True, body=lambda _w: {"name": "beta-lab-2", "cpu": 1}),),
    ("GET", "/api/workbenches/{workbench_id}"): (Call(path=_a_workbench),),
    ("GET", "/api/workbenches/{workbench_id}/activity"): (Call(path=_a_workbench),),
    ("POST", "/api/workbenches/{workbench_id}/start"): (Call(path=_a_workbench),),
    ("POST", "/api/workbenches/{workbench_id}/stop"): (Call(path=_a_workbench),),
    ("POST", "/api/workbenches/{workbench_id}/decision"): (
        Call(path=lambda w: {"workbench_id": w.a.pending_workbench_id}, body=lambda _w: {"approve": True}),
    ),
    ("GET", "/api/workbench-approvals"): (Call(own=True),),
    ("POST", "/api/workbenches/{workbench_id}/members"): (
        Call(path=_a_workbench, body=lambda w: {"email": w.b.member.email, "role": "owner"}),
        Call(path=_b_workbench, body=lambda w: {"email": w.a.member.email, "role": "editor"}),
    ),
    ("DELETE", "/api/workbenches/{workbench_id}/members/{user_id}"): (
        Call(path=lambda w: {"workbench_id": w.a.workbench_id, "user_id": w.a.member.id}),
        Call(path=lambda w: {"workbench_id": w.b.workbench_id, "user_id": w.a.member.id}),
    ),
    ("POST", "/api/workbenches/{workbench_id}/ide"): (Call(path=_a_workbench),),
    ("GET", "/api/workbenches/{workbench_id}/packages"): (Call(path=_a_workbench),),
    ("POST", "/api/workbenches/{workbench_id}/packages"): (
        Call(path=_a_workbench, body=lambda _w: {"requirement": "rich"}),
    ),
    ("GET", "/api/workbench-costs"): (Call(own=True), Call(own=True, query=lambda _w: {"month": "2026-11"})),
    ("PUT", "/api/workbench-budget"): (Call(own=True, body=lambda _w: {"monthly_budget": 100}),),
    ("POST", "/api/workbenches/{workbench_id}/models"): (
        Call(path=_a_workbench, body=lambda _w: {"folder": "model", "spec": {"model_name": "beta-copy"}}),
        Call(path=_b_workbench, body=lambda w: {"folder": "model", "spec": _spec_trained_on_alphas_data(w)}),
    ),
    ("POST", "/api/workbenches/{workbench_id}/jobs"): (
        Call(
            path=_a_workbench,
            body=lambda w: {
                "name": "x",
                "base_model_version_id": w.b.models[0].id,
                "dataset_version_ids": [w.b.dataset.id],
            },
        ),
        Call(
            path=_b_workbench,
            body=lambda w: {
                "name": "x",
                "base_model_version_id": w.a.models[0].id,
                "dataset_version_ids": [w.b.dataset.id],
            },
        ),
    ),
    ("POST", "/api/workbenches/{workbench_id}/deployments"): (
        Call(path=_a_workbench, body=lambda w: {"name": "beta-y", "model_version_id": w.b.models[0].id}),
        Call(path=_b_workbench, body=lambda w: {"name": "beta-y", "model_version_id": w.a.models[0].id}),
    ),
    # knowledge bases
    ("GET", "/api/knowledge-bases"): (Call(own=True),),
    ("POST", "/api/knowledge-bases"): (Call(own=True, body=lambda _w: {"name": "beta kb 2"}),),
    ("GET", "/api/knowledge-bases/{kb_id}"): (Call(path=_a_kb),),
    ("PUT", "/api/knowledge-bases/{kb_id}"): (Call(path=_a_kb, body=lambda _w: {"name": "taken", "top_k": 1}),),
    ("DELETE", "/api/knowledge-bases/{kb_id}"): (Call(path=_a_kb),),
    ("GET", "/api/knowledge-bases/{kb_id}/documents"): (Call(path=_a_kb),),
    ("POST", "/api/knowledge-bases/{kb_id}/documents"): (Call(path=_a_kb, files=_kb_upload),),
    ("DELETE", "/api/knowledge-bases/{kb_id}/documents/{document_id}"): (
        Call(path=lambda w: {"kb_id": w.a.knowledge["kb"], "document_id": w.a.knowledge["doc"]}),
        Call(path=lambda w: {"kb_id": w.b.knowledge["kb"], "document_id": w.a.knowledge["doc"]}),
    ),
    ("GET", "/api/knowledge-bases/{kb_id}/documents/{document_id}/chunks"): (
        Call(path=lambda w: {"kb_id": w.a.knowledge["kb"], "document_id": w.a.knowledge["doc"]}),
        Call(own=True, path=lambda w: {"kb_id": w.b.knowledge["kb"], "document_id": w.a.knowledge["doc"]}),
    ),
    ("GET", "/api/knowledge-bases/{kb_id}/documents/{document_id}/text"): (
        Call(path=lambda w: {"kb_id": w.a.knowledge["kb"], "document_id": w.a.knowledge["doc"]}),
        Call(own=True, path=lambda w: {"kb_id": w.b.knowledge["kb"], "document_id": w.a.knowledge["doc"]}),
    ),
    ("POST", "/api/knowledge-bases/{kb_id}/retrieve"): (
        Call(path=_a_kb, body=lambda _w: {"query": "hypertension"}),
        Call(own=True, path=_b_kb, body=lambda w: {"query": "diet", "filters": {"document_id": w.a.knowledge["doc"]}}),
    ),
    ("GET", "/api/knowledge-bases/{kb_id}/recall-queries"): (Call(path=_a_kb),),
    ("POST", "/api/knowledge-bases/{kb_id}/reembed"): (
        Call(path=_a_kb, body=lambda _w: {"embedding_model": "all-minilm-l6-v2"}),
    ),
    ("PUT", "/api/knowledge-bases/{kb_id}/retrieval-settings"): (
        Call(path=_a_kb, body=lambda _w: {"vector_weight": 0.9, "languages": ["en"]}),
    ),
    ("GET", "/api/knowledge-bases/{kb_id}/vocabulary"): (Call(path=_a_kb),),
    ("PUT", "/api/knowledge-bases/{kb_id}/vocabulary"): (
        Call(path=_a_kb, body=lambda _w: {"terms": ["beta word"], "synonyms": [["a1", "b1"]]}),
    ),
    ("POST", "/api/knowledge-bases/{kb_id}/recall-queries"): (
        Call(path=_a_kb, body=lambda _w: {"query": "x", "expected_documents": ["y"]}),
    ),
    ("DELETE", "/api/knowledge-bases/{kb_id}/recall-queries/{query_id}"): (
        Call(path=lambda w: {"kb_id": w.a.knowledge["kb"], "query_id": w.a.knowledge["query"]}),
        Call(path=lambda w: {"kb_id": w.b.knowledge["kb"], "query_id": w.a.knowledge["query"]}),
    ),
    ("GET", "/api/knowledge-bases/{kb_id}/recall-runs"): (Call(path=_a_kb),),
    ("POST", "/api/knowledge-bases/{kb_id}/recall-runs"): (Call(path=_a_kb, body=lambda _w: {"k": 3}),),
    # agents
    ("GET", "/api/agent-nodes"): (Call(own=True),),
    ("GET", "/api/agents"): (Call(own=True),),
    ("POST", "/api/agents"): (Call(own=True, body=lambda _w: {"name": "Beta bot", "slug": "beta-bot"}),),
    ("GET", "/api/agents/{agent_id}"): (Call(path=_a_agent),),
    ("PATCH", "/api/agents/{agent_id}"): (Call(path=_a_agent, body=lambda _w: {"name": "taken"}),),
    ("DELETE", "/api/agents/{agent_id}"): (Call(path=_a_agent),),
    ("PUT", "/api/agents/{agent_id}/draft"): (Call(path=_a_agent, body=lambda _w: {"graph": {"nodes": []}}),),
    ("POST", "/api/agents/{agent_id}/validate"): (Call(path=_a_agent),),
    ("GET", "/api/agents/{agent_id}/versions"): (Call(path=_a_agent),),
    ("POST", "/api/agents/{agent_id}/publish"): (Call(path=_a_agent, body=lambda _w: {}),),
    ("POST", "/api/agents/{agent_id}/rollback"): (
        Call(path=_a_agent, body=lambda _w: {}),
        Call(path=_b_agent, body=lambda w: {"version_id": w.a.agents["version"]}),
    ),
    ("POST", "/api/agents/{agent_id}/runs"): (
        Call(path=_a_agent, body=lambda _w: {"query": "hi"}),
        Call(path=_b_agent, body=lambda w: {"query": "hi", "conversation_id": w.a.agents["conversation"]}),
    ),
    ("GET", "/api/agents/{agent_id}/runs"): (
        Call(path=_a_agent),
        Call(own=True, path=_b_agent, query=lambda w: {"conversation_id": w.a.agents["conversation"]}),
    ),
    ("GET", "/api/agents/{agent_id}/conversations"): (Call(path=_a_agent),),
    ("GET", "/api/agents/{agent_id}/feedback"): (Call(path=_a_agent),),
    ("GET", "/api/agent-runs/{run_id}"): (Call(path=lambda w: {"run_id": w.a.agents["run"]}),),
    ("POST", "/api/agent-runs/{run_id}/feedback"): (
        Call(path=lambda w: {"run_id": w.a.agents["run"]}, body=lambda _w: {"rating": 1}),
    ),
    ("GET", "/api/agent-templates"): (Call(own=True),),
    ("POST", "/api/agent-templates/{template_id}/install"): (
        Call(
            path=lambda _w: {"template_id": "guideline_qa"},
            body=lambda w: {"name": "g", "slug": "beta-g", "knowledge_base_ids": [w.a.knowledge["kb"]]},
        ),
        Call(
            path=lambda _w: {"template_id": "guideline_qa"},
            body=lambda w: {"name": "g", "slug": "beta-g", "model": w.a.deployment_name},
        ),
    ),
    ("GET", "/api/agent-market"): (Call(own=True),),
    ("POST", "/api/agents/{agent_id}/listings"): (Call(path=_a_agent, body=lambda _w: {"scope": "platform"}),),
    ("DELETE", "/api/agent-market/{listing_id}"): (Call(path=lambda w: {"listing_id": w.a.agents["listing"]}),),
    ("POST", "/api/agent-market/{listing_id}/install"): (
        Call(path=lambda w: {"listing_id": w.a.agents["listing"]}, body=lambda _w: {"slug": "beta-copy"}),
    ),
    ("GET", "/api/agent-tools"): (Call(own=True),),
    ("POST", "/api/agent-tools"): (Call(own=True, body=lambda _w: {"name": "beta_t", "url": "http://beta.cn/x"}),),
    ("GET", "/api/agent-tools/{tool_id}"): (Call(path=_a_tool),),
    ("PUT", "/api/agent-tools/{tool_id}"): (Call(path=_a_tool, body=lambda _w: {"name": "x", "url": "http://x.cn"}),),
    ("DELETE", "/api/agent-tools/{tool_id}"): (Call(path=_a_tool),),
    ("POST", "/api/agent-tools/test"): (Call(body=lambda w: {"ref": w.a.agents["tool"], "arguments": {}}),),
    ("POST", "/api/agent-tools/openapi"): (
        Call(own=True, body=lambda _w: {"document": {"paths": {"/x": {"get": {"operationId": "beta_op"}}}}}),
    ),
    ("GET", "/api/agent-hosts"): (Call(own=True),),
    ("POST", "/api/agent-hosts"): (Call(own=True, body=lambda _w: {"host": "lis.beta-clinic.cn"}),),
    ("DELETE", "/api/agent-hosts/{host_id}"): (Call(path=lambda w: {"host_id": w.a.agents["host"]}),),
    # samples: each acts on the caller's own tenant, by fixed names
    ("GET", "/api/samples"): (Call(own=True),),
    ("POST", "/api/samples/datasets/{which}"): (Call(own=True, path=lambda _w: {"which": "sft"}),),
    ("POST", "/api/samples/knowledge-base"): (Call(own=True),),
    ("POST", "/api/samples/agent"): (Call(own=True),),
}


def _walk(routes: list[Any]) -> list[APIRoute]:
    """The real APIRoute objects, also inside FastAPI's wrappers for included routers."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif getattr(route, "original_router", None) is not None:
            found.extend(_walk(route.original_router.routes))
        elif getattr(route, "routes", None):
            found.extend(_walk(route.routes))
    return found


def platform_routes() -> set[tuple[str, str]]:
    app = backend.api.app
    catch_all = {id(r) for r in unknown_path_router.routes}
    walked = {
        (method, route.path)
        for route in _walk(app.routes)
        if id(route) not in catch_all
        for method in route.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    return {(m, p) for m, p in walked | documented if p.startswith(("/api/", "/v1/"))}


def test_the_endpoint_matrix_covers_every_route():
    routes = platform_routes()
    assert ("GET", "/api/keys") in routes  # the walk found the included routers
    unknown = sorted(routes - set(CASES) - set(PUBLIC))
    assert not unknown, f"add cross-tenant cases to tests/unit/test_isolation.py::CASES for {unknown}"
    stale = sorted((set(CASES) | set(PUBLIC)) - routes)
    assert not stale, f"these routes no longer exist; drop them from the isolation matrix: {stale}"


@pytest.fixture
def client(runtime) -> TestClient:
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    return TestClient(api, raise_server_exceptions=False)


def test_no_endpoint_lets_another_tenant_in(runtime, world, client):
    before = snapshot(runtime, world.a)
    problems: list[str] = []
    for (method, template), calls in CASES.items():
        for call in calls:
            url = template.format(**call.path(world))
            for credential, token in world.b.tokens.items():
                response = client.request(
                    method,
                    url,
                    params=call.query(world),
                    json=call.body(world),
                    data=call.form(world) or None,
                    files=call.files(world),
                    headers={"Authorization": f"Bearer {token}"},
                )
                where = f"{method} {url} as Beta's {credential} -> {response.status_code}"
                expected = response.status_code < 500 if call.own else response.status_code in (401, 403, 404)
                if not expected:
                    problems.append(f"{where}: {response.text[:200]}")
                if leaked(world, response.text):
                    problems.append(f"{where} shows Alpha's {leaked(world, response.text)}")
    assert not problems, "\n".join(problems)
    assert snapshot(runtime, world.a) == before


LISTS = (
    "/api/me",
    "/api/tenants",
    "/api/keys",
    "/api/audit",
    "/api/audit.csv",
    "/api/audit?actor=owner",
    "/api/datasets",
    "/api/models",
    "/api/images",
    "/api/knowledge-bases",
    "/api/workbenches",
    "/api/workbench-approvals",
    "/api/workbench-costs?month=2026-11",
    "/api/agents",
    "/api/agent-tools",
    "/api/agent-market",
)


def test_lists_show_beta_its_own_things_and_nothing_of_alphas(world, client):
    for path in LISTS:
        response = client.get(path, headers={"Authorization": f"Bearer {world.b.tokens['session']}"})
        assert response.status_code == 200, path
        assert "beta" in response.text.lower(), path  # not vacuous: Beta's own data is there
        assert leaked(world, response.text) == [], path


# (b) every service function that takes the acting principal ---------------------------------

Invoke = Callable[[World, Session, Principal], Any]


@dataclass(frozen=True)
class ServiceCall:
    invoke: Invoke
    own: bool = False  # acts on the caller's own user or tenant; may succeed, must return nothing of Alpha's


def _refused(*invokes: Invoke) -> tuple[ServiceCall, ...]:
    return tuple(ServiceCall(i) for i in invokes)


def _own(*invokes: Invoke) -> tuple[ServiceCall, ...]:
    return tuple(ServiceCall(i, own=True) for i in invokes)


def _without_role_in_a(p: Principal, w: World) -> Principal:
    return dataclasses.replace(p, tenant_id=w.a.tenant.id, role=None)


async def _never_hung_up() -> dict:
    await asyncio.Event().wait()
    return {}


def _refuse_unless_false(allowed: bool) -> None:
    if allowed:
        raise AssertionError("may() allowed it")
    raise MedAIError(ErrorCode.FORBIDDEN, "may() said no")


SERVICE_CASES: dict[str, tuple[ServiceCall, ...]] = {
    "identity.access.authorize": _refused(
        lambda w, s, p: access.authorize(s, p, Area.MEMBERS, Action.VIEW, w.a.tenant.id),
        lambda w, s, p: access.authorize(s, p, Area.AUDIT, Action.VIEW, w.a.tenant.id),
    ),
    "identity.access.may": _refused(
        lambda w, s, p: _refuse_unless_false(access.may(s, p, Area.MEMBERS, Action.VIEW, w.a.tenant.id))
    ),
    "identity.access.require_member": _refused(
        lambda w, s, p: access.require_member(s, _without_role_in_a(p, w), "api_key.create")
    ),
    "identity.access.require_interactive": _own(lambda w, s, p: access.require_interactive(s, p, "api_key.create")),
    "identity.access.deny": _own(lambda w, s, p: access.deny(s, p, "members.view", "other_tenant", w.a.tenant.id)),
    "identity.users.switch_tenant": _refused(
        lambda w, s, p: identity.switch_tenant(s, p, w.b.tokens["session"], w.a.tenant.id)
    ),
    "identity.users.change_password": _own(
        lambda w, s, p: identity.change_password(s, p, w.b.tokens["session"], PASSWORD, "beta's new passphrase")
    ),
    "identity.tenancy.create_tenant": _refused(lambda w, s, p: tenancy.create_tenant(s, p, w.a.tenant.slug, "Taken")),
    "identity.tenancy.set_tenant_status": _refused(
        lambda w, s, p: tenancy.set_tenant_status(s, p, w.a.tenant.id, "suspended")
    ),
    "identity.tenancy.list_tenants": _own(lambda w, s, p: tenancy.list_tenants(s, p)),
    "identity.tenancy.list_members": _refused(lambda w, s, p: tenancy.list_members(s, p, w.a.tenant.id)),
    "identity.tenancy.invite_member": _refused(
        lambda w, s, p: tenancy.invite_member(s, p, w.a.tenant.id, "spy@beta-clinic.cn", "Spy", "viewer")
    ),
    "identity.tenancy.set_member_role": _refused(
        lambda w, s, p: tenancy.set_member_role(s, p, w.a.tenant.id, w.a.member.id, "viewer"),
        lambda w, s, p: tenancy.set_member_role(s, p, w.b.tenant.id, w.a.member.id, "viewer"),
    ),
    "identity.tenancy.remove_member": _refused(
        lambda w, s, p: tenancy.remove_member(s, p, w.a.tenant.id, w.a.member.id),
        lambda w, s, p: tenancy.remove_member(s, p, w.b.tenant.id, w.a.member.id),
    ),
    "identity.tenancy.list_users": _refused(lambda w, s, p: tenancy.list_users(s, p)),
    "identity.tenancy.set_user_status": _refused(
        lambda w, s, p: tenancy.set_user_status(s, p, w.a.member.id, "disabled"),
        lambda w, s, p: tenancy.set_user_status(s, p, w.a.owner.id, "disabled"),
    ),
    "identity.tenancy.reset_mfa": _refused(lambda w, s, p: tenancy.reset_mfa(s, p, w.a.member.id)),
    "identity.api_keys.create_api_key": _own(
        lambda w, s, p: api_keys.create_api_key(s, p, kind="personal", name="beta", scopes=["logs:read"])
    ),
    "identity.api_keys.list_api_keys": _own(lambda w, s, p: api_keys.list_api_keys(s, p)),
    "identity.api_keys.revoke_api_key": _refused(
        lambda w, s, p: api_keys.revoke_api_key(s, p, w.a.key_id),
        lambda w, s, p: api_keys.revoke_api_key(s, p, w.a.tenant_key_id),
    ),
    "identity.audit_log.search": _refused(
        lambda w, s, p: audit_log.search(s, p, audit_log.AuditFilter(tenant_id=w.a.tenant.id))
    )
    + _own(lambda w, s, p: audit_log.search(s, p, audit_log.AuditFilter())),
    "identity.audit_log.export_csv": _refused(
        lambda w, s, p: audit_log.export_csv(s, p, audit_log.AuditFilter(tenant_id=w.a.tenant.id))
    )
    + _own(lambda w, s, p: audit_log.export_csv(s, p, audit_log.AuditFilter())),
    # The second factor is always the caller's own: nothing of another user can be named.
    "identity.mfa.begin_enrollment": _own(lambda w, s, p: mfa.begin_enrollment(s, w.rt.keys, p)),
    "identity.mfa.confirm_enrollment": _own(
        lambda w, s, p: mfa.confirm_enrollment(s, w.rt.cache, w.rt.keys, p, "000000")
    ),
    "identity.mfa.regenerate_recovery_codes": _own(
        lambda w, s, p: mfa.regenerate_recovery_codes(s, w.rt.cache, w.rt.keys, p, "000000")
    ),
    "identity.mfa.disable": _own(lambda w, s, p: mfa.disable(s, w.rt.cache, w.rt.keys, p, "000000")),
    "identity.mfa.remaining_recovery_codes": _own(lambda w, s, p: mfa.remaining_recovery_codes(s, p)),
    "identity.mfa.is_enabled": _own(lambda w, s, p: mfa.is_enabled(s, p)),
    "identity.views.signed_in": _own(lambda w, s, p: identity_views.signed_in(s, p)),
    "identity.views.admin_overview": _own(lambda w, s, p: identity_views.admin_overview(s, p)),
    "identity.views.mfa_status": _own(lambda w, s, p: identity_views.mfa_status(s, p)),
    "identity.views.listed_keys": _own(
        lambda w, s, p: identity_views.listed_keys(s, p, personal_only=True),
        lambda w, s, p: identity_views.listed_keys(s, p, personal_only=False),
    ),
    # Who may not read the trail gets None (the tab is hidden), so every case may succeed but show nothing of Alpha.
    "identity.views.audit_page": _own(
        lambda w, s, p: identity_views.audit_page(s, p, audit_log.AuditFilter(tenant_id=w.a.tenant.id), 25, 0),
        lambda w, s, p: identity_views.audit_page(s, p, audit_log.AuditFilter(), 25, 0),
    ),
    # assets
    "assets.datasets.import_version": _own(
        lambda w, s, p: datasets.import_version(
            s,
            w.rt.objects,
            p,
            name="beta",
            filename="b.jsonl",
            stream=io.BytesIO(ROWS),
            scratch_dir=w.rt.settings.scratch_dir,
        )
    ),
    "assets.datasets.list_datasets": _own(
        lambda w, s, p: datasets.list_datasets(s, p), lambda w, s, p: datasets.list_datasets(s, p, "aurora")
    ),
    "assets.datasets.get_dataset": _refused(lambda w, s, p: datasets.get_dataset(s, p, w.a.dataset.dataset_id)),
    "assets.datasets.download_url": _refused(lambda w, s, p: datasets.download_url(s, w.rt.objects, p, w.a.dataset.id)),
    "assets.datasets.retire_version": _refused(lambda w, s, p: datasets.retire_version(s, p, w.a.dataset.id)),
    "assets.datasets.delete_version": _refused(
        lambda w, s, p: datasets.delete_version(s, w.rt.objects, p, w.a.dataset.id)
    ),
    "assets.model_registry.register_version": _refused(
        lambda w, s, p: model_registry.register_version(
            s,
            w.rt.objects,
            p,
            model_registry.VersionSpec(**{**_spec_trained_on_alphas_data(w), "dataset_version_ids": (w.a.dataset.id,)}),
            [("model.safetensors", io.BytesIO(b"weights"))],
            "upload",
        )
    ),
    "training.jobs.submit_job": _refused(
        lambda w, s, p: training.submit_job(s, p, training.JobRequest("x", "sft", w.a.models[0].id, (w.b.dataset.id,))),
        lambda w, s, p: training.submit_job(s, p, training.JobRequest("x", "sft", w.b.models[0].id, (w.a.dataset.id,))),
    ),
    # (ids, names and tenants only: hyper-parameters hold the word "lora_alpha", which is no leak)
    "serving.deployments.deploy": _refused(
        lambda w, s, p: serving.deploy(s, p, serving.DeploySpec("beta-x", w.a.models[0].id)),
        lambda w, s, p: serving.deploy(s, p, serving.DeploySpec(w.a.deployment_name, w.b.models[0].id, standby="x")),
    ),
    "serving.deployments.list_deployments": _own(lambda w, s, p: serving.list_deployments(s, p)),
    "serving.deployments.get_deployment": _refused(lambda w, s, p: serving.get_deployment(s, p, w.a.deployment_id)),
    "serving.deployments.update_version": _refused(
        lambda w, s, p: serving.update_version(s, p, w.a.deployment_id, w.a.models[1].id),
        lambda w, s, p: serving.update_version(s, p, w.b.deployment_id, w.a.models[1].id),
    ),
    "serving.deployments.rollback": _refused(lambda w, s, p: serving.rollback(s, p, w.a.deployment_id)),
    "serving.deployments.scale": _refused(lambda w, s, p: serving.scale(s, p, w.a.deployment_id, 3)),
    "serving.deployments.stop": _refused(lambda w, s, p: serving.stop(s, p, w.a.deployment_id)),
    "serving.deployments.delete_deployment": _refused(
        lambda w, s, p: serving.delete_deployment(s, p, w.a.deployment_id)
    ),
    "serving.gateway.routes": _refused(lambda w, s, p: gateway.routes(s, p, w.a.deployment_name)),
    "orchestration.clusters.list_clusters": _own(lambda w, s, p: clusters.list_clusters(s, p, w.rt.settings)),
    "orchestration.clusters.test_connection": _own(lambda w, s, p: clusters.test_connection(s, p, w.rt.settings)),
    "serving.gateway.available_models": _own(lambda w, s, p: gateway.available_models(s, p)),
    "serving.gateway.callable_models": _own(lambda w, s, p: gateway.callable_models(s, p)),
    "identity.platform_assets.list_platform_services": _own(
        lambda w, s, p: platform_assets.list_platform_services(s, p)
    ),
    "identity.platform_assets.as_platform": _refused(lambda w, s, p: platform_assets.as_platform(s, p, Action.UPDATE)),
    "serving.starter_model.scale_platform_service": _refused(
        lambda w, s, p: starter_model.scale_platform_service(s, p, w.a.deployment_id, 0)
    ),
    "serving.gateway.embed": _own(
        lambda w, s, p: (
            gateway.embed(
                s, p, w.rt.cache, gateway.Limits(100, 100, 10_000), w.rt.knowledge.builtins, "all-minilm-l6-v2", ["hi"]
            ).prompt_tokens
        )
    ),
    "serving.gateway.usage": _own(lambda w, s, p: gateway.usage(s, p)),
    "serving.gateway.traffic": _own(lambda w, s, p: gateway.traffic(s, p)),
    "serving.gateway.listed_models": _own(
        lambda w, s, p: gateway.listed_models(s, p), lambda w, s, p: gateway.listed_models(s, p, sees_others=True)
    ),
    "serving.deployments.replica_log": _refused(
        lambda w, s, p: serving.replica_log(s, p, w.rt.compute, w.a.deployment_id, 0)
    ),
    "serving.views.version_labels": _own(lambda w, s, p: serving_views.version_labels(s, p)),
    "serving.views.service_list": _own(lambda w, s, p: serving_views.service_list(s, p)),
    "serving.views.overview": _own(lambda w, s, p: serving_views.overview(s, p)),
    "serving.views.service_detail": _refused(
        lambda w, s, p: serving_views.service_detail(s, p, w.a.deployment_id, "http://medai.test")
    ),
    "serving.playground.service_choices": _own(lambda w, s, p: serving_playground.service_choices(s, p)),
    "serving.proxy.forward": _refused(
        lambda w, s, p: asyncio.run(
            serving_proxy.forward(
                p, serving_proxy.deps_from(w.rt), "chat/completions", {"model": w.a.deployment_name}, _never_hung_up
            )
        )
    ),
    "serving.proxy.embeddings": _own(
        lambda w, s, p: (
            asyncio.run(
                serving_proxy.embeddings(
                    s, p, serving_proxy.deps_from(w.rt), w.rt.knowledge.builtins, "all-minilm-l6-v2", ["hi"]
                )
            ).prompt_tokens
        )
    ),
    # limits are counted for the route the caller already resolved (its own tenant's)
    "serving.gateway.admit": _own(
        lambda w, s, p: gateway.admit(
            w.rt.cache,
            gateway.Limits(100, 100, 10_000),
            p,
            gateway.routes(s, p, w.b.deployment_name),
        )
    ),
    "pipelines.list_pipelines": _own(lambda w, s, p: pipelines.list_pipelines(s, p)),
    "pipelines.save_pipeline": _refused(
        lambda w, s, p: pipelines.save_pipeline(
            s, p, "beta-p", [{"name": "c", "kind": "data_check", "config": {"dataset_version_ids": [w.a.dataset.id]}}]
        )
    ),
    "pipelines.start_run": _refused(lambda w, s, p: pipelines.start_run(s, p, w.a.pipeline_id)),
    "pipelines.list_runs": _refused(lambda w, s, p: pipelines.list_runs(s, p, w.a.pipeline_id)),
    "pipelines.get_run": _refused(lambda w, s, p: pipelines.get_run(s, p, w.a.run_id)),
    "pipelines.rerun": _refused(lambda w, s, p: pipelines.rerun(s, p, w.a.run_id)),
    "pipelines.pipeline_overview": _own(lambda w, s, p: pipelines.pipeline_overview(s, p, w.a.pipeline_id)),
    "pipelines.pipeline_steps": _refused(lambda w, s, p: pipelines.pipeline_steps(s, p, w.a.pipeline_id)),
    "orchestration.views.overview": _own(lambda w, s, p: orchestration_views.overview(s, p)),
    "orchestration.pools.list_pools": _own(lambda w, s, p: orchestration.list_pools(s, p)),
    "orchestration.pools.list_queues": _own(lambda w, s, p: orchestration.list_queues(s, p)),
    "orchestration.pools.save_pool": _refused(
        lambda w, s, p: orchestration.save_pool(s, p, "local", "local", [{"name": "n", "cpu": 1, "memory_gb": 1}])
    ),
    "orchestration.pools.save_queue": _refused(
        lambda w, s, p: orchestration.save_queue(s, p, w.a.tenant.id, "default", "local", 8)
    ),
    "orchestration.pools.set_node_draining": _refused(  # the platform's nodes: no tenant's people drain them
        lambda w, s, p: orchestration.set_node_draining(
            s, p, "local", orchestration.local_pool(s).nodes[0]["name"], True
        )
    ),
    "training.jobs.list_jobs": _own(lambda w, s, p: [(j.id, j.name, j.tenant_id) for j in training.list_jobs(s, p)]),
    "training.jobs.get_job": _refused(lambda w, s, p: training.get_job(s, p, w.a.job_id)),
    "training.jobs.job_curves": _refused(lambda w, s, p: training.job_curves(s, w.rt.metrics, p, w.a.job_id)),
    "training.jobs.job_log": _refused(lambda w, s, p: training.job_log(s, w.rt.compute, p, w.a.job_id)),
    "training.jobs.cancel_job": _refused(lambda w, s, p: training.cancel_job(s, w.rt.compute, p, w.a.job_id)),
    "training.jobs.retry_job": _refused(lambda w, s, p: training.retry_job(s, p, w.a.job_id)),
    "training.views.job_choices": _own(lambda w, s, p: training_views.job_choices(s, p)),
    "training.views.job_listings": _own(lambda w, s, p: training_views.job_listings(s, p, w.rt.metrics)),
    "training.views.job_detail": _refused(
        lambda w, s, p: training_views.job_detail(s, p, w.rt.metrics, w.rt.compute, w.a.job_id, 10)
    ),
    "training.views.compare_curves": _refused(
        lambda w, s, p: training_views.compare_curves(s, p, w.rt.metrics, [w.b.job_id, w.a.job_id])
    ),
    "assets.model_registry.list_models": _own(
        lambda w, s, p: model_registry.list_models(s, p), lambda w, s, p: model_registry.list_models(s, p, "aurora")
    ),
    "assets.model_registry.get_model": _refused(lambda w, s, p: model_registry.get_model(s, p, w.a.models[0].model_id)),
    "assets.model_registry.diff_parameters": _refused(
        lambda w, s, p: model_registry.diff_parameters(s, p, w.a.models[0].id, w.a.models[1].id),
        lambda w, s, p: model_registry.diff_parameters(s, p, w.b.models[0].id, w.a.models[1].id),
    ),
    "assets.model_registry.promote": _refused(lambda w, s, p: model_registry.promote(s, p, w.a.models[0].id)),
    "assets.model_registry.set_status": _refused(
        lambda w, s, p: model_registry.set_status(s, p, w.a.models[0].id, "retired")
    ),
    "assets.model_registry.delete_version": _refused(
        lambda w, s, p: model_registry.delete_version(s, w.rt.objects, p, w.a.models[1].id)
    ),
    "assets.images.register_image": _own(
        lambda w, s, p: images.register_image(s, p, "registry.beta-clinic.cn/b/lab:3", "workbench")
    ),
    "assets.images.list_images": _own(
        lambda w, s, p: images.list_images(s, p), lambda w, s, p: images.list_images(s, p, "", "aurora")
    ),
    "assets.images.retire_image": _refused(lambda w, s, p: images.retire_image(s, p, w.a.image_id)),
    "assets.lineage.graph": _own(
        lambda w, s, p: lineage.graph(s, p, lineage.Node("dataset_version", w.a.dataset.id)),
        lambda w, s, p: lineage.graph(s, p, lineage.Node("model_version", w.a.models[0].id)),
    ),
    "assets.token_counting.counter_for": _refused(
        lambda w, s, p: token_counting.counter_for(
            s, w.rt.objects, p, w.a.models[0].id, w.rt.settings.data_dir / "cache"
        )
    ),
    "assets.uploads.import_dataset": _own(
        lambda w, s, p: uploads.import_dataset(
            s,
            p,
            w.rt.objects,
            name="beta",
            filename="b.JSONL",
            stream=io.BytesIO(ROWS),
            scratch_dir=w.rt.settings.scratch_dir,
            cache_dir=w.rt.settings.data_dir / "cache",
        )
    )
    + _refused(  # counted with Alpha's tokenizer
        lambda w, s, p: uploads.import_dataset(
            s,
            p,
            w.rt.objects,
            name="beta",
            filename="b.jsonl",
            stream=io.BytesIO(ROWS),
            scratch_dir=w.rt.settings.scratch_dir,
            cache_dir=w.rt.settings.data_dir / "cache",
            tokenizer_version_id=w.a.models[0].id,
        )
    ),
    "assets.uploads.register_uploaded_model": _refused(
        lambda w, s, p: uploads.register_uploaded_model(
            s,
            p,
            w.rt.objects,
            model_registry.VersionSpec(**{**_spec_trained_on_alphas_data(w), "dataset_version_ids": (w.a.dataset.id,)}),
            [("model.safetensors", io.BytesIO(b"weights"))],
        )
    ),
    "assets.uploads.register_model_from_folder": _refused(
        lambda w, s, p: uploads.register_model_from_folder(
            s,
            p,
            w.rt.objects,
            model_registry.VersionSpec(**{**_spec_trained_on_alphas_data(w), "dataset_version_ids": (w.a.dataset.id,)}),
            workbenches.home_folder(w.rt.settings, w.b.workbench_id),
            [workbenches.home_folder(w.rt.settings, w.b.workbench_id)],
        )
    ),
    "assets.views.assets_overview": _own(
        lambda w, s, p: views.assets_overview(s, p),
        lambda w, s, p: views.assets_overview(
            s, p, dataset_search="aurora", model_search="aurora", image_search="aurora"
        ),
    ),
    "assets.views.dataset_page": _refused(lambda w, s, p: views.dataset_page(s, p, w.a.dataset.dataset_id)),
    "assets.views.model_page": _refused(lambda w, s, p: views.model_page(s, p, w.a.models[0].model_id)),
    "assets.views.lineage_view": _own(
        lambda w, s, p: views.lineage_view(s, p, lineage.Node("dataset_version", w.a.dataset.id)),
        lambda w, s, p: views.lineage_view(s, p, lineage.Node("model_version", w.a.models[0].id)),
        lambda w, s, p: views.lineage_view(s, p, lineage.Node("dataset_version", w.b.dataset.id)),
    ),
    # operations: logs, metrics, alerts, work orders
    "ops.logs.search_logs": _own(
        lambda w, s, p: ops_logs.search_logs(s, w.rt.logs, p, "aurora crashed"),
        lambda w, s, p: ops_logs.search_logs(s, w.rt.logs, p, source_id=w.a.job_id),
    )
    + _refused(lambda w, s, p: ops_logs.search_logs(s, w.rt.logs, p, sources=("platform",))),
    "ops.metrics.query_metrics": _own(
        lambda w, s, p: ops_metrics.query_metrics(s, w.rt.metrics, p, "train", tags={"job_id": w.a.job_id}),
        lambda w, s, p: ops_metrics.query_metrics(s, w.rt.metrics, p, "train"),
    ),
    "ops.metrics.gpu_inventory": _own(lambda w, s, p: ops_metrics.gpu_inventory(s, p, w.rt.collectors)),
    "ops.metrics.resource_hours": _own(lambda w, s, p: ops_metrics.resource_hours(s, p)),
    "ops.alerts.create_rule": _own(
        lambda w, s, p: alerts.create_rule(s, p, alerts.RuleSpec("beta cpu", "metric", "host", "cpu_pct"))
    ),
    "ops.alerts.list_rules": _own(lambda w, s, p: alerts.list_rules(s, p)),
    "ops.alerts.set_enabled": _refused(lambda w, s, p: alerts.set_enabled(s, p, w.a.ops["rule"], False)),
    "ops.alerts.delete_rule": _refused(lambda w, s, p: alerts.delete_rule(s, p, w.a.ops["rule"])),
    "ops.alerts.silence": _refused(lambda w, s, p: alerts.silence(s, p, w.a.ops["rule"], 5)),
    "ops.alerts.list_silences": _own(lambda w, s, p: alerts.list_silences(s, p)),
    "ops.alerts.end_silence": _refused(lambda w, s, p: alerts.end_silence(s, p, w.a.ops["silence"])),
    "ops.alerts.history": _own(lambda w, s, p: alerts.history(s, p)),
    "ops.alerts.acknowledge": _refused(lambda w, s, p: alerts.acknowledge(s, p, w.a.ops["alert"])),
    "ops.work_orders.create_order": _refused(
        lambda w, s, p: work_orders.create_order(
            s, p, work_orders.OrderSpec("x", action={"kind": "stop", "deployment_id": w.a.deployment_id})
        ),
        lambda w, s, p: work_orders.create_order(
            s,
            p,
            work_orders.OrderSpec("x", action={"kind": "stop", "deployment_id": w.a.deployment_id}, emergency=True),
        ),
        lambda w, s, p: work_orders.create_order(
            s, p, work_orders.OrderSpec("x", links=({"kind": "alert", "id": w.a.ops["alert"]},))
        ),
        lambda w, s, p: work_orders.create_order(s, p, work_orders.OrderSpec("x", assignee_id=w.a.member.id)),
    ),
    "ops.work_orders.list_orders": _own(lambda w, s, p: work_orders.list_orders(s, p)),
    "ops.work_orders.get_order": _refused(lambda w, s, p: work_orders.get_order(s, p, w.a.ops["order"])),
    "ops.work_orders.set_status": _refused(lambda w, s, p: work_orders.set_status(s, p, w.a.ops["order"], "closed")),
    "ops.work_orders.assign": _refused(lambda w, s, p: work_orders.assign(s, p, w.a.ops["order"], w.b.member.id)),
    "ops.work_orders.comment": _refused(lambda w, s, p: work_orders.comment(s, p, w.a.ops["order"], "spam")),
    "ops.work_orders.approve": _refused(lambda w, s, p: work_orders.approve(s, p, w.a.ops["order"])),
    "ops.work_orders.reject": _refused(lambda w, s, p: work_orders.reject(s, p, w.a.ops["order"])),
    "ops.views.dashboard": _own(lambda w, s, p: ops_views.dashboard(s, p, w.rt.metrics, w.rt.collectors, (1.0, 1.0))),
    "ops.views.search_log_page": _own(
        lambda w, s, p: ops_views.search_log_page(s, w.rt.logs, p, ops_views.LogFilter("aurora crashed", since="all"))
    )
    + _refused(lambda w, s, p: ops_views.search_log_page(s, w.rt.logs, p, ops_views.LogFilter(source="platform"))),
    "ops.views.alerts_overview": _own(lambda w, s, p: ops_views.alerts_overview(s, p)),
    "ops.views.work_order_detail": _refused(lambda w, s, p: ops_views.work_order_detail(s, p, w.a.ops["order"])),
    # AI space
    "space.workbenches.create": _own(
        lambda w, s, p: workbenches.create(s, w.rt.settings, p, workbenches.WorkbenchSpec("beta-lab-3", cpu=1))
    ),
    "space.workbenches.list_workbenches": _own(lambda w, s, p: workbenches.list_workbenches(s, p)),
    "space.workbenches.get_workbench": _refused(lambda w, s, p: workbenches.get_workbench(s, p, w.a.workbench_id)),
    "space.workbenches.activity": _refused(lambda w, s, p: workbenches.activity(s, p, w.a.workbench_id)),
    "space.workbenches.list_approvals": _own(lambda w, s, p: workbenches.list_approvals(s, p, "")),
    "space.workbenches.decide": _refused(
        lambda w, s, p: workbenches.decide(s, p, w.a.pending_workbench_id, True),
        lambda w, s, p: workbenches.decide(s, p, w.a.pending_workbench_id, False),
    ),
    "space.workbenches.start": _refused(lambda w, s, p: workbenches.start(s, p, w.a.workbench_id)),
    "space.workbenches.stop": _refused(lambda w, s, p: workbenches.stop(s, p, w.a.workbench_id)),
    "space.workbenches.add_member": _refused(
        lambda w, s, p: workbenches.add_member(s, p, w.a.workbench_id, w.b.member.email, "owner"),
        lambda w, s, p: workbenches.add_member(s, p, w.b.workbench_id, w.a.member.email, "editor"),
    ),
    "space.workbenches.remove_member": _refused(
        lambda w, s, p: workbenches.remove_member(s, p, w.a.workbench_id, w.a.member.id),
        lambda w, s, p: workbenches.remove_member(s, p, w.b.workbench_id, w.a.member.id),
    ),
    "space.workbenches.open_ide": _refused(lambda w, s, p: workbenches.open_ide(s, w.rt.keys, p, w.a.workbench_id)),
    "space.costs.cost_report": _own(lambda w, s, p: workbench_costs.cost_report(s, w.rt.settings, p, "2026-11")),
    "space.costs.set_budget": _own(lambda w, s, p: workbench_costs.set_budget(s, p, 50)),
    "space.views.overview": _own(lambda w, s, p: space_views.overview(s, p, w.rt.settings)),
    "space.views.workbench_detail": _refused(
        lambda w, s, p: space_views.workbench_detail(s, p, w.rt.settings, w.a.workbench_id)
    ),
    "space.packages.request_install": _refused(
        lambda w, s, p: workbench_packages.request_install(s, p, w.a.workbench_id, "rich")
    ),
    "space.packages.list_packages": _refused(lambda w, s, p: workbench_packages.list_packages(s, p, w.a.workbench_id)),
    "space.publishing.register_model": _refused(
        lambda w, s, p: workbench_publishing.register_model(
            s, w.rt.objects, w.rt.settings, p, w.a.workbench_id, "model", model_registry.VersionSpec("beta-copy")
        ),
        lambda w, s, p: workbench_publishing.register_model(
            s,
            w.rt.objects,
            w.rt.settings,
            p,
            w.b.workbench_id,
            "model",
            model_registry.VersionSpec("beta-borrowed", dataset_version_ids=(w.a.dataset.id,)),
        ),
    ),
    "space.publishing.submit_job": _refused(
        lambda w, s, p: workbench_publishing.submit_job(
            s, p, w.a.workbench_id, training.JobRequest("x", "sft", w.b.models[0].id, (w.b.dataset.id,))
        ),
        lambda w, s, p: workbench_publishing.submit_job(
            s, p, w.b.workbench_id, training.JobRequest("x", "sft", w.a.models[0].id, (w.b.dataset.id,))
        ),
    ),
    "space.publishing.publish_service": _refused(
        lambda w, s, p: workbench_publishing.publish_service(
            s, p, w.a.workbench_id, serving.DeploySpec("beta-y", w.b.models[0].id)
        ),
        lambda w, s, p: workbench_publishing.publish_service(
            s, p, w.b.workbench_id, serving.DeploySpec("beta-y", w.a.models[0].id)
        ),
    ),
    # knowledge bases
    "knowledge.bases.create_knowledge_base": _own(
        lambda w, s, p: knowledge.create_knowledge_base(s, w.rt.knowledge, p, knowledge.KnowledgeBaseSpec("beta kb 2"))
    )
    + _refused(  # sharing with Alpha's member
        lambda w, s, p: knowledge.create_knowledge_base(
            s, w.rt.knowledge, p, knowledge.KnowledgeBaseSpec("beta kb 3", member_ids=(w.a.member.id,))
        )
    ),
    "knowledge.bases.update_knowledge_base": _refused(
        lambda w, s, p: knowledge.update_knowledge_base(
            s, w.rt.knowledge, p, w.a.knowledge["kb"], knowledge.KnowledgeBaseSpec("taken")
        )
    ),
    "knowledge.bases.delete_knowledge_base": _refused(
        lambda w, s, p: knowledge.delete_knowledge_base(s, w.rt.knowledge, w.rt.objects, p, w.a.knowledge["kb"])
    ),
    "knowledge.bases.list_knowledge_bases": _own(lambda w, s, p: knowledge.list_knowledge_bases(s, p))
    + _refused(lambda w, s, p: knowledge.list_knowledge_bases(s, p, w.a.tenant.id)),
    "knowledge.bases.get_knowledge_base": _refused(
        lambda w, s, p: knowledge.get_knowledge_base(s, p, w.a.knowledge["kb"])
    ),
    "knowledge.bases.retrieve": _refused(
        lambda w, s, p: knowledge.retrieve(s, w.rt.knowledge, p, w.a.knowledge["kb"], "hypertension")
    )
    + _own(  # Alpha's document id as a filter on Beta's own knowledge base finds nothing
        lambda w, s, p: knowledge.retrieve(
            s, w.rt.knowledge, p, w.b.knowledge["kb"], "hypertension", filters={"document_id": w.a.knowledge["doc"]}
        )
    ),
    "knowledge.documents.preview_chunks": _refused(
        lambda w, s, p: knowledge_documents.preview_chunks(s, p, w.a.knowledge["kb"], "x.txt", KB_TEXT)
    ),
    "knowledge.documents.upload_document": _refused(
        lambda w, s, p: knowledge_documents.upload_document(
            s, w.rt.knowledge, w.rt.objects, p, w.a.knowledge["kb"], "x.txt", KB_TEXT
        )
    ),
    "knowledge.documents.list_documents": _refused(
        lambda w, s, p: knowledge_documents.list_documents(s, p, w.a.knowledge["kb"])
    ),
    "knowledge.documents.list_chunks": _refused(
        lambda w, s, p: knowledge_documents.list_chunks(s, p, w.a.knowledge["kb"], w.a.knowledge["doc"])
    )
    + _own(lambda w, s, p: knowledge_documents.list_chunks(s, p, w.b.knowledge["kb"], w.a.knowledge["doc"])),
    "knowledge.documents.read_document": _refused(
        lambda w, s, p: knowledge_documents.read_document(s, w.rt.objects, p, w.a.knowledge["kb"], w.a.knowledge["doc"])
    )
    + _own(
        lambda w, s, p: knowledge_documents.read_document(s, w.rt.objects, p, w.b.knowledge["kb"], w.a.knowledge["doc"])
    ),
    "knowledge.views.document_page": _refused(
        lambda w, s, p: knowledge_views.document_page(s, w.rt.objects, p, w.a.knowledge["kb"], w.a.knowledge["doc"])
    ),
    "knowledge.documents.delete_document": _refused(
        lambda w, s, p: knowledge_documents.delete_document(
            s, w.rt.knowledge, w.rt.objects, p, w.a.knowledge["kb"], w.a.knowledge["doc"]
        ),
        lambda w, s, p: knowledge_documents.delete_document(
            s, w.rt.knowledge, w.rt.objects, p, w.b.knowledge["kb"], w.a.knowledge["doc"]
        ),
    ),
    "knowledge.vocabulary.get_vocabulary": _refused(
        lambda w, s, p: knowledge_vocabulary.get_vocabulary(s, p, w.a.knowledge["kb"])
    ),
    "knowledge.vocabulary.update_vocabulary": _refused(
        lambda w, s, p: knowledge_vocabulary.update_vocabulary(
            s, w.rt.knowledge, p, w.a.knowledge["kb"], ["beta word"], [["a1", "b1"]]
        )
    ),
    "knowledge.reembed.request_reembed": _refused(
        lambda w, s, p: knowledge_reembed.request_reembed(s, w.rt.knowledge, p, w.a.knowledge["kb"], "all-minilm-l6-v2")
    ),
    "knowledge.recall.save_recall_query": _refused(
        lambda w, s, p: knowledge_recall.save_recall_query(s, p, w.a.knowledge["kb"], "x", ["y"])
    ),
    "knowledge.recall.list_recall_queries": _refused(
        lambda w, s, p: knowledge_recall.list_recall_queries(s, p, w.a.knowledge["kb"])
    ),
    "knowledge.recall.delete_recall_query": _refused(
        lambda w, s, p: knowledge_recall.delete_recall_query(s, p, w.a.knowledge["kb"], w.a.knowledge["query"]),
        lambda w, s, p: knowledge_recall.delete_recall_query(s, p, w.b.knowledge["kb"], w.a.knowledge["query"]),
    ),
    "knowledge.recall.evaluate_recall": _refused(
        lambda w, s, p: knowledge_recall.evaluate_recall(s, w.rt.knowledge, p, w.a.knowledge["kb"])
    ),
    "knowledge.recall.list_recall_runs": _refused(
        lambda w, s, p: knowledge_recall.list_recall_runs(s, p, w.a.knowledge["kb"])
    ),
    "knowledge.bases.update_retrieval_settings": _refused(
        lambda w, s, p: knowledge.update_retrieval_settings(s, w.rt.knowledge, p, w.a.knowledge["kb"], "text", 3, 0.0)
    ),
    "knowledge.views.knowledge_listing": _own(lambda w, s, p: knowledge_views.knowledge_listing(s, p)),
    "knowledge.views.knowledge_base_detail": _refused(
        lambda w, s, p: knowledge_views.knowledge_base_detail(s, p, w.a.knowledge["kb"])
    ),
    # agents
    "agents.definitions.create_agent": _own(
        lambda w, s, p: agents.create_agent(s, p, agents.AgentSpec("Beta 2", "beta-2"))
    ),
    "agents.definitions.create_from_template": _refused(
        lambda w, s, p: agents.create_from_template(s, p, "guideline_qa", "g", "g", "", (w.a.knowledge["kb"],)),
        lambda w, s, p: agents.create_from_template(s, p, "triage_assistant", "t", "t", w.a.deployment_name),
    ),
    "agents.definitions.list_agents": _own(lambda w, s, p: agents.list_agents(s, p)),
    "agents.definitions.get_agent": _refused(lambda w, s, p: agents.get_agent(s, p, w.a.agents["agent"])),
    "agents.definitions.visible_agent": _refused(
        lambda w, s, p: agents.visible_agent(s, p.tenant_id, w.a.agents["agent"], p)
    ),
    "agents.definitions.agent_by_slug": _refused(lambda w, s, p: agents.agent_by_slug(s, p, w.a.agents["slug"])),
    "agents.definitions.update_agent": _refused(
        lambda w, s, p: agents.update_agent(s, p, w.a.agents["agent"], agents.AgentPatch(name="x"))
    ),
    "agents.definitions.delete_agent": _refused(lambda w, s, p: agents.delete_agent(s, p, w.a.agents["agent"])),
    "agents.definitions.save_draft": _refused(lambda w, s, p: agents.save_draft(s, p, w.a.agents["agent"], graph={})),
    "agents.definitions.validate_draft": _refused(lambda w, s, p: agents.validate_draft(s, p, w.a.agents["agent"])),
    "agents.definitions.check_unsaved": _refused(
        lambda w, s, p: agents.check_unsaved(s, p, w.a.agents["agent"], "graph", {"nodes": []}, {})
    ),
    "agents.definitions.save_editor_draft": _refused(
        lambda w, s, p: agents.save_editor_draft(s, p, w.a.agents["agent"], "graph", {"nodes": []}, {})
    ),
    "agents.definitions.publish": _refused(lambda w, s, p: agents.publish(s, p, w.a.agents["agent"])),
    "agents.definitions.list_versions": _refused(lambda w, s, p: agents.list_versions(s, p, w.a.agents["agent"])),
    "agents.definitions.rollback": _refused(
        lambda w, s, p: agents.rollback(s, p, w.a.agents["agent"]),
        lambda w, s, p: agents.rollback(s, p, w.b.agents["agent"], w.a.agents["version"]),
    ),
    "agents.runs.start_run": _refused(
        lambda w, s, p: agent_runs.start_run(
            agent_runs.deps_from(w.rt), p, w.a.agents["agent"], agent_runs.RunRequest(query="x")
        ),
        lambda w, s, p: agent_runs.start_run(
            agent_runs.deps_from(w.rt),
            p,
            w.b.agents["agent"],
            agent_runs.RunRequest(query="x", conversation_id=w.a.agents["conversation"]),
        ),
    ),
    "agents.runs.run_agent": _refused(
        lambda w, s, p: agent_runs.run_agent(
            agent_runs.deps_from(w.rt), p, w.a.agents["agent"], agent_runs.RunRequest(query="x")
        )
    ),
    "agents.runs.run_by_slug": _refused(
        lambda w, s, p: agent_runs.run_by_slug(
            agent_runs.deps_from(w.rt), p, w.a.agents["slug"], agent_runs.RunRequest(query="x")
        )
    ),
    "agents.runs.list_conversations": _refused(
        lambda w, s, p: agent_runs.list_conversations(s, p, w.a.agents["agent"])
    ),
    "agents.runs.list_runs": _refused(lambda w, s, p: agent_runs.list_runs(s, p, w.a.agents["agent"]))
    + _own(lambda w, s, p: agent_runs.list_runs(s, p, w.b.agents["agent"], w.a.agents["conversation"])),
    "agents.runs.get_run": _refused(lambda w, s, p: agent_runs.get_run(s, p, w.a.agents["run"])),
    "agents.runs.give_feedback": _refused(lambda w, s, p: agent_runs.give_feedback(s, p, w.a.agents["run"], 1)),
    "agents.runs.list_feedback": _refused(lambda w, s, p: agent_runs.list_feedback(s, p, w.a.agents["agent"])),
    "agents.tools.create_tool": _own(
        lambda w, s, p: agent_tools.create_tool(s, w.rt.keys, p, agent_tools.ToolSpec("beta_t2", "http://beta.cn/"))
    ),
    "agents.tools.update_tool": _refused(
        lambda w, s, p: agent_tools.update_tool(
            s, w.rt.keys, p, w.a.agents["tool"], agent_tools.ToolSpec("x", "http://x.cn/")
        )
    ),
    "agents.tools.delete_tool": _refused(lambda w, s, p: agent_tools.delete_tool(s, p, w.a.agents["tool"])),
    "agents.tools.get_tool": _refused(lambda w, s, p: agent_tools.get_tool(s, p, w.a.agents["tool"])),
    "agents.tools.list_tools": _own(lambda w, s, p: agent_tools.list_tools(s, p)),
    "agents.tools.try_tool": _refused(
        lambda w, s, p: agent_tools.try_tool(s, w.rt.keys, p, w.a.agents["tool"], {}, 1.0)
    ),
    "agents.tools.import_openapi": _own(
        lambda w, s, p: agent_tools.import_openapi(
            s, w.rt.keys, p, {"paths": {"/x": {"get": {"operationId": "beta_op2"}}}}
        )
    ),
    "agents.tools.list_allowed_hosts": _own(lambda w, s, p: agent_tools.list_allowed_hosts(s, p)),
    "agents.tools.add_allowed_host": _own(lambda w, s, p: agent_tools.add_allowed_host(s, p, "beta.cn")),
    "agents.tools.remove_allowed_host": _refused(
        lambda w, s, p: agent_tools.remove_allowed_host(s, p, w.a.agents["host"])
    ),
    "agents.market.publish_listing": _refused(
        lambda w, s, p: agent_market.publish_listing(s, p, w.a.agents["agent"], "tenant")
    ),
    "agents.market.list_listings": _own(lambda w, s, p: agent_market.list_listings(s, p)),
    "agents.market.withdraw_listing": _refused(
        lambda w, s, p: agent_market.withdraw_listing(s, p, w.a.agents["listing"])
    ),
    "agents.market.install_listing": _refused(
        lambda w, s, p: agent_market.install_listing(s, p, w.a.agents["listing"], "", "beta-copy")
    ),
    "agents.views.agents_overview": _own(lambda w, s, p: agent_views.agents_overview(s, p)),
    "agents.views.create_new_agent": _own(
        lambda w, s, p: agent_views.create_new_agent(s, p, agents.AgentSpec("Beta 3", "beta-3")),
        lambda w, s, p: agent_views.create_new_agent(s, p, agents.AgentSpec("Beta 4", "beta-4"), "guideline_qa"),
    ),
    "agents.views.setting_choices": _own(lambda w, s, p: agent_views.setting_choices(s, p)),
    "agents.views.version_rows": _refused(lambda w, s, p: agent_views.version_rows(s, p, w.a.agents["agent"])),
    "agents.views.builder_view": _refused(lambda w, s, p: agent_views.builder_view(s, p, w.a.agents["agent"])),
    "agents.views.version_draft": _refused(
        lambda w, s, p: agent_views.version_draft(s, p, w.a.agents["agent"], w.a.agents["version"])
    )
    + _own(lambda w, s, p: agent_views.version_draft(s, p, w.b.agents["agent"], w.a.agents["version"])),
    "agents.views.run_log": _refused(lambda w, s, p: agent_views.run_log(s, p, w.a.agents["agent"])),
    "agents.views.chat_header": _refused(lambda w, s, p: agent_views.chat_header(s, p, w.a.agents["agent"])),
    "agents.views.tools_view": _own(lambda w, s, p: agent_views.tools_view(s, p)),
    # samples: by fixed names in the caller's own tenant; without a role in Alpha's, nothing there
    "samples.import_sample_dataset": _own(
        lambda w, s, p: samples.import_sample_dataset(s, p, w.rt.objects, "sft", w.rt.settings.scratch_dir)
    )
    + _refused(
        lambda w, s, p: samples.import_sample_dataset(
            s, _without_role_in_a(p, w), w.rt.objects, "sft", w.rt.settings.scratch_dir
        )
    ),
    "samples.create_sample_knowledge_base": _own(
        lambda w, s, p: samples.create_sample_knowledge_base(s, p, w.rt.knowledge, w.rt.objects)
    )
    + _refused(
        lambda w, s, p: samples.create_sample_knowledge_base(s, _without_role_in_a(p, w), w.rt.knowledge, w.rt.objects)
    ),
    "samples.create_agent_from_sample_template": _own(lambda w, s, p: samples.create_agent_from_sample_template(s, p))
    + _refused(lambda w, s, p: samples.create_agent_from_sample_template(s, _without_role_in_a(p, w))),
    "samples.samples_status": _own(lambda w, s, p: samples.samples_status(s, p))
    + _refused(lambda w, s, p: samples.samples_status(s, _without_role_in_a(p, w))),
}


def principal_functions() -> set[str]:
    """Every public function of every backend.services module that takes the acting principal, named by its
    path under backend.services (``identity.tenancy.list_members``)."""
    names = set()
    for info in pkgutil.walk_packages(backend.services.__path__, "backend.services."):
        module = importlib.import_module(info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            public = function.__module__ == module.__name__ and not name.startswith("_")
            if public and "principal" in inspect.signature(function).parameters:
                names.add(f"{module.__name__.removeprefix('backend.services.')}.{name}")
    return names


def test_the_service_matrix_covers_every_function_that_takes_a_principal():
    functions = principal_functions()
    assert "identity.tenancy.list_members" in functions
    unknown = sorted(functions - set(SERVICE_CASES))
    assert not unknown, f"add cross-tenant cases to tests/unit/test_isolation.py::SERVICE_CASES for {unknown}"
    stale = sorted(set(SERVICE_CASES) - functions)
    assert not stale, f"these functions no longer exist or take no principal; drop them: {stale}"


def test_no_service_function_lets_another_tenant_in(runtime, world):
    before = snapshot(runtime, world.a)
    problems: list[str] = []
    for name, calls in SERVICE_CASES.items():
        for number, call in enumerate(calls):
            for credential, principal in world.b.principals.items():
                where = f"{name} case {number} as Beta's {credential}"
                try:
                    with runtime.session() as session:
                        result = call.invoke(world, session, principal)
                except MedAIError as error:
                    shown = f"{error.message} {error.remedy}"
                    if not call.own and error.code not in (ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND):
                        problems.append(f"{where} raised {error.code}, not FORBIDDEN/NOT_FOUND: {error.message}")
                    if leaked(world, shown):
                        problems.append(f"{where} error shows Alpha's {leaked(world, shown)}")
                    continue
                if not call.own:
                    problems.append(f"{where} was allowed and returned {result!r:.200}")
                if leaked(world, repr(result)):
                    problems.append(f"{where} returned Alpha's {leaked(world, repr(result))}")
    assert not problems, "\n".join(problems)
    assert snapshot(runtime, world.a) == before
    with runtime.session() as session:  # Alpha's people still sign in and act as before
        assert identity.resolve_session(session, world.a.tokens["session"]).tenant_id == world.a.tenant.id
        for token in (world.a.tokens["personal key"], world.a.tokens["tenant key"]):
            assert api_keys.authenticate_api_key(session, token).tenant_id == world.a.tenant.id
