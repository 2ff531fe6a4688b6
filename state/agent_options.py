"""Where the builder's select fields get their choices (NODE_SPECS' ``options_source``):
the tenant's model services, knowledge bases and tools, each only when the person may see them."""

from __future__ import annotations

from sqlmodel import Session

from backend.runtime import Runtime
from backend.services.agents import tools as agent_tools
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.knowledge import bases as knowledge
from backend.services.serving import gateway


def deployment_choices(session: Session, who: Principal) -> list[dict[str, str]]:
    if not may(session, who, Area.SERVING, Action.VIEW):
        return []
    names = sorted({d.name for d in gateway.available_models(session, who)})
    return [{"value": name, "label": name} for name in names]


def knowledge_choices(session: Session, who: Principal) -> list[dict[str, str]]:
    if not may(session, who, Area.KNOWLEDGE, Action.VIEW):
        return []
    bases = knowledge.list_knowledge_bases(session, who, who.tenant_id)
    return [{"value": kb.id, "label": kb.name} for kb in bases]


def tool_choices(session: Session, who: Principal) -> list[dict[str, str]]:
    if not may(session, who, Area.AGENTS, Action.VIEW):
        return []
    return [{"value": tool.ref, "label": tool.name} for tool in agent_tools.list_tools(session, who)]


def setting_options(_rt: Runtime, session: Session, who: Principal) -> dict[str, list[dict[str, str]]]:
    return {
        "deployments": deployment_choices(session, who),
        "knowledge_bases": knowledge_choices(session, who),
        "tools": tool_choices(session, who),
    }
