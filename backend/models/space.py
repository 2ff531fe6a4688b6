"""AI space (source §4.1): workbenches with their members, approval requests, usage intervals
for cost, the tenant's monthly budget, and the packages installed into a workbench's environment."""

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models.base import utcnow
from backend.models.identity import new_id


class Workbench(SQLModel, table=True):
    __tablename__ = "workbench"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_workbench_tenant_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    name: str = Field(max_length=64)
    description: str = Field(default="", max_length=1000)
    image: str = Field(default="", max_length=255)  # the container image on Kubernetes
    cpu: float = Field(default=2.0)
    gpus: int = Field(default=0)
    memory_gb: float = Field(default=4.0)
    storage_gb: float = Field(default=10.0)
    idle_timeout_s: int = Field(default=3600)  # 0: never stopped for idleness
    # pending_approval rejected starting running stopping stopped failed
    status: str = Field(default="starting", max_length=24, index=True)
    reason: str = Field(default="", max_length=1000)
    compute_ref: str = Field(default="", max_length=255)
    url: str = Field(default="", max_length=255)  # base URL of its JupyterLab
    token_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # KeyRing-sealed
    last_activity_at: datetime | None = Field(default=None)
    started_at: datetime | None = Field(default=None)
    created_by: str = Field(max_length=254)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class WorkbenchMember(SQLModel, table=True):
    __tablename__ = "workbench_member"
    __table_args__ = (UniqueConstraint("workbench_id", "user_id", name="uq_workbench_member"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    workbench_id: str = Field(foreign_key="workbench.id", index=True, max_length=32)
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    role: str = Field(max_length=16)  # owner | editor | viewer
    added_by: str = Field(max_length=254)
    added_at: datetime = Field(default_factory=utcnow)


class WorkbenchApproval(SQLModel, table=True):
    """A request for resources beyond the tenant's self-service limits, and its decision."""

    __tablename__ = "workbench_approval"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    workbench_id: str = Field(foreign_key="workbench.id", index=True, max_length=32)
    requested_by: str = Field(max_length=254)
    requested_by_id: str = Field(max_length=32)
    reason: str = Field(max_length=1000)  # why the requester needs it
    exceeds: str = Field(default="", max_length=500)  # which limits it goes beyond
    status: str = Field(default="pending", max_length=16, index=True)  # pending | approved | rejected
    decided_by: str = Field(default="", max_length=254)
    decision_note: str = Field(default="", max_length=1000)
    decided_at: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)


class WorkbenchUsage(SQLModel, table=True):
    """One interval a workbench held its resources (start to stop), for cost accounting."""

    __tablename__ = "workbench_usage"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    workbench_id: str = Field(foreign_key="workbench.id", index=True, max_length=32)
    cpu: float
    gpus: int
    memory_gb: float
    storage_gb: float
    started_at: datetime = Field(default_factory=utcnow, index=True)
    ended_at: datetime | None = Field(default=None)


class WorkbenchBudget(SQLModel, table=True):
    """A tenant's monthly budget for workbenches; ``alerted_month`` ("2026-11") once crossed."""

    __tablename__ = "workbench_budget"

    tenant_id: str = Field(foreign_key="tenant.id", primary_key=True, max_length=32)
    monthly_budget: float = Field(default=0.0)  # 0: no budget
    alerted_month: str = Field(default="", max_length=7)
    updated_by: str = Field(default="", max_length=254)
    updated_at: datetime = Field(default_factory=utcnow)


class WorkbenchPackage(SQLModel, table=True):
    """A pip requirement installed into a workbench's environment (and kept in its requirements.txt)."""

    __tablename__ = "workbench_package"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    workbench_id: str = Field(foreign_key="workbench.id", index=True, max_length=32)
    requirement: str = Field(max_length=200)
    status: str = Field(default="pending", max_length=16)  # pending | installing | installed | failed
    detail: str = Field(default="", max_length=2000)  # pip's last lines
    requested_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = Field(default=None)
