"""Model services (deployments), their replicas, and gateway usage (source §3.2 model
invocation, §4.1 model publishing, §6.2 fallback)."""

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models.base import utcnow
from backend.models.identity import new_id


class Deployment(SQLModel, table=True):
    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_deployment_tenant_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    name: str = Field(max_length=64)  # the model name clients send to /v1
    model_version_id: str = Field(foreign_key="model_version.id", max_length=32)
    previous_model_version_id: str | None = Field(default=None, max_length=32)  # for rollback
    engine: str = Field(max_length=16)  # local | vllm
    replicas: int = Field(default=1)
    gpus: int = Field(default=0)
    cpu: float = Field(default=2.0)
    memory_gb: float = Field(default=8.0)
    max_model_len: int = Field(default=2048)
    gpu_memory_utilization: float = Field(default=0.9)
    tensor_parallel_size: int = Field(default=1)
    engine_args: list[str] | None = Field(default_factory=list, sa_column=Column(JSON, nullable=True))  # vLLM's own
    standby_deployment_id: str | None = Field(default=None, max_length=32)  # fallback when this one fails
    status: str = Field(default="pending", max_length=16, index=True)  # pending starting ready failed stopped
    reason: str = Field(default="", max_length=1000)
    requests_per_minute: int = Field(default=0)  # 0: no per-service limit
    shared: bool = Field(default=False)  # a platform service every tenant may call (the starter model)
    created_by: str = Field(max_length=254)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Replica(SQLModel, table=True):
    __tablename__ = "deployment_replica"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    deployment_id: str = Field(foreign_key="deployment.id", index=True, max_length=32)
    model_version_id: str = Field(max_length=32)
    ordinal: int
    compute_ref: str = Field(default="", max_length=255)
    url: str = Field(default="", max_length=255)
    status: str = Field(default="starting", max_length=16)  # starting | ready | unhealthy | failed | draining
    reason: str = Field(default="", max_length=1000)
    restarts: int = Field(default=0)
    failed_checks: int = Field(default=0)  # /health misses in a row while it runs; the gateway skips it meanwhile
    started_at: datetime = Field(default_factory=utcnow)
    ready_at: datetime | None = Field(default=None)
    draining_since: datetime | None = Field(default=None)  # out of the routes, finishing what it was given


class UsageRecord(SQLModel, table=True):
    """One gateway request: who, which service, tokens, latency, outcome (metering)."""

    __tablename__ = "usage_record"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    tenant_id: str = Field(max_length=32, index=True)
    api_key_id: str | None = Field(default=None, max_length=32, index=True)
    user_id: str = Field(max_length=32)
    deployment_id: str = Field(max_length=32, index=True)
    model: str = Field(max_length=64)
    endpoint: str = Field(max_length=32)
    prompt_tokens: int = Field(default=0)
    completion_tokens: int = Field(default=0)
    latency_ms: float = Field(default=0.0)
    status: int = Field(default=200)
    served_by: str = Field(default="", max_length=32)  # replica id, or the standby deployment's
