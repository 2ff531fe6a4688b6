"""The agent market: a tenant lists an agent's published version for its own members (scope
"tenant") or for every tenant (scope "platform", a tenant admin's decision); installing a listing
makes an independent copy whose draft is the listed graph.

A platform listing carries no ids of the publisher's tenant: knowledge bases and custom tools are
blanked (the installer picks its own), built-in tools and model service names stay."""

from __future__ import annotations

import copy
from typing import Any

from sqlmodel import Session, col, or_, select

from backend.errors import ErrorCode, MedAIError
from backend.models import AgentListing
from backend.services.agents import definitions as agents
from backend.services.agents.tools import BUILTIN_PREFIX
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area

SCOPES = ("tenant", "platform")


def _portable(graph: dict[str, Any]) -> dict[str, Any]:
    copied = copy.deepcopy(graph)
    for node in copied.get("nodes") or []:
        data = node.get("data") or {}
        if "knowledge_bases" in data:
            data["knowledge_bases"] = []
        if isinstance(data.get("tools"), list):
            data["tools"] = [t for t in data["tools"] if str(t).startswith(BUILTIN_PREFIX)]
        if isinstance(data.get("tool"), str) and not data["tool"].startswith(BUILTIN_PREFIX):
            data["tool"] = ""
    return copied


def _portable_config(config: dict[str, Any]) -> dict[str, Any]:
    tools = [t for t in config.get("tools") or [] if str(t).startswith(BUILTIN_PREFIX)]
    return {**config, "knowledge_bases": [], "tools": tools}


def publish_listing(
    session: Session, principal: Principal, agent_id: str, scope: str = "tenant", description: str = ""
) -> AgentListing:
    """List the agent's active version; platform-wide listing needs a tenant admin."""
    if scope not in SCOPES:
        raise MedAIError(ErrorCode.DATA_INVALID, "Scope is tenant or platform.", "Pick one.")
    tenant_id = authorize(session, principal, Area.AGENTS, Action.APPROVE if scope == "platform" else Action.UPDATE)
    agent = agents.visible_agent(session, tenant_id, agent_id, principal)
    version = agents.active_version(session, agent)
    portable = scope == "platform"
    listing = AgentListing(
        tenant_id=agent.tenant_id,
        agent_id=agent.id,
        scope=scope,
        name=agent.name,
        description=(description or agent.description)[:1000],
        mode=version.mode,
        graph=_portable(version.graph) if portable else copy.deepcopy(version.graph),
        chat_config=_portable_config(version.chat_config) if portable else dict(version.chat_config),
        published_by=principal.label,
        published_by_id=principal.user_id,
    )
    session.add(listing)
    session.flush()
    audit.record_by(
        session, principal, "agent.list", "agent_listing", listing.id, tenant_id=agent.tenant_id, scope=scope
    )
    return listing


def list_listings(session: Session, principal: Principal) -> list[AgentListing]:
    """The caller's tenant's listings and every platform-wide one."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    query = select(AgentListing).where(
        AgentListing.status == "listed", or_(AgentListing.tenant_id == tenant_id, AgentListing.scope == "platform")
    )
    return list(session.exec(query.order_by(col(AgentListing.created_at).desc())))


def _listing(session: Session, tenant_id: str | None, listing_id: str) -> AgentListing:
    listing = session.get(AgentListing, listing_id)
    visible = listing is not None and (listing.tenant_id == tenant_id or listing.scope == "platform")
    if listing is None or not visible or listing.status != "listed":
        raise MedAIError(ErrorCode.NOT_FOUND, "No such listing in the market.", "Reload the market.")
    return listing


def withdraw_listing(session: Session, principal: Principal, listing_id: str) -> AgentListing:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.UPDATE)
    listing = _listing(session, tenant_id, listing_id)
    if listing.tenant_id != tenant_id:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such listing of this tenant.", "Reload the market.")
    if listing.scope == "platform":
        authorize(session, principal, Area.AGENTS, Action.APPROVE, tenant_id)
    listing.status = "withdrawn"
    session.add(listing)
    audit.record_by(session, principal, "agent.unlist", "agent_listing", listing.id, tenant_id=listing.tenant_id)
    return listing


def install_listing(session: Session, principal: Principal, listing_id: str, name: str, slug: str) -> Any:
    """A copy of the listed agent in the caller's tenant (its draft; publish it to use it)."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.CREATE)
    listing = _listing(session, tenant_id, listing_id)
    spec = agents.AgentSpec(
        name=name or listing.name,
        slug=slug,
        mode=listing.mode,
        description=listing.description,
        graph=copy.deepcopy(listing.graph) if listing.mode == "graph" else None,
        chat_config=dict(listing.chat_config) if listing.mode == "chat" else None,
    )
    agent = agents.create_agent(session, principal, spec, installed_from=listing.id)
    listing.installs += 1
    session.add(listing)
    return agent
