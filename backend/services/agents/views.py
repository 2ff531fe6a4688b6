"""What the agent pages show, each read in one call: the agents with the market, the builder's draft
with its versions and the choices of its select fields, the run log with the caller's feedback, the
web chat's header and the Tools tab. Plain dataclasses; the UI state turns them into its vars."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from backend.services.agents import definitions as agents
from backend.services.agents import market as agent_market
from backend.services.agents import runs as agent_runs
from backend.services.agents import tools as agent_tools
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.knowledge import bases as knowledge
from backend.services.serving import gateway

# --- /agents -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentRow:
    id: str
    name: str
    slug: str
    mode: str
    description: str
    live: bool  # a version is published
    updated_at: datetime


@dataclass(frozen=True)
class ListingRow:
    id: str
    name: str
    description: str
    mode: str
    scope: str
    publisher: str
    installs: int
    ours: bool  # the caller's tenant offered it (and may withdraw it)


@dataclass
class AgentsOverview:
    may_view: bool = False
    may_create: bool = False
    agents: list[AgentRow] = field(default_factory=list)
    market: list[ListingRow] = field(default_factory=list)


def agents_overview(session: Session, principal: Principal) -> AgentsOverview:
    """The agents the caller sees and the market's listings; nothing without the right to view agents."""
    found = AgentsOverview(may_view=may(session, principal, Area.AGENTS, Action.VIEW))
    if not found.may_view:
        return found
    found.may_create = may(session, principal, Area.AGENTS, Action.CREATE)
    found.agents = [
        AgentRow(a.id, a.name, a.slug, a.mode, a.description, bool(a.active_version_id), a.updated_at)
        for a in agents.list_agents(session, principal)
    ]
    found.market = [
        ListingRow(
            item.id,
            item.name,
            item.description,
            item.mode,
            item.scope,
            item.published_by,
            item.installs,
            item.tenant_id == principal.tenant_id,
        )
        for item in agent_market.list_listings(session, principal)
    ]
    return found


def create_new_agent(session: Session, principal: Principal, spec: agents.AgentSpec, template_id: str = "") -> str:
    """A new agent, blank (graph or chat) or, with ``template_id``, from a starter template; its id."""
    if template_id:
        return agents.create_from_template(session, principal, template_id, spec.name, spec.slug).id
    return agents.create_agent(session, principal, spec).id


# --- the builder -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass
class SettingChoices:
    """What the builder's select fields offer, by ``options_source``; each only when the caller may see it."""

    deployments: list[Choice] = field(default_factory=list)
    knowledge_bases: list[Choice] = field(default_factory=list)
    tools: list[Choice] = field(default_factory=list)


def setting_choices(session: Session, principal: Principal) -> SettingChoices:
    found = SettingChoices()
    if may(session, principal, Area.SERVING, Action.VIEW):
        names = sorted({d.name for d in gateway.available_models(session, principal)})
        found.deployments = [Choice(name, name) for name in names]
    if may(session, principal, Area.KNOWLEDGE, Action.VIEW):
        bases = knowledge.list_knowledge_bases(session, principal, principal.tenant_id)
        found.knowledge_bases = [Choice(kb.id, kb.name) for kb in bases]
    if may(session, principal, Area.AGENTS, Action.VIEW):
        found.tools = [Choice(tool.ref, tool.name) for tool in agent_tools.list_tools(session, principal)]
    return found


@dataclass(frozen=True)
class VersionRow:
    id: str
    number: int
    note: str
    active: bool
    published_by: str
    published_at: datetime


def version_rows(session: Session, principal: Principal, agent_id: str) -> list[VersionRow]:
    """The agent's published versions, newest first."""
    return [
        VersionRow(v.id, v.number, v.note, v.active, v.published_by, v.published_at)
        for v in agents.list_versions(session, principal, agent_id)
    ]


@dataclass
class BuilderView:
    id: str
    name: str
    slug: str
    mode: str
    graph: dict[str, Any]
    chat_config: dict[str, Any]
    may_edit: bool
    choices: SettingChoices
    versions: list[VersionRow]


def builder_view(session: Session, principal: Principal, agent_id: str) -> BuilderView:
    """The agent's draft as the builder opens it, with its versions and the select fields' choices."""
    agent = agents.get_agent(session, principal, agent_id)
    return BuilderView(
        id=agent.id,
        name=agent.name,
        slug=agent.slug,
        mode=agent.mode,
        graph=dict(agent.graph or {}),
        chat_config=dict(agent.chat_config or {}),
        may_edit=may(session, principal, Area.AGENTS, Action.UPDATE),
        choices=setting_choices(session, principal),
        versions=version_rows(session, principal, agent_id),
    )


@dataclass(frozen=True)
class VersionDraft:
    graph: dict[str, Any]
    chat_config: dict[str, Any]


def version_draft(session: Session, principal: Principal, agent_id: str, version_id: str) -> VersionDraft | None:
    """A published version's graph and chat config, to edit again; None when the agent has no such version."""
    version = next((v for v in agents.list_versions(session, principal, agent_id) if v.id == version_id), None)
    if version is None:
        return None
    return VersionDraft(dict(version.graph), dict(version.chat_config or {}))


# --- logs, web chat ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunLogRow:
    id: str
    created_at: datetime
    conversation_id: str
    status: str
    query: str
    answer: str
    error: str
    latency_ms: float
    tokens: int
    started_by: str
    rating: int  # the caller's own feedback: 1, -1 or 0
    annotation: str


def run_log(session: Session, principal: Principal, agent_id: str, limit: int = 50) -> list[RunLogRow]:
    """The agent's latest runs with the caller's own rating and annotation of each (builders only give them)."""
    may_rate = may(session, principal, Area.AGENTS, Action.UPDATE)
    given = agent_runs.list_feedback(session, principal, agent_id) if may_rate else []
    mine = {f.run_id: f for f in given if f.user_id == principal.user_id}
    rows = []
    for run in agent_runs.list_runs(session, principal, agent_id, limit=limit):
        feedback = mine.get(run.id)
        rows.append(
            RunLogRow(
                id=run.id,
                created_at=run.created_at,
                conversation_id=run.conversation_id or "",
                status=run.status,
                query=run.query,
                answer=run.answer,
                error=run.error,
                latency_ms=run.latency_ms,
                tokens=run.prompt_tokens + run.completion_tokens,
                started_by=run.started_by,
                rating=feedback.rating if feedback else 0,
                annotation=feedback.annotation if feedback else "",
            )
        )
    return rows


@dataclass(frozen=True)
class ChatHeader:
    name: str
    slug: str
    live: bool


def chat_header(session: Session, principal: Principal, agent_id: str) -> ChatHeader:
    agent = agents.get_agent(session, principal, agent_id)
    return ChatHeader(agent.name, agent.slug, bool(agent.active_version_id))


# --- the Tools tab -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostRow:
    id: str
    host: str


@dataclass
class ToolsView:
    may_view: bool = False
    may_edit: bool = False
    tools: list[agent_tools.ToolInfo] = field(default_factory=list)
    hosts: list[HostRow] = field(default_factory=list)


def tools_view(session: Session, principal: Principal) -> ToolsView:
    """The built-in and the tenant's tools and the hosts tools may reach; nothing without the right to view."""
    if not may(session, principal, Area.AGENTS, Action.VIEW):
        return ToolsView()
    return ToolsView(
        may_view=True,
        may_edit=may(session, principal, Area.AGENTS, Action.UPDATE),
        tools=agent_tools.list_tools(session, principal),
        hosts=[HostRow(h.id, h.host) for h in agent_tools.list_allowed_hosts(session, principal)],
    )
