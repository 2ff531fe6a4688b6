"""Pipelines: a DAG of steps run by the controller, each training or evaluation step a job
(source §2.3.1: import data, build, train, publish as one flow; Kubeflow Pipelines users).

Step kinds:
- ``data_check``: the named dataset versions exist, are active and fit the next step;
- ``train``: an SFT or DPO job (config: type, base_model_version_id, dataset_version_ids,
  preset, hyperparameters, gpus, cpu, memory_gb, queue); its output is the trained model version;
- ``eval``: an evaluation job of the model a ``train`` step made (config: model_from, dataset_version_ids);
- ``register``: promote the model a ``train`` step made (config: model_from);
- ``deploy``: serve the model a ``train`` step made as service ``service`` (a rolling update when the
  service exists; config: model_from, service, engine, replicas, gpus, cpu, memory_gb); it succeeds once a
  replica on that version is ready, and fails when the service fails.

A step starts when everything it depends on succeeded. A failed step stops its dependants
(skipped, with the reason); a rerun keeps the steps that succeeded and starts again from the
ones that did not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, select

from backend.errors import ErrorCode, MedAIError
from backend.models import DatasetVersion, Deployment, ModelVersion, Pipeline, PipelineRun, Replica, TrainingJob
from backend.models.base import utcnow
from backend.services.assets import model_registry
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, in_tenant, may, on_behalf_of
from backend.services.identity.permissions import Action, Area
from backend.services.serving import deployments as serving
from backend.services.training import jobs as training
from backend.services.training.views import Choices, job_choices

KINDS = ("data_check", "train", "eval", "register", "deploy")
_ENDED = ("succeeded", "failed", "skipped")


def _problem(message: str) -> MedAIError:
    return MedAIError(ErrorCode.DATA_INVALID, f"The pipeline is invalid: {message}.", "Fix the steps and save again.")


def check_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Names unique, kinds known, dependencies existing, no cycle, references to train steps valid."""
    if not steps:
        raise _problem("it has no steps")
    names = [str(s.get("name", "")).strip() for s in steps]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise _problem("every step needs a unique name")
    by_name = {}
    for step, name in zip(steps, names, strict=True):
        kind = step.get("kind")
        if kind not in KINDS:
            raise _problem(f"step '{name}' has unknown kind '{kind}' (use {', '.join(KINDS)})")
        depends = [str(d) for d in step.get("depends_on", [])]
        missing = [d for d in depends if d not in names]
        if missing:
            raise _problem(f"step '{name}' depends on unknown steps {missing}")
        config = dict(step.get("config", {}))
        if kind == "deploy" and not str(config.get("service", "")).strip():
            raise _problem(f"step '{name}' needs the name of the service to deploy to")
        if kind in ("eval", "register", "deploy"):
            source = config.get("model_from", "")
            if source not in names or next(s for s in steps if s.get("name") == source).get("kind") != "train":
                raise _problem(f"step '{name}' needs model_from naming a train step")
            if source not in depends:
                depends.append(source)
        by_name[name] = {"name": name, "kind": kind, "depends_on": depends, "config": config}
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise _problem(f"the steps depend on each other in a circle through '{name}'")
        visiting.add(name)
        for dependency in by_name[name]["depends_on"]:
            visit(dependency)
        visiting.discard(name)
        done.add(name)

    for name in names:
        visit(name)
    return [by_name[n] for n in names]


def _audit(session: Session, principal: Principal, action: str, target_id: str, **detail: Any) -> None:
    audit.record_by(session, principal, action, "pipeline", target_id, **detail)


def _check_references(session: Session, tenant_id: str, steps: list[dict[str, Any]]) -> None:
    """Every dataset and model a step names must be this tenant's."""
    for step in steps:
        config = step["config"]
        datasets_named = [session.get(DatasetVersion, i) for i in config.get("dataset_version_ids", [])]
        models_named = (
            [session.get(ModelVersion, config["base_model_version_id"])] if config.get("base_model_version_id") else []
        )
        if any(row is None or row.tenant_id != tenant_id for row in (*datasets_named, *models_named)):
            raise MedAIError(
                ErrorCode.NOT_FOUND,
                f"Step '{step['name']}' names a dataset or model that is not in this tenant.",
                "Pick datasets and models from this tenant's lists.",
            )


def save_pipeline(session: Session, principal: Principal, name: str, steps: list[dict[str, Any]]) -> Pipeline:
    tenant_id = authorize(session, principal, Area.TRAINING, Action.CREATE)
    assert tenant_id is not None
    if not name.strip() or len(name) > 128:
        raise _problem("it needs a name of 1-128 characters")
    checked = check_steps(steps)
    _check_references(session, tenant_id, checked)
    pipeline = session.exec(select(Pipeline).where(Pipeline.tenant_id == tenant_id, Pipeline.name == name)).first()
    pipeline = pipeline or Pipeline(
        tenant_id=tenant_id, name=name.strip(), created_by=principal.label, created_by_id=principal.user_id
    )
    pipeline.steps = checked
    session.add(pipeline)
    session.flush()
    _audit(session, principal, "pipeline.save", pipeline.id, steps=len(checked))
    return pipeline


def list_pipelines(session: Session, principal: Principal) -> list[Pipeline]:
    tenant_id = authorize(session, principal, Area.TRAINING, Action.VIEW)
    return list(session.exec(select(Pipeline).where(Pipeline.tenant_id == tenant_id).order_by(Pipeline.name)).all())


def _pipeline(session: Session, tenant_id: str | None, pipeline_id: str) -> Pipeline:
    return in_tenant(session, Pipeline, pipeline_id, tenant_id, "pipeline", "Reload the pipeline list.")


def _run(session: Session, tenant_id: str | None, run_id: str) -> PipelineRun:
    return in_tenant(session, PipelineRun, run_id, tenant_id, "pipeline run", "Reload the runs.")


def start_run(session: Session, principal: Principal, pipeline_id: str) -> PipelineRun:
    tenant_id = authorize(session, principal, Area.TRAINING, Action.CREATE)
    pipeline = _pipeline(session, tenant_id, pipeline_id)
    run = PipelineRun(
        pipeline_id=pipeline.id,
        tenant_id=pipeline.tenant_id,
        steps={s["name"]: {"status": "pending", "job_id": "", "reason": "", "output": ""} for s in pipeline.steps},
        created_by=principal.label,
        created_by_id=principal.user_id,
    )
    session.add(run)
    session.flush()
    _audit(session, principal, "pipeline.run", pipeline.id, run_id=run.id)
    return run


def get_run(session: Session, principal: Principal, run_id: str) -> tuple[Pipeline, PipelineRun]:
    tenant_id = authorize(session, principal, Area.TRAINING, Action.VIEW)
    run = _run(session, tenant_id, run_id)
    return _pipeline(session, tenant_id, run.pipeline_id), run


def list_runs(session: Session, principal: Principal, pipeline_id: str) -> list[PipelineRun]:
    tenant_id = authorize(session, principal, Area.TRAINING, Action.VIEW)
    pipeline = _pipeline(session, tenant_id, pipeline_id)
    return list(
        session.exec(
            select(PipelineRun).where(PipelineRun.pipeline_id == pipeline.id).order_by(PipelineRun.created_at.desc())
        ).all()
    )


def rerun(session: Session, principal: Principal, run_id: str) -> PipelineRun:
    """Start the run again from its failed (and skipped) steps; succeeded ones keep their output."""
    tenant_id = authorize(session, principal, Area.TRAINING, Action.UPDATE)
    run = _run(session, tenant_id, run_id)
    if run.status != "failed":
        raise MedAIError(ErrorCode.CONFLICT, f"A {run.status} run cannot be rerun.", "Rerun a failed run.")
    run.steps = {
        name: state
        if state["status"] == "succeeded"
        else {"status": "pending", "job_id": "", "reason": "", "output": ""}
        for name, state in run.steps.items()
    }
    run.status, run.finished_at, run.attempt = "running", None, run.attempt + 1
    session.add(run)
    _audit(session, principal, "pipeline.rerun", run.pipeline_id, run_id=run.id, attempt=run.attempt)
    return run


# what the pipeline builder reads ----------------------------------------------------------

RUNS_SHOWN = 20


@dataclass(frozen=True)
class PipelineSummary:
    id: str
    name: str
    steps: int
    created_at: datetime


@dataclass(frozen=True)
class RunStepInfo:
    name: str
    kind: str
    status: str
    reason: str
    job_id: str
    output: str


@dataclass(frozen=True)
class RunSummary:
    id: str
    status: str
    attempt: int
    created_at: datetime
    steps: list[RunStepInfo]


@dataclass
class PipelineOverview:
    """The builder's page: the form's choices, the tenant's pipelines and the latest runs of one."""

    allowed: bool = False
    may_edit: bool = False
    choices: Choices = field(default_factory=Choices)
    pipelines: list[PipelineSummary] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)


def pipeline_overview(session: Session, principal: Principal, pipeline_id: str = "") -> PipelineOverview:
    """Everything the builder shows; the runs of ``pipeline_id`` when it is one of the tenant's."""
    found = PipelineOverview(allowed=may(session, principal, Area.TRAINING, Action.VIEW))
    if not found.allowed or principal.tenant_id is None:
        return found
    found.may_edit = may(session, principal, Area.TRAINING, Action.CREATE)
    found.choices = job_choices(session, principal)
    saved = {p.id: p for p in list_pipelines(session, principal)}
    found.pipelines = [PipelineSummary(p.id, p.name, len(p.steps), p.created_at) for p in saved.values()]
    chosen = saved.get(pipeline_id) if pipeline_id else None
    if chosen is not None:
        kinds = {s["name"]: s["kind"] for s in chosen.steps}
        runs = session.exec(
            select(PipelineRun)
            .where(PipelineRun.pipeline_id == chosen.id)
            .order_by(PipelineRun.created_at.desc())  # type: ignore[attr-defined]
            .limit(RUNS_SHOWN)
        ).all()
        found.runs = [
            RunSummary(
                run.id,
                run.status,
                run.attempt,
                run.created_at,
                [
                    RunStepInfo(name, kinds.get(name, ""), s["status"], s["reason"], s["job_id"], s["output"] or "")
                    for name, s in run.steps.items()
                ],
            )
            for run in runs
        ]
    return found


def pipeline_steps(session: Session, principal: Principal, pipeline_id: str) -> list[dict[str, Any]]:
    """A saved pipeline's steps, to open it in the builder."""
    tenant_id = authorize(session, principal, Area.TRAINING, Action.VIEW)
    return list(_pipeline(session, tenant_id, pipeline_id).steps)


# the controller's pass -------------------------------------------------------------------


def _owner(session: Session, run: PipelineRun) -> Principal:
    return on_behalf_of(session, run.created_by_id, run.created_by, run.tenant_id)


def _check_data(session: Session, run: PipelineRun, config: dict[str, Any]) -> str:
    rows = [session.get(DatasetVersion, i) for i in config.get("dataset_version_ids", [])]
    if not rows:
        raise MedAIError(ErrorCode.DATA_INVALID, "no dataset versions to check")
    bad = [r for r in rows if r is None or r.tenant_id != run.tenant_id or r.status != "active"]
    if bad:
        raise MedAIError(ErrorCode.DATA_INVALID, f"{len(bad)} dataset version(s) are missing or retired")
    shapes = set(config.get("shapes", []))
    wrong = [r.filename for r in rows if r is not None and shapes and r.shape not in shapes]
    if wrong:
        raise MedAIError(ErrorCode.DATA_INVALID, f"{', '.join(wrong)} are not shaped as {', '.join(sorted(shapes))}")
    return f"{sum(r.rows for r in rows if r is not None)} rows checked"


def _job_request(step: dict[str, Any], run: PipelineRun, model_version_id: str | None) -> training.JobRequest:
    config = step["config"]
    return training.JobRequest(
        name=f"{step['name']}-{run.id[:8]}-{run.attempt}",
        type="eval" if step["kind"] == "eval" else config.get("type", "sft"),
        base_model_version_id=model_version_id or config.get("base_model_version_id", ""),
        dataset_version_ids=tuple(config.get("dataset_version_ids", ())),
        preset=config.get("preset", ""),
        hyperparameters=config.get("hyperparameters", {}),
        gpus=int(config.get("gpus", 0)),
        cpu=float(config.get("cpu", 2.0)),
        memory_gb=float(config.get("memory_gb", 8.0)),
        queue=config.get("queue", training.DEFAULT_QUEUE),
        max_retries=int(config.get("max_retries", 1)),
    )


def _start_step(session: Session, run: PipelineRun, step: dict[str, Any]) -> None:
    state = run.steps[step["name"]]
    owner = _owner(session, run)
    produced = run.steps.get(step["config"].get("model_from", ""), {}).get("output") or None
    try:
        if step["kind"] == "data_check":
            state.update(status="succeeded", reason=_check_data(session, run, step["config"]))
        elif step["kind"] == "register":
            model_registry.promote(session, owner, produced or "")
            state.update(status="succeeded", output=produced or "", reason="promoted")
        elif step["kind"] == "deploy":
            deployment = _deploy(session, owner, step["config"], produced or "")
            state.update(status="running", output=deployment.id, reason=f"deploying to {deployment.name}")
        else:
            job = training.submit_job(session, owner, _job_request(step, run, produced))
            state.update(status="running", job_id=job.id, reason="job queued")
    except MedAIError as error:
        state.update(status="failed", reason=error.message)


def _deploy(session: Session, owner: Principal, config: dict[str, Any], version_id: str) -> Deployment:
    name = str(config["service"]).strip()
    existing = session.exec(
        select(Deployment).where(Deployment.tenant_id == owner.tenant_id, Deployment.name == name)
    ).first()
    if existing is not None:
        return serving.update_version(session, owner, existing.id, version_id)
    spec = serving.DeploySpec(
        name=name,
        model_version_id=version_id,
        engine=config.get("engine", "local"),
        replicas=int(config.get("replicas", 1)),
        gpus=int(config.get("gpus", 0)),
        cpu=float(config.get("cpu", 2.0)),
        memory_gb=float(config.get("memory_gb", 8.0)),
    )
    return serving.deploy(session, owner, spec)


def _follow_deployment(session: Session, run: PipelineRun, step: dict[str, Any]) -> None:
    state = run.steps[step["name"]]
    deployment = session.get(Deployment, state["output"])
    version_id = run.steps[step["config"]["model_from"]]["output"]
    if deployment is None or deployment.status == "stopped":
        state.update(status="failed", reason="the service was removed or stopped")
        return
    ready = session.exec(
        select(Replica).where(
            Replica.deployment_id == deployment.id, Replica.model_version_id == version_id, Replica.status == "ready"
        )
    ).first()
    if ready is not None:
        state.update(status="succeeded", reason=f"serving as {deployment.name}")
    elif deployment.status == "failed":
        state.update(status="failed", reason=deployment.reason or "the service failed")
    else:
        state["reason"] = deployment.reason or f"{deployment.name} is starting"


def _follow_step(session: Session, run: PipelineRun, step: dict[str, Any]) -> None:
    if step["kind"] == "deploy":
        _follow_deployment(session, run, step)
        return
    state = run.steps[step["name"]]
    job = session.get(TrainingJob, state["job_id"])
    if job is None:
        state.update(status="failed", reason="its job disappeared")
    elif job.status in ("succeeded", "failed", "cancelled"):
        ok = job.status == "succeeded"
        output = (job.result_model_version_id or "") if step["kind"] == "train" else ""
        state.update(status="succeeded" if ok else "failed", reason=job.reason, output=output)
    else:
        state["reason"] = job.reason


def _advance(session: Session, run: PipelineRun, steps: list[dict[str, Any]]) -> None:
    for step in steps:
        state = run.steps[step["name"]]
        if state["status"] == "running":
            _follow_step(session, run, step)
    for step in steps:  # a failure skips everything downstream of it, whatever the order of steps
        state = run.steps[step["name"]]
        upstream = [run.steps[d] for d in step["depends_on"]]
        failed = [d for d in step["depends_on"] if run.steps[d]["status"] in ("failed", "skipped")]
        if state["status"] == "pending" and failed:
            state.update(status="skipped", reason=f"not run: '{failed[0]}' did not succeed")
        elif state["status"] == "pending" and all(u["status"] == "succeeded" for u in upstream):
            _start_step(session, run, step)
    statuses = {s["status"] for s in run.steps.values()}
    if statuses <= set(_ENDED):
        run.status = "succeeded" if statuses == {"succeeded"} else "failed"
        run.finished_at = utcnow()


def reconcile(session: Session) -> None:
    """One controller pass: move every running pipeline run forward."""
    for run in session.exec(select(PipelineRun).where(PipelineRun.status == "running")).all():
        pipeline = session.get(Pipeline, run.pipeline_id)
        if pipeline is None:
            continue
        for _ in range(len(pipeline.steps)):  # instantaneous steps may unlock others in the same pass
            before = {n: s["status"] for n, s in run.steps.items()}
            _advance(session, run, pipeline.steps)
            if before == {n: s["status"] for n, s in run.steps.items()}:
                break
        flag_modified(run, "steps")  # the JSON column changed inside; tell the session
        session.add(run)
