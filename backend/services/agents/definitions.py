"""Agents: create (blank, from a starter template), edit the draft (a graph or a chat config),
validate it against the tenant (models, knowledge bases, tools), publish versions, roll back.

Running agents, their conversations, runs and feedback are in ``agent_runs``; the market in
``agent_market``; the node catalogue and pure graph validation in ``agent_nodes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, func, select

from backend.errors import ErrorCode, MedAIError
from backend.models import Agent, AgentTool, AgentVersion, Deployment
from backend.models.base import utcnow
from backend.services.agents import chat as agent_chat
from backend.services.agents import history
from backend.services.agents import templates as agent_templates
from backend.services.agents.nodes import SPECS, Problem, validate
from backend.services.agents.tools import BUILTIN_PREFIX, BUILTINS
from backend.services.identity import audit, platform_assets
from backend.services.identity.access import Principal, authorize, in_tenant
from backend.services.identity.permissions import Action, Area, Role

MODES = ("graph", "chat")
VISIBILITIES = ("tenant", "private")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ADMINS = (Role.TENANT_OWNER, Role.TENANT_ADMIN)


@dataclass(frozen=True)
class AgentSpec:
    name: str
    slug: str
    mode: str = "graph"
    description: str = ""
    visibility: str = "tenant"
    graph: dict[str, Any] | None = None  # None: a Start -> LLM -> Answer skeleton
    chat_config: dict[str, Any] | None = None


@dataclass(frozen=True)
class AgentPatch:
    name: str | None = None
    description: str | None = None
    visibility: str | None = None


@dataclass
class DraftCheck:
    agent: Agent
    problems: list[Problem] = field(default_factory=list)


def _audit(session: Session, principal: Principal, agent: Agent, action: str, **detail: Any) -> None:
    audit.record_by(session, principal, action, "agent", agent.id, tenant_id=agent.tenant_id, **detail)


def _may_see(agent: Agent, principal: Principal) -> bool:
    """Private agents: their creator and the tenant's admins; the others: the whole tenant."""
    if agent.visibility == "tenant" or principal.is_platform_admin or principal.role in _ADMINS:
        return True
    return agent.created_by_id == principal.user_id


def visible_agent(session: Session, tenant_id: str | None, agent_id: str, principal: Principal) -> Agent:
    agent = in_tenant(session, Agent, agent_id, tenant_id, "agent", "Reload the agent list.")
    if not _may_see(agent, principal):
        raise MedAIError(ErrorCode.NOT_FOUND, "No such agent in this tenant.", "Reload the agent list.")
    return agent


def skeleton_graph() -> dict[str, Any]:
    """A new graph agent's draft: Start -> LLM -> Answer."""
    return agent_chat.compile_chat({"history_turns": 0})


def _check(spec: AgentSpec) -> None:
    if not _SLUG.match(spec.slug):
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"'{spec.slug}' is not a valid agent slug.",
            "Use lowercase letters, digits and '-' (clients call it as model 'agent:<slug>').",
        )
    if not spec.name.strip() or len(spec.name) > 128:
        raise MedAIError(ErrorCode.DATA_INVALID, "The name must be 1-128 characters.", "Give the agent a name.")
    if spec.mode not in MODES or spec.visibility not in VISIBILITIES:
        raise MedAIError(ErrorCode.DATA_INVALID, "Unknown mode or visibility.", "Mode: graph or chat; tenant/private.")
    if spec.graph is not None and not isinstance(spec.graph, dict):
        raise MedAIError(ErrorCode.DATA_INVALID, "The graph must be a JSON object.", "Send nodes and edges.")


def _slug_free(session: Session, tenant_id: str, slug: str) -> None:
    if session.exec(select(Agent).where(Agent.tenant_id == tenant_id, Agent.slug == slug)).first():
        raise MedAIError(ErrorCode.CONFLICT, f"An agent '{slug}' exists.", "Choose another slug.")


def create_agent(session: Session, principal: Principal, spec: AgentSpec, installed_from: str | None = None) -> Agent:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.CREATE)
    assert tenant_id is not None
    _check(spec)
    _slug_free(session, tenant_id, spec.slug)
    agent = Agent(
        tenant_id=tenant_id,
        slug=spec.slug,
        name=spec.name.strip(),
        description=spec.description[:1000],
        mode=spec.mode,
        graph=spec.graph if spec.graph is not None else (skeleton_graph() if spec.mode == "graph" else {}),
        chat_config={**agent_chat.DEFAULTS, **(spec.chat_config or {})} if spec.mode == "chat" else {},
        visibility=spec.visibility,
        installed_from=installed_from,
        created_by=principal.label,
        created_by_id=principal.user_id,
    )
    session.add(agent)
    session.flush()
    _audit(session, principal, agent, "agent.create", slug=agent.slug, mode=agent.mode)
    return agent


def create_from_template(
    session: Session,
    principal: Principal,
    template_id: str,
    name: str,
    slug: str,
    model: str = "",
    knowledge_base_ids: tuple[str, ...] = (),
) -> Agent:
    """An agent whose draft is a starter template, the chosen model and knowledge bases filled in."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.CREATE)
    assert tenant_id is not None
    known = _options(session, tenant_id)
    if (model and model not in known["deployments"]) or not set(knowledge_base_ids) <= known["knowledge_bases"]:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such model service or knowledge base here.", "Pick from the lists.")
    template = agent_templates.template_graph(template_id, model, knowledge_base_ids)
    spec = AgentSpec(name, slug, template.mode, template.description_en, graph=template.graph)
    return create_agent(session, principal, spec)


def list_agents(session: Session, principal: Principal) -> list[Agent]:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    agents = session.exec(select(Agent).where(Agent.tenant_id == tenant_id).order_by(Agent.name)).all()
    return [a for a in agents if _may_see(a, principal)]


def get_agent(session: Session, principal: Principal, agent_id: str) -> Agent:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    return visible_agent(session, tenant_id, agent_id, principal)


def agent_by_slug(session: Session, principal: Principal, slug: str) -> Agent:
    """The agent clients call as model ``agent:<slug>`` in the caller's tenant."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    agent = session.exec(select(Agent).where(Agent.tenant_id == tenant_id, Agent.slug == slug)).first()
    if agent is None or not _may_see(agent, principal):
        raise MedAIError(
            ErrorCode.NOT_FOUND, "No such agent in this tenant.", "Check the agent's slug (model 'agent:<slug>')."
        )
    return agent


def update_agent(session: Session, principal: Principal, agent_id: str, patch: AgentPatch) -> Agent:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.UPDATE)
    agent = visible_agent(session, tenant_id, agent_id, principal)
    if patch.visibility is not None and patch.visibility not in VISIBILITIES:
        raise MedAIError(ErrorCode.DATA_INVALID, "Visibility is tenant or private.", "Pick one.")
    if patch.name is not None and not 0 < len(patch.name.strip()) <= 128:
        raise MedAIError(ErrorCode.DATA_INVALID, "The name must be 1-128 characters.", "Give the agent a name.")
    agent.name = patch.name.strip() if patch.name is not None else agent.name
    agent.description = patch.description[:1000] if patch.description is not None else agent.description
    agent.visibility = patch.visibility or agent.visibility
    agent.updated_at = utcnow()
    session.add(agent)
    _audit(session, principal, agent, "agent.update")
    return agent


def delete_agent(session: Session, principal: Principal, agent_id: str) -> None:
    """Delete an agent with its versions, conversations, runs and feedback."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.DELETE)
    agent = visible_agent(session, tenant_id, agent_id, principal)
    history.delete_history(session, agent.id)
    for version in session.exec(select(AgentVersion).where(AgentVersion.agent_id == agent.id)):
        session.delete(version)
    session.flush()
    session.delete(agent)
    _audit(session, principal, agent, "agent.delete", slug=agent.slug)


def runnable_graph(mode: str, graph: dict[str, Any], chat_config: dict[str, Any]) -> dict[str, Any]:
    return agent_chat.compile_chat(chat_config) if mode == "chat" else graph


def save_draft(
    session: Session,
    principal: Principal,
    agent_id: str,
    graph: dict[str, Any] | None = None,
    chat_config: dict[str, Any] | None = None,
) -> DraftCheck:
    """Store the draft (even with problems: work in progress is kept) and return its problems."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.UPDATE)
    agent = visible_agent(session, tenant_id, agent_id, principal)
    if graph is not None:
        if agent.mode != "graph" or not isinstance(graph, dict):
            raise MedAIError(ErrorCode.DATA_INVALID, "Only a graph agent takes a graph.", "Send chat_config.")
        agent.graph = graph
    if chat_config is not None:
        if agent.mode != "chat" or not isinstance(chat_config, dict):
            raise MedAIError(ErrorCode.DATA_INVALID, "Only a chat agent takes a chat config.", "Send a graph.")
        agent.chat_config = {**agent_chat.DEFAULTS, **chat_config}
    agent.updated_at = utcnow()
    session.add(agent)
    _audit(session, principal, agent, "agent.save_draft")
    return DraftCheck(agent, draft_problems(session, agent))


def save_editor_draft(
    session: Session,
    principal: Principal,
    agent_id: str,
    mode: str,
    graph: dict[str, Any],
    chat_config: dict[str, Any],
) -> list[Problem]:
    """Save what the builder holds (a chat agent's chat config, else the graph); the draft's problems."""
    if mode == "chat":
        return save_draft(session, principal, agent_id, chat_config=chat_config).problems
    return save_draft(session, principal, agent_id, graph=graph).problems


def validate_draft(session: Session, principal: Principal, agent_id: str) -> list[Problem]:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    return draft_problems(session, visible_agent(session, tenant_id, agent_id, principal))


def check_unsaved(
    session: Session,
    principal: Principal,
    agent_id: str,
    mode: str,
    graph: dict[str, Any],
    chat_config: dict[str, Any],
) -> list[Problem]:
    """What keeps an editor's unsaved draft of the agent from running: the graph's problems and the
    models, knowledge bases and tools it names that the tenant does not have."""
    agent = get_agent(session, principal, agent_id)
    runnable = runnable_graph(mode, graph, chat_config)
    return validate(runnable) + tenant_problems(session, agent.tenant_id, runnable)


def draft_problems(session: Session, agent: Agent) -> list[Problem]:
    """The graph's own problems, then settings naming what the tenant does not have."""
    problems = agent_chat.config_problems(agent.chat_config) if agent.mode == "chat" else []
    graph = runnable_graph(agent.mode, agent.graph, agent.chat_config)
    problems += validate(graph)
    return problems + tenant_problems(session, agent.tenant_id, graph)


def tenant_problems(session: Session, tenant_id: str, graph: dict[str, Any]) -> list[Problem]:
    """Model services, knowledge bases and tools a graph names that the tenant does not have."""
    known = _options(session, tenant_id)
    problems = []
    for node in graph.get("nodes") or []:
        spec = SPECS.get(str(node.get("type"))) if isinstance(node, dict) else None
        if spec is None:
            continue
        for setting in spec.settings:
            value = (node.get("data") or {}).get(setting.name)
            if not setting.options_source or value in (None, "", []):
                continue
            for item in value if isinstance(value, list) else [value]:
                if item not in known[setting.options_source]:
                    what = setting.options_source.replace("_", " ")
                    message = f"'{setting.name}' names something that is not one of this tenant's {what}."
                    problems.append(Problem(node.get("id"), setting.name, "unknown_option", message))
    return problems


def _options(session: Session, tenant_id: str) -> dict[str, set[str]]:
    from backend.models import KnowledgeBase  # the knowledge area's table

    return {
        "deployments": set(session.exec(select(Deployment.name).where(Deployment.tenant_id == tenant_id)))
        | {d.name for d in platform_assets.shared_services(session)},  # the starter model is every tenant's
        "knowledge_bases": set(session.exec(select(KnowledgeBase.id).where(KnowledgeBase.tenant_id == tenant_id))),
        "tools": {BUILTIN_PREFIX + name for name in BUILTINS}
        | set(session.exec(select(AgentTool.id).where(AgentTool.tenant_id == tenant_id))),
    }


def publish(session: Session, principal: Principal, agent_id: str, note: str = "") -> AgentVersion:
    """Snapshot the draft as the next version and make it the active one; refused with problems."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.UPDATE)
    agent = visible_agent(session, tenant_id, agent_id, principal)
    problems = draft_problems(session, agent)
    if problems:
        shown = "; ".join(f"{p.node_id or 'graph'}: {p.message}" for p in problems[:3])
        raise MedAIError(ErrorCode.DATA_INVALID, f"The draft has {len(problems)} problem(s): {shown}", "Fix them.")
    number = (
        session.exec(select(func.max(AgentVersion.number)).where(AgentVersion.agent_id == agent.id)).one() or 0
    ) + 1
    version = AgentVersion(
        agent_id=agent.id,
        tenant_id=agent.tenant_id,
        number=number,
        mode=agent.mode,
        graph=runnable_graph(agent.mode, agent.graph, agent.chat_config),
        chat_config=dict(agent.chat_config),
        note=note[:1000],
        published_by=principal.label,
        published_by_id=principal.user_id,
    )
    session.add(version)
    session.flush()
    _activate(session, agent, version)
    _audit(session, principal, agent, "agent.publish", version=number)
    return version


def _activate(session: Session, agent: Agent, chosen: AgentVersion) -> None:
    for version in session.exec(select(AgentVersion).where(AgentVersion.agent_id == agent.id)):
        version.active = version.id == chosen.id
        session.add(version)
    agent.active_version_id = chosen.id
    agent.updated_at = utcnow()
    session.add(agent)


def list_versions(session: Session, principal: Principal, agent_id: str) -> list[AgentVersion]:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    agent = visible_agent(session, tenant_id, agent_id, principal)
    query = select(AgentVersion).where(AgentVersion.agent_id == agent.id).order_by(AgentVersion.number.desc())
    return list(session.exec(query))


def rollback(session: Session, principal: Principal, agent_id: str, version_id: str | None = None) -> AgentVersion:
    """Make ``version_id`` (default: the version before the active one) the active version."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.UPDATE)
    agent = visible_agent(session, tenant_id, agent_id, principal)
    versions = list(session.exec(select(AgentVersion).where(AgentVersion.agent_id == agent.id)))
    if version_id is not None:
        chosen = next((v for v in versions if v.id == version_id), None)
    else:
        active = next((v.number for v in versions if v.active), 0)
        earlier = [v for v in versions if v.number < active]
        chosen = max(earlier, key=lambda v: v.number) if earlier else None
    if chosen is None:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such earlier version of this agent.", "Pick one from the list.")
    _activate(session, agent, chosen)
    _audit(session, principal, agent, "agent.rollback", version=chosen.number)
    return chosen


def active_version(session: Session, agent: Agent) -> AgentVersion:
    version = session.get(AgentVersion, agent.active_version_id) if agent.active_version_id else None
    if version is None or version.agent_id != agent.id:
        raise MedAIError(ErrorCode.CONFLICT, f"Agent '{agent.slug}' is not published.", "Publish a version first.")
    return version
