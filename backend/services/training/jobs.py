"""Training jobs: submit, follow, cancel, retry; and the controller's reconcile pass that
admits queued jobs, starts attempts, watches them, resumes failed ones from their last
checkpoint and registers the trained model with its lineage (source §2.3.1, §6.1, §6.2).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from backend.adapters.compute import Compute, Launch
from backend.adapters.metrics import MetricsStore, Series
from backend.adapters.objectstore import ObjectStore, tenant_prefix
from backend.contracts.training import DatasetFile, TrainSpec, latest_checkpoint
from backend.errors import ErrorCode, MedAIError
from backend.models import (
    DatasetVersion,
    JobEvent,
    JobQueue,
    ModelAsset,
    ModelVersion,
    ResourcePool,
    TrainingJob,
)
from backend.models.base import utcnow
from backend.services.assets import datasets, lineage, model_registry
from backend.services.identity import audit, platform_assets
from backend.services.identity.access import Principal, authorize, in_tenant, on_behalf_of
from backend.services.identity.permissions import Action, Area
from backend.services.orchestration import scheduling
from backend.services.orchestration.pools import local_pool
from backend.services.training import presets as training_presets

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
ACTIVE = ("queued", "running")
AVAILABLE_TYPES = ("sft", "dpo", "grpo", "reward", "eval", "batch_inference", "custom")
SCRIPT_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class JobRequest:
    name: str
    type: str
    base_model_version_id: str
    dataset_version_ids: tuple[str, ...]
    eval_dataset_version_ids: tuple[str, ...] = ()
    preset: str = ""
    hyperparameters: dict[str, Any] | None = None
    gpus: int = 0
    gpu_type: str = ""
    cpu: float = 2.0
    memory_gb: float = 8.0
    priority: int = 0
    queue: str = DEFAULT_QUEUE
    max_retries: int = 2
    script: str = ""  # custom jobs only: the Python source the worker runs


def _event(session: Session, job: TrainingJob, kind: str, message: str = "") -> None:
    session.add(JobEvent(job_id=job.id, kind=kind, message=message))


def _audit(session: Session, actor: Principal | None, job: TrainingJob, action: str, **detail: Any) -> None:
    audit.record_by(session, actor, action, "training_job", job.id, tenant_id=job.tenant_id, **detail)


# pools and queues ------------------------------------------------------------------------


def _queue(session: Session, tenant_id: str, name: str) -> JobQueue:
    queue = session.exec(select(JobQueue).where(JobQueue.tenant_id == tenant_id, JobQueue.name == name)).first()
    if queue is None and name == DEFAULT_QUEUE:
        pool = local_pool(session)
        queue = JobQueue(
            tenant_id=tenant_id,
            pool_id=pool.id,
            name=DEFAULT_QUEUE,
            nominal_gpus=sum(int(n.get("gpus", 0)) for n in pool.nodes),
        )
        session.add(queue)
        session.flush()
    if queue is None:
        raise MedAIError(ErrorCode.NOT_FOUND, f"No queue '{name}' in this tenant.", "Pick a queue from the list.")
    return queue


# submitting and following ----------------------------------------------------------------


def _dataset_versions(session: Session, tenant_id: str, ids: tuple[str, ...], job_type: str) -> list[DatasetVersion]:
    rows = [session.get(DatasetVersion, i) for i in ids]
    if any(r is None or r.tenant_id != tenant_id for r in rows):
        raise MedAIError(ErrorCode.NOT_FOUND, "A dataset version is not in this tenant.", "Pick it from the list.")
    accepted = training_presets.SHAPES_FOR[job_type]
    wrong = [r for r in rows if r is not None and (r.shape not in accepted or r.status != "active")]
    if wrong:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"{job_type.upper()} cannot train on {', '.join(f'{r.filename} ({r.shape}, {r.status})' for r in wrong)}.",
            f"{job_type.upper()} needs active datasets shaped as: {', '.join(accepted)}.",
        )
    return [r for r in rows if r is not None]


def _check_script(request: JobRequest) -> None:
    """A custom job needs a script that Python can parse; other types take none."""
    if request.type != "custom":
        if request.script.strip():
            raise MedAIError(
                ErrorCode.DATA_INVALID, "Only custom jobs run a script.", "Choose the custom type or clear it."
            )
        return
    if not request.script.strip() or len(request.script.encode()) > SCRIPT_MAX_BYTES:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            "A custom job needs a Python script of up to 64 KiB.",
            "Paste the script; large code belongs in an image or a workbench.",
        )
    try:
        compile(request.script, "script.py", "exec")
    except SyntaxError as error:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"The script does not parse: {error.msg} (line {error.lineno}).",
            "Fix that line and submit again.",
        ) from None


def submit_job(session: Session, principal: Principal, request: JobRequest) -> TrainingJob:
    tenant_id = authorize(session, principal, Area.TRAINING, Action.CREATE)
    assert tenant_id is not None
    if request.type not in training_presets.JOB_TYPES:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown job type '{request.type}'.", "Pick a type from the list.")
    if request.type not in AVAILABLE_TYPES:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"{request.type} jobs are not available yet on this platform.",
            f"Run {', '.join(t.upper() for t in AVAILABLE_TYPES)}; the other types arrive in a later release.",
        )
    _check_script(request)
    if not request.name.strip() or len(request.name) > 128:
        raise MedAIError(ErrorCode.DATA_INVALID, "A job needs a name of 1-128 characters.", "Type a name.")
    if not request.dataset_version_ids:
        raise MedAIError(ErrorCode.DATA_INVALID, "A training job needs a dataset.", "Pick at least one dataset.")
    base = platform_assets.usable_model_version(session, tenant_id, request.base_model_version_id)
    if base.status == "retired":
        raise MedAIError(ErrorCode.CONFLICT, "The base model version is retired.", "Pick a version in use.")
    _dataset_versions(session, tenant_id, request.dataset_version_ids, request.type)
    _dataset_versions(session, tenant_id, request.eval_dataset_version_ids, request.type)
    hyperparameters = training_presets.resolve(request.preset, request.hyperparameters or {})
    generations = hyperparameters["per_device_train_batch_size"] * hyperparameters["gradient_accumulation_steps"]
    if request.type == "grpo" and generations % hyperparameters["grpo_num_generations"]:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"GRPO samples {hyperparameters['grpo_num_generations']} completions per prompt, which must divide "
            f"batch size × gradient accumulation ({generations}).",
            "Change the number of generations, the batch size or the gradient accumulation.",
        )
    if request.gpus < 0 or request.cpu <= 0 or request.memory_gb <= 0 or not 0 <= request.max_retries <= 10:
        raise MedAIError(ErrorCode.DATA_INVALID, "Resources must be positive and retries 0-10.", "Fix the numbers.")
    queue = _queue(session, tenant_id, request.queue)
    job = TrainingJob(
        tenant_id=tenant_id,
        name=request.name.strip(),
        type=request.type,
        base_model_version_id=base.id,
        dataset_version_ids=list(request.dataset_version_ids),
        eval_dataset_version_ids=list(request.eval_dataset_version_ids),
        preset=request.preset,
        hyperparameters=hyperparameters,
        gpus=request.gpus,
        gpu_type=request.gpu_type,
        cpu=request.cpu,
        memory_gb=request.memory_gb,
        priority=request.priority,
        queue_id=queue.id,
        max_retries=request.max_retries,
        script=request.script if request.type == "custom" else "",
        reason="waiting for the scheduler",
        created_by=principal.label,
        created_by_id=principal.user_id,
    )
    session.add(job)
    session.flush()
    _event(session, job, "queued", f"queue {queue.name}, priority {job.priority}")
    script = {"script_sha256": hashlib.sha256(job.script.encode()).hexdigest()} if job.script else {}
    _audit(session, principal, job, "job.submit", type=job.type, queue=queue.name, **script)
    return job


def _job(session: Session, tenant_id: str | None, job_id: str) -> TrainingJob:
    return in_tenant(session, TrainingJob, job_id, tenant_id, "job", "Reload the job list.")


def list_jobs(session: Session, principal: Principal, status: str = "") -> list[TrainingJob]:
    tenant_id = authorize(session, principal, Area.TRAINING, Action.VIEW)
    query = select(TrainingJob).where(TrainingJob.tenant_id == tenant_id).order_by(TrainingJob.created_at.desc())
    if status:
        query = query.where(TrainingJob.status == status)
    return list(session.exec(query).all())


def get_job(session: Session, principal: Principal, job_id: str) -> tuple[TrainingJob, list[JobEvent]]:
    tenant_id = authorize(session, principal, Area.TRAINING, Action.VIEW)
    job = _job(session, tenant_id, job_id)
    events = session.exec(select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id)).all()
    return job, list(events)


def job_curves(
    session: Session, metrics: MetricsStore, principal: Principal, job_id: str, since: datetime | None = None
) -> list[Series]:
    """The job's logged metrics (loss, eval_loss, learning_rate, grad_norm, tokens_per_s, …)."""
    tenant_id = authorize(session, principal, Area.TRAINING, Action.VIEW)
    return curves_of(metrics, _job(session, tenant_id, job_id), since)


def curves_of(metrics: MetricsStore, job: TrainingJob, since: datetime | None = None) -> list[Series]:
    """The metrics a job (already authorized) logged since ``since`` (default: since it was made)."""
    start = since or job.created_at - timedelta(minutes=1)
    return metrics.query("train", {"job_id": job.id, "tenant_id": job.tenant_id}, start)


def job_log(session: Session, compute: Compute, principal: Principal, job_id: str, lines: int = 200) -> str:
    tenant_id = authorize(session, principal, Area.TRAINING, Action.VIEW)
    job = _job(session, tenant_id, job_id)
    return compute.log_tail(job.compute_ref, lines) if job.compute_ref else ""


def cancel_job(session: Session, compute: Compute, principal: Principal, job_id: str) -> None:
    tenant_id = authorize(session, principal, Area.TRAINING, Action.UPDATE)
    job = _job(session, tenant_id, job_id)
    if job.status not in ACTIVE:
        raise MedAIError(ErrorCode.CONFLICT, f"The job is already {job.status}.", "Nothing to cancel.")
    if job.status == "running" and job.compute_ref:
        compute.cancel(job.compute_ref)
    job.status, job.reason, job.finished_at = "cancelled", f"cancelled by {principal.label}", utcnow()
    session.add(job)
    _event(session, job, "cancelled", job.reason)
    _audit(session, principal, job, "job.cancel")


def retry_job(session: Session, principal: Principal, job_id: str) -> None:
    """Queue a failed or cancelled job again; it resumes from its last checkpoint."""
    tenant_id = authorize(session, principal, Area.TRAINING, Action.UPDATE)
    job = _job(session, tenant_id, job_id)
    if job.status not in ("failed", "cancelled"):
        raise MedAIError(ErrorCode.CONFLICT, f"A {job.status} job cannot be retried.", "Wait until it ends.")
    job.status, job.resume_requested, job.finished_at = "queued", True, None
    job.reason = "queued again by hand; resumes from the last checkpoint"
    session.add(job)
    _event(session, job, "retry", job.reason)
    _audit(session, principal, job, "job.retry")


# the controller's pass -------------------------------------------------------------------


def _job_prefix(job: TrainingJob) -> str:
    return f"{tenant_prefix(job.tenant_id)}jobs/{job.id}/"


def _spec(session: Session, job: TrainingJob, data_dir: str) -> TrainSpec:
    base = session.get(ModelVersion, job.base_model_version_id)
    assert base is not None

    def files(ids: list[str]) -> list[DatasetFile]:
        rows = [session.get(DatasetVersion, i) for i in ids]
        return [DatasetFile(r.object_key, r.file_type, r.shape) for r in rows if r is not None]

    return TrainSpec(
        job_id=job.id,
        tenant_id=job.tenant_id,
        type=job.type,
        base_model_prefix=base.storage_prefix,
        base_model_files=[f["path"] for f in base.files],
        train=files(job.dataset_version_ids),
        eval=files(job.eval_dataset_version_ids),
        hyperparameters=job.hyperparameters,
        job_prefix=_job_prefix(job),
        workdir=f"{data_dir}/jobs/{job.id}",
        resume=job.attempts > 0 or job.resume_requested,
        script=job.script,
    )


def _result(objects: ObjectStore, job: TrainingJob) -> dict[str, Any] | None:
    key = _job_prefix(job) + "result.json"
    if not objects.exists(key):
        return None
    return json.loads(b"".join(objects.open(key)))


def _owner(session: Session, job: TrainingJob) -> Principal:
    return on_behalf_of(session, job.created_by_id, job.created_by, job.tenant_id)


def _register_result(session: Session, objects: ObjectStore, job: TrainingJob, summary: dict[str, Any]) -> None:
    base = session.get(ModelVersion, job.base_model_version_id)
    base_model = session.get(ModelAsset, base.model_id) if base else None
    output = _job_prefix(job) + "output/"
    files = [(info.key.removeprefix(output), objects.open(info.key)) for info in objects.list(output)]
    spec = model_registry.VersionSpec(
        model_name=f"{job.name}",
        framework="transformers",
        base_model=f"{base_model.name} v{base.version}" if base and base_model else "",
        train_data_source=", ".join(job.dataset_version_ids),
        parameters={"type": job.type, **job.hyperparameters},
        eval_results=summary.get("metrics", {}),
        dataset_version_ids=tuple(job.dataset_version_ids),
    )
    version = model_registry.register_version(session, objects, _owner(session, job), spec, _streams(files), "job")
    job.result_model_version_id = version.id
    lineage.link(
        session,
        job.tenant_id,
        lineage.Node("model_version", job.base_model_version_id),
        lineage.Node("job", job.id),
        "base_of",
    )
    for dataset_id in job.dataset_version_ids:
        lineage.link(
            session,
            job.tenant_id,
            lineage.Node("dataset_version", dataset_id),
            lineage.Node("job", job.id),
            "trained_on",
        )
    lineage.link(
        session, job.tenant_id, lineage.Node("job", job.id), lineage.Node("model_version", version.id), "produced"
    )


def _streams(files: list[tuple[str, Any]]):  # noqa: ANN202 (an iterator of (name, file-like))
    """Chunk iterators as file-like objects for the registry."""
    for name, chunks in files:
        yield name, _IteratorReader(chunks)


class _IteratorReader:
    def __init__(self, chunks: Any) -> None:
        self._chunks, self._buffer = iter(chunks), b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _record_evaluation(session: Session, job: TrainingJob, result: dict[str, Any]) -> None:
    """An evaluation's numbers go onto the evaluated model version, keyed by the job."""
    version = session.get(ModelVersion, job.base_model_version_id)
    if version is not None and version.tenant_id == job.tenant_id:  # a platform model's record is not the tenant's
        version.eval_results = {
            **version.eval_results,
            job.name: {**result.get("metrics", {}), "job_id": job.id, "datasets": job.dataset_version_ids},
        }
        session.add(version)
    for dataset_id in job.dataset_version_ids:
        lineage.link(
            session,
            job.tenant_id,
            lineage.Node("dataset_version", dataset_id),
            lineage.Node("job", job.id),
            "evaluated_on",
        )


def _register_predictions(session: Session, objects: ObjectStore, job: TrainingJob, scratch_dir: Path) -> str:
    """A batch inference's answers become the next version of dataset '<job>-predictions', linked to
    the model that wrote them and the prompts they answer."""
    version = datasets.import_version(
        session,
        objects,
        _owner(session, job),
        name=f"{job.name[:116]}-predictions",
        filename="predictions.jsonl",
        stream=_IteratorReader(objects.open(_job_prefix(job) + "predictions.jsonl")),
        scratch_dir=scratch_dir,
        description=f"Answers written by training job {job.name} ({job.id}).",
    )
    model, produced = lineage.Node("model_version", job.base_model_version_id), lineage.Node("job", job.id)
    lineage.link(session, job.tenant_id, model, produced, "base_of")
    for dataset_id in job.dataset_version_ids:
        lineage.link(session, job.tenant_id, lineage.Node("dataset_version", dataset_id), produced, "input_of")
    lineage.link(session, job.tenant_id, produced, lineage.Node("dataset_version", version.id), "produced")
    return f"{version.rows} answers stored as dataset {job.name[:116]}-predictions v{version.version}"


def _record_success(
    session: Session, objects: ObjectStore, job: TrainingJob, result: dict[str, Any], scratch_dir: Path
) -> str:
    """Keep what a succeeded attempt made where people look for it; returns the job's closing reason."""
    if job.type == "eval":
        _record_evaluation(session, job, result)
        return ", ".join(f"{k} {v:.4g}" for k, v in result.get("metrics", {}).items())
    if job.type == "batch_inference":
        return _register_predictions(session, objects, job, scratch_dir)
    if job.type == "custom" and not result.get("model_written"):
        return "the script finished without saving a model"
    _register_result(session, objects, job, result)
    return f"finished at step {result.get('global_step')}"


def _finish(
    session: Session, objects: ObjectStore, job: TrainingJob, exit_code: int | None, detail: str, scratch_dir: Path
) -> None:
    result = _result(objects, job)
    checkpoint = latest_checkpoint(objects, _job_prefix(job))
    job.last_checkpoint_step = checkpoint[0] if checkpoint else job.last_checkpoint_step
    if result is not None and result.get("status") == "succeeded" and exit_code in (0, None):
        try:
            job.status, job.reason = "succeeded", _record_success(session, objects, job, result, scratch_dir)
        except MedAIError as error:
            job.status, job.reason = "failed", f"the work finished, but its output could not be stored: {error.message}"
        job.finished_at = utcnow()
        _event(session, job, job.status, job.reason)
        _audit(session, None, job, f"job.{job.status}")
        return
    why = (result or {}).get("error") or detail or f"the worker exited with status {exit_code}"
    if job.attempts <= job.max_retries:
        job.status, job.compute_ref, job.node = "queued", "", ""
        job.reason = f"attempt {job.attempts} failed ({why}); retrying from step {job.last_checkpoint_step}"
        _event(session, job, "retry", job.reason)
    else:
        job.status, job.finished_at = "failed", utcnow()
        job.reason = f"failed after {job.attempts} attempt(s): {why}"
        _event(session, job, "failed", job.reason)
        _audit(session, None, job, "job.failed", reason=why[:500])


def _watch_running(session: Session, compute: Compute, objects: ObjectStore, scratch_dir: Path) -> None:
    for job in session.exec(select(TrainingJob).where(TrainingJob.status == "running")).all():
        state = compute.state(job.compute_ref)
        if state.phase == "running":
            checkpoint = latest_checkpoint(objects, _job_prefix(job))
            if checkpoint and checkpoint[0] > job.last_checkpoint_step:
                job.last_checkpoint_step = checkpoint[0]
                _event(session, job, "checkpoint", f"step {checkpoint[0]} saved")
            if state.detail and job.reason != state.detail:
                job.reason = state.detail
            session.add(job)
            continue
        _finish(session, objects, job, state.exit_code, state.detail, scratch_dir)
        session.add(job)


def _admit_queued(session: Session, compute: Compute, data_dir: str) -> None:
    queued = session.exec(select(TrainingJob).where(TrainingJob.status == "queued")).all()
    if not queued:
        return
    running = session.exec(select(TrainingJob).where(TrainingJob.status == "running")).all()
    queues = {q.id: q for q in session.exec(select(JobQueue)).all()}
    for pool in session.exec(select(ResourcePool)).all():
        pool_queues = {qid: q for qid, q in queues.items() if q.pool_id == pool.id}
        nodes = [
            scheduling.Node(
                n["name"], int(n.get("gpus", 0)), float(n["cpu"]), float(n["memory_gb"]), n.get("gpu_type", "")
            )
            for n in pool.nodes
            if not n.get("draining")
        ]
        quotas = [
            scheduling.QueueQuota(qid, q.nominal_gpus, q.borrowing_limit_gpus, q.nominal_cpu, q.per_user_gpus)
            for qid, q in pool_queues.items()
        ]
        started = {j.id: i for i, j in enumerate(sorted(running, key=lambda j: j.started_at or j.created_at))}
        allocations = [
            scheduling.Allocation(
                j.id, j.queue_id, j.created_by_id, j.node, j.gpus, j.cpu, j.memory_gb, j.priority, started[j.id]
            )
            for j in running
            if j.queue_id in pool_queues
        ]
        order = {j.id: i for i, j in enumerate(sorted(queued, key=lambda j: j.created_at))}
        pending = [
            scheduling.Request(
                j.id, j.queue_id, j.created_by_id, j.priority, order[j.id], j.gpus, j.cpu, j.memory_gb, j.gpu_type
            )
            for j in queued
            if j.queue_id in pool_queues
        ]
        decision = scheduling.admit(nodes, quotas, allocations, pending)
        by_id = {j.id: j for j in queued}
        for allocation in decision.admitted:
            _start(session, compute, pool, by_id[allocation.job_id], allocation.node, data_dir)
        for job_id, (position, reason) in decision.waiting.items():
            job = by_id[job_id]
            for queue_id, queue in pool_queues.items():  # the scheduler knows queues by id; people by name
                reason = reason.replace(f"'{queue_id}'", f"'{queue.name}'")
            if (job.queue_position, job.reason) != (position, reason):
                job.queue_position, job.reason = position, reason
                session.add(job)
        preempting = [qid for qid, q in pool_queues.items() if q.preempt_lower_priority]
        if preempting and decision.waiting:
            still_waiting = [r for r in pending if r.job_id in decision.waiting]
            evictions = scheduling.preemptions(nodes, quotas, allocations, still_waiting, preempting)
            running_by_id = {j.id: j for j in running}
            for victim_id, for_id in evictions.items():
                _preempt(session, compute, running_by_id[victim_id], by_id[for_id])


def _preempt(session: Session, compute: Compute, job: TrainingJob, for_job: TrainingJob) -> None:
    """Stop a running job so a higher-priority one of its queue can start."""
    why = f"preempted by {for_job.name} (priority {for_job.priority} > {job.priority})"
    _requeue(session, compute, job, "preempted", why, by_job=for_job.id)


def _requeue(session: Session, compute: Compute, job: TrainingJob, kind: str, why: str, **detail: Any) -> None:
    """Stop a running attempt that did nothing wrong: the job waits again and resumes from its last
    checkpoint, and this does not use up one of its retries."""
    try:
        compute.cancel(job.compute_ref)
    except Exception:  # already gone: the place is free either way
        logger.warning("job %s was gone when %s", job.id, kind)
    job.status, job.compute_ref, job.node, job.max_retries = "queued", "", "", job.max_retries + 1
    job.reason = f"{why}; resumes from step {job.last_checkpoint_step}"
    session.add(job)
    _event(session, job, kind, job.reason)
    _audit(session, None, job, f"job.{kind.removesuffix('ed')}", **detail)


def _start(session: Session, compute: Compute, pool: ResourcePool, job: TrainingJob, node: str, data_dir: str) -> None:
    spec = _spec(session, job, data_dir)
    job.attempts += 1
    launch = Launch(
        job.id,
        job.attempts,
        spec.dumps(),
        job.gpus,
        job.cpu,
        job.memory_gb,
        pool.node_selector,
        pool.tolerations,
        pool.kueue_queue,
        job.gpu_type,
    )
    try:
        job.compute_ref = compute.start(launch)
    except Exception as error:  # a backend that refuses the start is a failed attempt, with its reason
        logger.exception("job %s could not start", job.id)
        job.status, job.reason = "failed", f"could not start: {type(error).__name__}: {error}"
        job.finished_at = utcnow()
        _event(session, job, "failed", job.reason)
        session.add(job)
        return
    job.status, job.node, job.queue_position, job.resume_requested = "running", node, 0, False
    job.started_at = job.started_at or utcnow()
    job.reason = f"attempt {job.attempts} on {node}" + (" (resuming)" if spec.resume else "")
    _event(session, job, "started", job.reason)
    session.add(job)


def _move_off_drained_nodes(session: Session, compute: Compute) -> None:
    """Jobs running on a node being drained go back to their queue and resume elsewhere."""
    for pool in session.exec(select(ResourcePool)).all():
        drained = {n["name"] for n in pool.nodes if n.get("draining")}
        if not drained:
            continue
        queues = session.exec(select(JobQueue.id).where(JobQueue.pool_id == pool.id)).all()
        for job in session.exec(
            select(TrainingJob).where(TrainingJob.status == "running", TrainingJob.queue_id.in_(queues))
        ).all():
            if job.node in drained:
                _requeue(session, compute, job, "evicted", f"node {job.node} is being drained")


def reconcile(session: Session, compute: Compute, objects: ObjectStore, data_dir: str) -> None:
    """One controller pass over training jobs: watch what runs, then admit what waits."""
    local_pool(session)
    _move_off_drained_nodes(session, compute)
    _watch_running(session, compute, objects, Path(data_dir) / "scratch")
    session.flush()
    _admit_queued(session, compute, data_dir)
