"""/api/jobs (training jobs, curves, logs), /api/training/presets, /api/pools and /api/queues."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from backend.api.auth import CurrentPrincipal, RuntimeDep
from backend.api.dependencies import SessionDep
from backend.services import pipelines
from backend.services.orchestration import pools as orchestration
from backend.services.training import jobs as training
from backend.services.training import presets as training_presets

router = APIRouter(prefix="/api", tags=["training"])


class NewJob(BaseModel):
    name: str = Field(max_length=128)
    type: str = "sft"
    base_model_version_id: str
    dataset_version_ids: list[str]
    eval_dataset_version_ids: list[str] = []
    preset: str = ""
    hyperparameters: dict[str, Any] = {}
    gpus: int = 0
    gpu_type: str = ""
    cpu: float = 2.0
    memory_gb: float = 8.0
    priority: int = 0
    queue: str = training.DEFAULT_QUEUE
    max_retries: int = 2


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    type: str
    status: str
    reason: str
    queue_position: int
    base_model_version_id: str
    dataset_version_ids: list[str]
    preset: str
    hyperparameters: dict[str, Any]
    gpus: int
    cpu: float
    memory_gb: float
    priority: int
    node: str
    attempts: int
    max_retries: int
    last_checkpoint_step: int
    result_model_version_id: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    message: str


class JobDetail(BaseModel):
    job: JobOut
    events: list[EventOut]


class SeriesOut(BaseModel):
    field: str
    times: list[datetime]
    values: list[float]


class Presets(BaseModel):
    job_types: list[str]
    available: list[str]
    shapes_for: dict[str, list[str]]
    defaults: dict[str, Any]
    presets: dict[str, dict[str, Any]]


class NewPool(BaseModel):
    name: str
    compute: str = "kubernetes"
    nodes: list[dict[str, Any]]
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []
    kueue_queue: str = ""


class NewQueue(BaseModel):
    tenant_id: str
    name: str
    pool: str
    nominal_gpus: int = 0
    borrowing_limit_gpus: int = 0
    nominal_cpu: float = 0.0
    per_user_gpus: int = 0
    preempt_lower_priority: bool = False


@router.get("/training/presets", response_model=Presets)
def get_presets(_principal: CurrentPrincipal) -> Presets:
    """Job types, the dataset shapes each takes, hyper-parameter defaults and presets."""
    return Presets(
        job_types=list(training_presets.JOB_TYPES),
        available=list(training.AVAILABLE_TYPES),
        shapes_for={k: list(v) for k, v in training_presets.SHAPES_FOR.items()},
        defaults=training_presets.DEFAULTS,
        presets=training_presets.PRESETS,
    )


@router.get("/jobs", response_model=list[JobOut])
def get_jobs(principal: CurrentPrincipal, session: SessionDep, status: str = "") -> list[JobOut]:
    return [JobOut.model_validate(j) for j in training.list_jobs(session, principal, status)]


@router.post("/jobs", response_model=JobOut, status_code=201)
def post_job(body: NewJob, principal: CurrentPrincipal, session: SessionDep) -> JobOut:
    """Queue a training job; the controller admits it when its queue's quota and a node allow."""
    request = training.JobRequest(
        **{
            **body.model_dump(),
            "dataset_version_ids": tuple(body.dataset_version_ids),
            "eval_dataset_version_ids": tuple(body.eval_dataset_version_ids),
        }
    )
    return JobOut.model_validate(training.submit_job(session, principal, request))


@router.get("/jobs/{job_id}", response_model=JobDetail)
def get_job(job_id: str, principal: CurrentPrincipal, session: SessionDep) -> JobDetail:
    job, events = training.get_job(session, principal, job_id)
    return JobDetail(job=JobOut.model_validate(job), events=[EventOut.model_validate(e) for e in events])


@router.get("/jobs/{job_id}/metrics", response_model=list[SeriesOut])
def get_job_metrics(
    job_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep, since: datetime | None = None
) -> Any:
    """Loss, eval loss, learning rate, grad norm, tokens/s, epoch, step and ETA over time."""
    series = training.job_curves(session, rt.metrics, principal, job_id, since)
    return [SeriesOut(field=s.field, times=s.times, values=s.values) for s in series]


@router.get("/jobs/{job_id}/log", response_class=PlainTextResponse)
def get_job_log(job_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep, lines: int = 200) -> str:
    return training.job_log(session, rt.compute, principal, job_id, min(max(lines, 1), 5000))


@router.post("/jobs/{job_id}/cancel", status_code=204)
def post_cancel(job_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> None:
    training.cancel_job(session, rt.compute, principal, job_id)


@router.post("/jobs/{job_id}/retry", status_code=204)
def post_retry(job_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    """Queue a failed or cancelled job again; it resumes from its last checkpoint."""
    training.retry_job(session, principal, job_id)


@router.get("/pools", response_model=list[orchestration.PoolView])
def get_pools(principal: CurrentPrincipal, session: SessionDep) -> Any:
    return orchestration.list_pools(session, principal)


@router.put("/pools", status_code=204)
def put_pool(body: NewPool, principal: CurrentPrincipal, session: SessionDep) -> None:
    """Create or change a pool (platform admins)."""
    orchestration.save_pool(session, principal, **body.model_dump())


@router.get("/queues", response_model=list[orchestration.QueueView])
def get_queues(principal: CurrentPrincipal, session: SessionDep) -> Any:
    return orchestration.list_queues(session, principal)


@router.put("/queues", status_code=204)
def put_queue(body: NewQueue, principal: CurrentPrincipal, session: SessionDep) -> None:
    """Create or change a tenant's queue and quota (platform admins)."""
    fields = body.model_dump()
    fields["pool_name"] = fields.pop("pool")
    orchestration.save_queue(session, principal, **fields)


class NewPipeline(BaseModel):
    name: str = Field(max_length=128)
    steps: list[dict[str, Any]] = Field(
        description="[{name, kind, depends_on, config}], kinds: " + ", ".join(pipelines.KINDS)
    )


class PipelineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    steps: list[dict[str, Any]]
    created_by: str
    created_at: datetime


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    pipeline_id: str
    status: str
    attempt: int
    steps: dict[str, dict[str, Any]]
    created_at: datetime
    finished_at: datetime | None


@router.get("/pipelines", response_model=list[PipelineOut])
def get_pipelines(principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [PipelineOut.model_validate(p) for p in pipelines.list_pipelines(session, principal)]


@router.put("/pipelines", response_model=PipelineOut)
def put_pipeline(body: NewPipeline, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """Create or replace a pipeline by name; the DAG is checked (kinds, dependencies, no cycles)."""
    return PipelineOut.model_validate(pipelines.save_pipeline(session, principal, body.name, body.steps))


@router.post("/pipelines/{pipeline_id}/runs", response_model=RunOut, status_code=201)
def post_run(pipeline_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return RunOut.model_validate(pipelines.start_run(session, principal, pipeline_id))


@router.get("/pipelines/{pipeline_id}/runs", response_model=list[RunOut])
def get_runs(pipeline_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [RunOut.model_validate(r) for r in pipelines.list_runs(session, principal, pipeline_id)]


@router.get("/pipeline-runs/{run_id}", response_model=RunOut)
def get_run(run_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return RunOut.model_validate(pipelines.get_run(session, principal, run_id)[1])


@router.post("/pipeline-runs/{run_id}/rerun", response_model=RunOut)
def post_rerun(run_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """Start a failed run again from its failed step; succeeded steps keep their results."""
    return RunOut.model_validate(pipelines.rerun(session, principal, run_id))
