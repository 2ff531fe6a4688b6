"""What an agent's use leaves behind (conversations, runs, feedback) and its deletion with the agent.

Its own module so that deleting an agent (``definitions``) and running one (``runs``, which
needs ``definitions``) do not import each other."""

from __future__ import annotations

from sqlmodel import Session, col, delete, select

from backend.models import AgentConversation, AgentFeedback, AgentRun


def delete_history(session: Session, agent_id: str) -> None:
    """Every conversation, run and feedback of an agent (the agents service deletes the agent)."""
    run_ids = select(AgentRun.id).where(AgentRun.agent_id == agent_id)
    session.exec(delete(AgentFeedback).where(col(AgentFeedback.run_id).in_(run_ids)))
    session.exec(delete(AgentRun).where(AgentRun.agent_id == agent_id))
    session.exec(delete(AgentConversation).where(AgentConversation.agent_id == agent_id))
