"""What the training pages read, each in one transaction: the new-job form's choices (base model
versions, dataset versions, queues), the tenant's jobs with their progress, one job in full (events,
curves, log tail, the model it made) and the curves of several jobs to compare.

Use cases return plain dataclasses; the UI state turns them into its vars."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from backend.adapters.compute import Compute
from backend.adapters.metrics import MetricsStore, Series
from backend.models import Dataset, DatasetVersion, JobEvent, JobQueue, ModelAsset, ModelVersion, TrainingJob
from backend.services.identity import platform_assets
from backend.services.identity.access import Principal, authorize, in_tenant, may
from backend.services.identity.permissions import Action, Area
from backend.services.training import jobs


@dataclass
class Choices:
    """What the new-job form (and the pipeline builder) may pick from."""

    may_view: bool = False
    may_submit: bool = False
    models: list[dict[str, str]] = field(default_factory=list)  # {id, label}
    datasets: list[dict[str, str]] = field(default_factory=list)  # {id, label, shape, rows}
    queues: list[str] = field(default_factory=list)
    platform_models: list[str] = field(default_factory=list)  # provided by the platform (the starter model)


@dataclass(frozen=True)
class JobInfo:
    """One training job's facts, as read (times as datetimes)."""

    id: str
    name: str
    type: str
    status: str
    reason: str
    queue_id: str
    queue_position: int
    attempts: int
    max_retries: int
    last_checkpoint_step: int
    node: str
    preset: str
    gpus: int
    gpu_type: str
    cpu: float
    memory_gb: float
    priority: int
    hyperparameters: dict[str, Any]
    result_model_version_id: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class JobListing:
    """A job in the list, with its latest logged step and total while it runs."""

    job: JobInfo
    step: float | None = None
    total_steps: float | None = None


@dataclass(frozen=True)
class EventInfo:
    at: datetime
    kind: str
    message: str


@dataclass(frozen=True)
class ResultModel:
    """The model version a succeeded job registered; ``model_id`` empty when it cannot be read."""

    id: str
    model_id: str
    label: str


@dataclass(frozen=True)
class JobDetail:
    job: JobInfo
    events: list[EventInfo]
    series: list[Series]
    log: str
    result: ResultModel | None = None


@dataclass(frozen=True)
class JobCurves:
    """One job's logged metrics, named for a comparison chart."""

    job_id: str
    name: str
    series: list[Series]


def latest(series: list[Series], name: str) -> float | None:
    """The last value logged for ``name``; None when there is none."""
    for s in series:
        if s.field == name and s.values:
            return float(s.values[-1])
    return None


def info(job: TrainingJob) -> JobInfo:
    return JobInfo(
        id=job.id,
        name=job.name,
        type=job.type,
        status=job.status,
        reason=job.reason,
        queue_id=job.queue_id,
        queue_position=job.queue_position,
        attempts=job.attempts,
        max_retries=job.max_retries,
        last_checkpoint_step=job.last_checkpoint_step,
        node=job.node,
        preset=job.preset,
        gpus=job.gpus,
        gpu_type=job.gpu_type,
        cpu=job.cpu,
        memory_gb=job.memory_gb,
        priority=job.priority,
        hyperparameters=dict(job.hyperparameters),
        result_model_version_id=job.result_model_version_id,
        created_by=job.created_by,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _job(session: Session, tenant_id: str | None, job_id: str) -> TrainingJob:
    return in_tenant(session, TrainingJob, job_id, tenant_id, "job", "Reload the job list.")


# the new-job form ----------------------------------------------------------------------------


def _model_choices(session: Session, tenant_id: str, found: Choices) -> None:
    """Model versions in use, the tenant's before the platform's (the form preselects the first), in one read."""
    platform_id = platform_assets.platform_tenant_id(session)  # its models are every tenant's to read
    owners = [tenant_id] if platform_id in (None, tenant_id) else [tenant_id, platform_id]
    rows = session.exec(
        select(ModelAsset, ModelVersion)
        .join(ModelVersion, ModelVersion.model_id == ModelAsset.id)  # type: ignore[arg-type]
        .where(ModelAsset.tenant_id.in_(owners))  # type: ignore[attr-defined]
        .order_by(ModelAsset.name, ModelAsset.id, ModelVersion.version.desc())  # type: ignore[attr-defined]
    ).all()
    seen: set[str] = set()
    for model, version in sorted(rows, key=lambda row: row[0].tenant_id != tenant_id):  # stable: keeps the order
        if model.id not in seen:
            seen.add(model.id)
            if model.tenant_id != tenant_id:
                found.platform_models.append(model.name)
        if version.status != "retired":
            found.models.append({"id": version.id, "label": f"{model.name} v{version.version} · {version.format}"})


def _dataset_choices(session: Session, tenant_id: str, found: Choices) -> None:
    """The tenant's active dataset versions, in one read."""
    rows = session.exec(
        select(Dataset, DatasetVersion)
        .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)  # type: ignore[arg-type]
        .where(Dataset.tenant_id == tenant_id, DatasetVersion.status == "active")
        .order_by(Dataset.name, Dataset.id, DatasetVersion.version.desc())  # type: ignore[attr-defined]
    ).all()
    found.datasets += [
        {"id": v.id, "label": f"{dataset.name} v{v.version}", "shape": v.shape, "rows": str(v.rows)}
        for dataset, v in rows
    ]


def job_choices(session: Session, principal: Principal) -> Choices:
    """Base model versions in use, active dataset versions and the tenant's queues."""
    found = Choices(
        may_view=may(session, principal, Area.TRAINING, Action.VIEW),
        may_submit=may(session, principal, Area.TRAINING, Action.CREATE),
    )
    tenant_id = principal.tenant_id
    if found.may_submit and tenant_id is not None and may(session, principal, Area.ASSETS, Action.VIEW):
        _model_choices(session, tenant_id, found)
        _dataset_choices(session, tenant_id, found)
    names = {jobs.DEFAULT_QUEUE}
    if tenant_id is not None and may(session, principal, Area.ORCHESTRATION, Action.VIEW):
        names |= set(session.exec(select(JobQueue.name).where(JobQueue.tenant_id == tenant_id)).all())
    found.queues = sorted(names)
    return found


# the jobs ------------------------------------------------------------------------------------


def job_listings(session: Session, principal: Principal, metrics: MetricsStore) -> list[JobListing]:
    """The tenant's jobs, newest first; a running one with the step and total it logged last."""
    listings = []
    for job in jobs.list_jobs(session, principal):
        if job.status != "running":
            listings.append(JobListing(info(job)))
            continue
        series = jobs.curves_of(metrics, job)
        listings.append(JobListing(info(job), latest(series, "step"), latest(series, "total_steps")))
    return listings


def _result_model(session: Session, principal: Principal, version_id: str) -> ResultModel:
    """The model version a succeeded job registered, when this tenant may read it (its own or the platform's)."""
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    version = session.get(ModelVersion, version_id)
    model = session.get(ModelAsset, version.model_id) if version is not None else None
    readable = model is not None and (
        model.tenant_id == tenant_id or platform_assets.is_platform_owned(session, model.tenant_id)
    )
    if version is not None and model is not None and readable:
        return ResultModel(version.id, model.id, f"{model.name} v{version.version}")
    return ResultModel(version_id, "", version_id)


def job_detail(
    session: Session, principal: Principal, metrics: MetricsStore, compute: Compute, job_id: str, log_lines: int
) -> JobDetail:
    """One job with its events, logged metrics, the tail of its log and the model it made."""
    tenant_id = authorize(session, principal, Area.TRAINING, Action.VIEW)
    job = _job(session, tenant_id, job_id)
    events = session.exec(select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id)).all()  # type: ignore[arg-type]
    return JobDetail(
        job=info(job),
        events=[EventInfo(e.at, e.kind, e.message) for e in events],
        series=jobs.curves_of(metrics, job),
        log=compute.log_tail(job.compute_ref, log_lines) if job.compute_ref else "",
        result=_result_model(session, principal, job.result_model_version_id) if job.result_model_version_id else None,
    )


def compare_curves(
    session: Session, principal: Principal, metrics: MetricsStore, job_ids: list[str]
) -> list[JobCurves]:
    """The logged metrics of several jobs of the tenant, in the order asked."""
    tenant_id = authorize(session, principal, Area.TRAINING, Action.VIEW)
    chosen = [_job(session, tenant_id, job_id) for job_id in job_ids]
    return [JobCurves(job.id, job.name, jobs.curves_of(metrics, job)) for job in chosen]
