"""Agents (source §2.3.2): drafts and published versions of graphs, HTTP tools and the hosts
they may reach, conversations and runs with their per-node traces, feedback, and the market."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models.base import utcnow
from backend.models.identity import new_id


class Agent(SQLModel, table=True):
    __tablename__ = "agent"
    __table_args__ = (UniqueConstraint("tenant_id", "slug", name="uq_agent_tenant_slug"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    slug: str = Field(max_length=64)  # clients call it as model "agent:<slug>"
    name: str = Field(max_length=128)
    description: str = Field(default="", max_length=1000)
    mode: str = Field(default="graph", max_length=16)  # graph | chat
    graph: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # draft graph
    chat_config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # draft
    visibility: str = Field(default="tenant", max_length=16)  # tenant | private (creator and admins)
    active_version_id: str | None = Field(default=None, max_length=32)
    installed_from: str | None = Field(default=None, max_length=32)  # market listing id
    created_by: str = Field(max_length=254)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AgentVersion(SQLModel, table=True):
    """A published snapshot; exactly one per agent is active (what /v1 and runs use)."""

    __tablename__ = "agent_version"
    __table_args__ = (UniqueConstraint("agent_id", "number", name="uq_agent_version_number"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    agent_id: str = Field(foreign_key="agent.id", index=True, max_length=32)
    tenant_id: str = Field(max_length=32, index=True)
    number: int
    mode: str = Field(max_length=16)
    graph: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # runnable graph
    chat_config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str = Field(default="", max_length=1000)
    active: bool = Field(default=False)
    published_by: str = Field(max_length=254)
    published_by_id: str = Field(max_length=32)
    published_at: datetime = Field(default_factory=utcnow)


class AgentTool(SQLModel, table=True):
    """A custom HTTP tool; it only reaches hosts the tenant registered."""

    __tablename__ = "agent_tool"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_agent_tool_tenant_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    name: str = Field(max_length=64)  # the function name models see
    description: str = Field(default="", max_length=1000)
    method: str = Field(default="GET", max_length=8)
    url: str = Field(max_length=1000)  # may hold {param} placeholders
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # JSON schema
    auth_header: str = Field(default="", max_length=64)  # e.g. Authorization; empty: no auth
    auth_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # envelope-encrypted
    timeout_s: float = Field(default=10.0)
    created_by: str = Field(max_length=254)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AgentAllowedHost(SQLModel, table=True):
    __tablename__ = "agent_allowed_host"
    __table_args__ = (UniqueConstraint("tenant_id", "host", name="uq_agent_allowed_host"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    host: str = Field(max_length=255)  # host or host:port, lowercase
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)


class AgentConversation(SQLModel, table=True):
    __tablename__ = "agent_conversation"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=32, index=True)
    agent_id: str = Field(foreign_key="agent.id", index=True, max_length=32)
    title: str = Field(default="", max_length=200)
    channel: str = Field(default="api", max_length=16)  # api | openai | web | draft
    user_id: str = Field(max_length=32)
    api_key_id: str | None = Field(default=None, max_length=32)
    started_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AgentRun(SQLModel, table=True):
    """One run: inputs, answer with citations, and the per-node trace
    (node_id, type, status, input, output, latency_ms, tokens, error)."""

    __tablename__ = "agent_run"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=32, index=True)
    agent_id: str = Field(foreign_key="agent.id", index=True, max_length=32)
    version_id: str | None = Field(default=None, max_length=32)  # None: a test run of the draft
    conversation_id: str | None = Field(default=None, max_length=32, index=True)
    status: str = Field(default="running", max_length=16)  # running | succeeded | failed
    query: str = Field(default="", sa_column=Column(Text, nullable=False))  # the user's message
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    answer: str = Field(default="", sa_column=Column(Text, nullable=False))
    citations: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    trace: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    error: str = Field(default="", max_length=2000)
    failed_node: str = Field(default="", max_length=64)
    prompt_tokens: int = Field(default=0)
    completion_tokens: int = Field(default=0)
    latency_ms: float = Field(default=0.0)
    user_id: str = Field(max_length=32)
    api_key_id: str | None = Field(default=None, max_length=32)
    started_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = Field(default=None)


class AgentFeedback(SQLModel, table=True):
    __tablename__ = "agent_feedback"
    __table_args__ = (UniqueConstraint("run_id", "user_id", name="uq_agent_feedback_run_user"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=32, index=True)
    agent_id: str = Field(max_length=32, index=True)
    run_id: str = Field(foreign_key="agent_run.id", index=True, max_length=32)
    rating: int = Field(default=0)  # 1 thumbs up, -1 thumbs down, 0 none
    annotation: str = Field(default="", sa_column=Column(Text, nullable=False))
    user_id: str = Field(max_length=32)
    by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AgentListing(SQLModel, table=True):
    """An agent offered in the market: to the publisher's tenant or to every tenant (platform)."""

    __tablename__ = "agent_listing"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)  # the publisher's
    agent_id: str = Field(max_length=32, index=True)
    scope: str = Field(default="tenant", max_length=16, index=True)  # tenant | platform
    name: str = Field(max_length=128)
    description: str = Field(default="", max_length=1000)
    mode: str = Field(max_length=16)
    graph: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    chat_config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="listed", max_length=16)  # listed | withdrawn
    installs: int = Field(default=0)
    published_by: str = Field(max_length=254)
    published_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
