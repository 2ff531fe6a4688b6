"""Training jobs, their events, and the pools and queues they are admitted to (source §2.3.1
R&D flow, §2.4 orchestration)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models.base import utcnow
from backend.models.identity import new_id


class ResourcePool(SQLModel, table=True):
    """Nodes that jobs run on: the local machine, or a Kubernetes node group."""

    __tablename__ = "resource_pool"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=64, unique=True)
    compute: str = Field(max_length=16)  # local | kubernetes
    nodes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    node_selector: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    tolerations: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    kueue_queue: str = Field(default="", max_length=64)  # LocalQueue name when Kueue manages admission
    created_at: datetime = Field(default_factory=utcnow)


class JobQueue(SQLModel, table=True):
    """A tenant's queue in a pool, with its quota."""

    __tablename__ = "job_queue"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_queue_tenant_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    pool_id: str = Field(foreign_key="resource_pool.id", index=True, max_length=32)
    name: str = Field(max_length=64)
    nominal_gpus: int = Field(default=0)
    borrowing_limit_gpus: int = Field(default=0)
    nominal_cpu: float = Field(default=0.0)
    per_user_gpus: int = Field(default=0)
    preempt_lower_priority: bool = Field(default=False)  # a waiting job may evict lower-priority ones of this queue
    created_at: datetime = Field(default_factory=utcnow)


class TrainingJob(SQLModel, table=True):
    __tablename__ = "training_job"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    name: str = Field(max_length=128)
    type: str = Field(max_length=24)  # sft | dpo | grpo | reward | eval | batch_inference | custom
    base_model_version_id: str = Field(foreign_key="model_version.id", max_length=32)
    dataset_version_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    eval_dataset_version_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    preset: str = Field(default="", max_length=32)
    hyperparameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    gpus: int = Field(default=0)
    gpu_type: str = Field(default="", max_length=32)
    cpu: float = Field(default=2.0)
    memory_gb: float = Field(default=8.0)
    priority: int = Field(default=0)
    queue_id: str = Field(foreign_key="job_queue.id", index=True, max_length=32)
    status: str = Field(default="queued", max_length=16, index=True)
    # queued | running | succeeded | failed | cancelled; "queued" jobs carry the reason they wait
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    queue_position: int = Field(default=0)
    node: str = Field(default="", max_length=128)
    compute_ref: str = Field(default="", max_length=255)  # pid or Kubernetes Job name of the attempt
    attempts: int = Field(default=0)
    max_retries: int = Field(default=2)
    resume_requested: bool = Field(default=False)
    last_checkpoint_step: int = Field(default=0)
    result_model_version_id: str | None = Field(default=None, max_length=32)
    script: str = Field(default="", sa_column=Column(Text, nullable=False))  # custom jobs: the Python it runs
    created_by: str = Field(max_length=254)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = Field(default=None)
    finished_at: datetime | None = Field(default=None)


class JobEvent(SQLModel, table=True):
    """What happened to a job, in order: queued, admitted, started, checkpoint, retry, failed …"""

    __tablename__ = "job_event"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="training_job.id", index=True, max_length=32)
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=32)
    message: str = Field(default="", sa_column=Column(Text, nullable=False))


class Pipeline(SQLModel, table=True):
    """A DAG of steps (data check → train → eval → register …) that runs as a whole."""

    __tablename__ = "pipeline"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_pipeline_tenant_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    name: str = Field(max_length=128)
    # [{"name", "kind", "depends_on": [names], "config": {...}}]
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=254)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class PipelineRun(SQLModel, table=True):
    __tablename__ = "pipeline_run"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    pipeline_id: str = Field(foreign_key="pipeline.id", index=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    status: str = Field(default="running", max_length=16, index=True)  # running | succeeded | failed | cancelled
    # step name → {"status": pending|running|succeeded|failed|skipped, "job_id", "reason", "output"}
    steps: dict[str, dict[str, Any]] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    attempt: int = Field(default=1)
    created_by: str = Field(max_length=254)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = Field(default=None)
