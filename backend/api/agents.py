"""/api/agents (agents, drafts, validation, versions, runs with SSE, conversations, feedback),
/api/agent-tools and /api/agent-hosts (HTTP tools and the hosts they may reach), /api/agent-market,
/api/agent-templates and /api/agent-nodes (the node catalogue the canvas renders)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from backend.api.auth import CurrentPrincipal, RuntimeDep
from backend.api.dependencies import SessionDep
from backend.services.agents import definitions as agents
from backend.services.agents import market as agent_market
from backend.services.agents import runs as agent_runs
from backend.services.agents import tools as agent_tools
from backend.services.agents.nodes import catalogue, label_key
from backend.services.agents.runtime import RunEvent
from backend.services.agents.templates import list_templates
from ui_text.agent_nodes import TEXT as NODE_TEXT

router = APIRouter(prefix="/api", tags=["agents"])


class AgentIn(BaseModel):
    name: str
    slug: str
    mode: str = "graph"
    description: str = ""
    visibility: str = "tenant"
    graph: dict[str, Any] | None = None
    chat_config: dict[str, Any] | None = None


class AgentPatchIn(BaseModel):
    name: str | None = None
    description: str | None = None
    visibility: str | None = None


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    slug: str
    name: str
    description: str
    mode: str
    visibility: str
    graph: dict[str, Any]
    chat_config: dict[str, Any]
    active_version_id: str | None
    installed_from: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class ProblemOut(BaseModel):
    node_id: str | None
    field: str | None
    code: str
    message: str


class DraftIn(BaseModel):
    graph: dict[str, Any] | None = None
    chat_config: dict[str, Any] | None = None


class DraftOut(BaseModel):
    agent: AgentOut
    problems: list[ProblemOut]


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: int
    mode: str
    note: str
    active: bool
    published_by: str
    published_at: datetime
    graph: dict[str, Any]


class PublishIn(BaseModel):
    note: str = ""


class RollbackIn(BaseModel):
    version_id: str | None = None


class RunIn(BaseModel):
    query: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    conversation_id: str | None = None
    draft: bool = False
    stream: bool = False


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    agent_id: str
    version_id: str | None
    conversation_id: str | None
    status: str
    query: str
    inputs: dict[str, Any]
    answer: str
    citations: list[dict[str, Any]]
    trace: list[dict[str, Any]]
    error: str
    failed_node: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    started_by: str
    created_at: datetime


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    agent_id: str
    title: str
    channel: str
    started_by: str
    created_at: datetime
    updated_at: datetime


class FeedbackIn(BaseModel):
    rating: int
    annotation: str | None = None


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    run_id: str
    rating: int
    annotation: str
    by: str
    updated_at: datetime


class TemplateInstallIn(BaseModel):
    name: str
    slug: str
    model: str = ""
    knowledge_base_ids: list[str] = Field(default_factory=list)


# --- agents ----------------------------------------------------------------------------------


@router.get("/agent-nodes")
def get_node_catalogue(principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The node types, their handles and settings: what the canvas renders its palette and forms from."""
    return catalogue(NODE_TEXT)


@router.get("/agents", response_model=list[AgentOut])
def get_agents(principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [AgentOut.model_validate(a) for a in agents.list_agents(session, principal)]


@router.post("/agents", response_model=AgentOut, status_code=201)
def post_agent(body: AgentIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return AgentOut.model_validate(agents.create_agent(session, principal, agents.AgentSpec(**body.model_dump())))


@router.get("/agents/{agent_id}", response_model=AgentOut)
def get_agent(agent_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return AgentOut.model_validate(agents.get_agent(session, principal, agent_id))


@router.patch("/agents/{agent_id}", response_model=AgentOut)
def patch_agent(agent_id: str, body: AgentPatchIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    patch = agents.AgentPatch(**body.model_dump())
    return AgentOut.model_validate(agents.update_agent(session, principal, agent_id, patch))


@router.delete("/agents/{agent_id}", status_code=204)
def delete_agent(agent_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    agents.delete_agent(session, principal, agent_id)


@router.put("/agents/{agent_id}/draft", response_model=DraftOut)
def put_draft(agent_id: str, body: DraftIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """Save the draft (kept even with problems) and return its problems."""
    checked = agents.save_draft(session, principal, agent_id, body.graph, body.chat_config)
    return DraftOut(
        agent=AgentOut.model_validate(checked.agent), problems=[ProblemOut(**asdict(p)) for p in checked.problems]
    )


@router.post("/agents/{agent_id}/validate", response_model=list[ProblemOut])
def post_validate(agent_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [ProblemOut(**asdict(p)) for p in agents.validate_draft(session, principal, agent_id)]


@router.get("/agents/{agent_id}/versions", response_model=list[VersionOut])
def get_versions(agent_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [VersionOut.model_validate(v) for v in agents.list_versions(session, principal, agent_id)]


@router.post("/agents/{agent_id}/publish", response_model=VersionOut, status_code=201)
def post_publish(agent_id: str, body: PublishIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return VersionOut.model_validate(agents.publish(session, principal, agent_id, body.note))


@router.post("/agents/{agent_id}/rollback", response_model=VersionOut)
def post_rollback(agent_id: str, body: RollbackIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return VersionOut.model_validate(agents.rollback(session, principal, agent_id, body.version_id))


# --- runs ------------------------------------------------------------------------------------


def sse(events: Iterator[RunEvent]) -> Iterator[str]:
    """Server-sent events: ``event: <type>`` and ``data: {"node_id", ...}`` per run event."""
    for event in events:
        payload = {"node_id": event.node_id, **event.data}
        if event.type == "node_started":  # the node type's English label (the service sends its code)
            payload["label"] = NODE_TEXT.get(label_key(str(event.data.get("type"))), ("",))[0]
        yield f"event: {event.type}\ndata: {json.dumps(payload, ensure_ascii=False, default=str)}\n\n"


@router.post("/agents/{agent_id}/runs")
def post_run(agent_id: str, body: RunIn, request: Request, principal: CurrentPrincipal, rt: RuntimeDep) -> Any:
    """Run the agent's active version (``draft``: a test run of the draft) in a conversation.
    With ``stream`` (or ``Accept: text/event-stream``) the answer is SSE: run_started, node_started,
    token, tool_call, node_finished / node_failed / node_skipped, then run_finished or run_failed."""
    run_request = agent_runs.RunRequest(
        body.query, body.inputs, body.conversation_id, body.draft, "draft" if body.draft else "api"
    )
    stream = agent_runs.start_run(agent_runs.deps_from(rt), principal, agent_id, run_request)
    if body.stream or "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(sse(stream.events), media_type="text/event-stream")
    last = None
    for last in stream.events:  # noqa: B007 (the last event is the outcome)
        pass
    assert last is not None
    result = agent_runs.result_of(last)
    return {
        "run_id": result.run_id,
        "conversation_id": result.conversation_id,
        "answer": result.answer,
        "citations": result.citations,
        "trace": result.trace,
        "usage": {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens},
    }


@router.get("/agents/{agent_id}/runs", response_model=list[RunOut])
def get_runs(
    agent_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    conversation_id: str | None = None,
    limit: int = 100,
) -> Any:
    found = agent_runs.list_runs(session, principal, agent_id, conversation_id, limit)
    return [RunOut.model_validate(r) for r in found]


@router.get("/agents/{agent_id}/conversations", response_model=list[ConversationOut])
def get_conversations(agent_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [ConversationOut.model_validate(c) for c in agent_runs.list_conversations(session, principal, agent_id)]


@router.get("/agents/{agent_id}/feedback", response_model=list[FeedbackOut])
def get_feedback(agent_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [FeedbackOut.model_validate(f) for f in agent_runs.list_feedback(session, principal, agent_id)]


@router.get("/agent-runs/{run_id}", response_model=RunOut)
def get_run(run_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return RunOut.model_validate(agent_runs.get_run(session, principal, run_id))


@router.post("/agent-runs/{run_id}/feedback", response_model=FeedbackOut)
def post_feedback(run_id: str, body: FeedbackIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    found = agent_runs.give_feedback(session, principal, run_id, body.rating, body.annotation)
    return FeedbackOut.model_validate(found)


# --- templates and market --------------------------------------------------------------------


@router.get("/agent-templates")
def get_templates(principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The starter agents (the same for every tenant)."""
    return [asdict(t) for t in list_templates()]


@router.post("/agent-templates/{template_id}/install", response_model=AgentOut, status_code=201)
def post_template_install(
    template_id: str, body: TemplateInstallIn, principal: CurrentPrincipal, session: SessionDep
) -> Any:
    agent = agents.create_from_template(
        session, principal, template_id, body.name, body.slug, body.model, tuple(body.knowledge_base_ids)
    )
    return AgentOut.model_validate(agent)


class ListingIn(BaseModel):
    scope: str = "tenant"
    description: str = ""


class ListingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    agent_id: str
    scope: str
    name: str
    description: str
    mode: str
    installs: int
    published_by: str
    created_at: datetime


class InstallIn(BaseModel):
    name: str = ""
    slug: str


@router.get("/agent-market", response_model=list[ListingOut])
def get_market(principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [ListingOut.model_validate(x) for x in agent_market.list_listings(session, principal)]


@router.post("/agents/{agent_id}/listings", response_model=ListingOut, status_code=201)
def post_listing(agent_id: str, body: ListingIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    found = agent_market.publish_listing(session, principal, agent_id, body.scope, body.description)
    return ListingOut.model_validate(found)


@router.delete("/agent-market/{listing_id}", status_code=204)
def delete_listing(listing_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    agent_market.withdraw_listing(session, principal, listing_id)


@router.post("/agent-market/{listing_id}/install", response_model=AgentOut, status_code=201)
def post_install(listing_id: str, body: InstallIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    agent = agent_market.install_listing(session, principal, listing_id, body.name, body.slug)
    return AgentOut.model_validate(agent)


# --- tools and hosts -------------------------------------------------------------------------


class ToolIn(BaseModel):
    name: str
    url: str
    method: str = "GET"
    description: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    auth_header: str = ""
    auth_secret: str | None = None  # write-only; never returned
    timeout_s: float = 10.0


class ToolOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str
    method: str
    url: str
    headers: dict[str, Any]
    parameters: dict[str, Any]
    auth_header: str
    timeout_s: float
    created_by: str


class ToolTestIn(BaseModel):
    ref: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class OpenApiIn(BaseModel):
    document: dict[str, Any] | str


class HostIn(BaseModel):
    host: str


class HostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    host: str
    created_by: str
    created_at: datetime


@router.get("/agent-tools")
def get_tools(principal: CurrentPrincipal, session: SessionDep) -> list[dict[str, Any]]:
    """Built-in tools and the tenant's HTTP tools, as pickers list them (ref, name, description, parameters)."""
    return [asdict(t) for t in agent_tools.list_tools(session, principal)]


@router.post("/agent-tools", response_model=ToolOut, status_code=201)
def post_tool(body: ToolIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    tool = agent_tools.create_tool(session, rt.keys, principal, agent_tools.ToolSpec(**body.model_dump()))
    return ToolOut.model_validate(tool)


@router.get("/agent-tools/{tool_id}", response_model=ToolOut)
def get_tool(tool_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return ToolOut.model_validate(agent_tools.get_tool(session, principal, tool_id))


@router.put("/agent-tools/{tool_id}", response_model=ToolOut)
def put_tool(tool_id: str, body: ToolIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    spec = agent_tools.ToolSpec(**body.model_dump())
    return ToolOut.model_validate(agent_tools.update_tool(session, rt.keys, principal, tool_id, spec))


@router.delete("/agent-tools/{tool_id}", status_code=204)
def delete_tool(tool_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    agent_tools.delete_tool(session, principal, tool_id)


@router.post("/agent-tools/test")
def post_tool_test(
    body: ToolTestIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> dict[str, Any]:
    """The test button: one real call of a tool with the given arguments."""
    limit = rt.settings.agent_tool_timeout_s
    return {"result": agent_tools.try_tool(session, rt.keys, principal, body.ref, body.arguments, limit)}


@router.post("/agent-tools/openapi", response_model=list[ToolOut], status_code=201)
def post_openapi(body: OpenApiIn, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    """One tool per operation of an OpenAPI 3 document."""
    created = agent_tools.import_openapi(session, rt.keys, principal, body.document)
    return [ToolOut.model_validate(t) for t in created]


@router.get("/agent-hosts", response_model=list[HostOut])
def get_hosts(principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [HostOut.model_validate(h) for h in agent_tools.list_allowed_hosts(session, principal)]


@router.post("/agent-hosts", response_model=HostOut, status_code=201)
def post_host(body: HostIn, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return HostOut.model_validate(agent_tools.add_allowed_host(session, principal, body.host))


@router.delete("/agent-hosts/{host_id}", status_code=204)
def delete_host(host_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    agent_tools.remove_allowed_host(session, principal, host_id)
