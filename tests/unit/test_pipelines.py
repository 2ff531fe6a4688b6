"""Pipelines: the DAG is checked when saved; a run moves step by step with the controller's
pass, a failure skips what depends on it, and a rerun starts from the failed step."""

import io

import pytest
from sqlmodel import select

from backend.errors import MedAIError
from backend.models import Deployment, ModelAsset, ModelVersion, PipelineRun, Replica, TrainingJob
from backend.services import pipelines
from backend.services.assets import datasets, model_registry
from tests.unit.identity_world import add_tenant, add_user, sign

ALPACA = b'{"instruction": "q", "output": "a"}\n{"instruction": "q2", "output": "a2"}\n'


@pytest.fixture
def lab(runtime):
    tenant = add_tenant(runtime, "ruijin")
    _, dev = sign(runtime, add_user(runtime, "dev@ruijin.cn", [(tenant, "developer")]))
    with runtime.session() as session:
        base = model_registry.register_version(
            session,
            runtime.objects,
            dev,
            model_registry.VersionSpec(model_name="base"),
            [("model.safetensors", io.BytesIO(b"w"))],
            "upload",
        )
        data = datasets.import_version(
            session,
            runtime.objects,
            dev,
            name="sft",
            filename="s.jsonl",
            stream=io.BytesIO(ALPACA),
            scratch_dir=runtime.settings.scratch_dir,
        )
    return dev, base.id, data.id


def _steps(base_id, data_id):
    return [
        {"name": "check", "kind": "data_check", "config": {"dataset_version_ids": [data_id], "shapes": ["alpaca"]}},
        {
            "name": "train",
            "kind": "train",
            "depends_on": ["check"],
            "config": {"type": "sft", "base_model_version_id": base_id, "dataset_version_ids": [data_id]},
        },
        {"name": "eval", "kind": "eval", "config": {"model_from": "train", "dataset_version_ids": [data_id]}},
        {"name": "publish", "kind": "register", "depends_on": ["eval"], "config": {"model_from": "train"}},
    ]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "no steps"),
        ([{"name": "a", "kind": "train"}, {"name": "a", "kind": "eval"}], "unique name"),
        ([{"name": "a", "kind": "publish_to_moon"}], "unknown kind"),
        ([{"name": "t", "kind": "train"}, {"name": "d", "kind": "deploy", "config": {"model_from": "t"}}], "service"),
        ([{"name": "a", "kind": "train", "depends_on": ["zzz"]}], "unknown steps"),
        (
            [{"name": "a", "kind": "train", "depends_on": ["b"]}, {"name": "b", "kind": "train", "depends_on": ["a"]}],
            "circle",
        ),
        ([{"name": "e", "kind": "eval", "config": {"model_from": "nothing"}}], "model_from"),
    ],
)
def test_bad_dags_are_refused(steps, message):
    with pytest.raises(MedAIError, match=message):
        pipelines.check_steps(steps)


def _pass(runtime):
    with runtime.session() as session:
        pipelines.reconcile(session)


def _run(runtime, run_id) -> PipelineRun:
    with runtime.session() as session:
        return session.get(PipelineRun, run_id)


def _finish_job(runtime, job_id, ok=True, model_version_id=None):
    """What the training pass does when a job ends (the real pass is tested in integration)."""
    with runtime.session() as session:
        job = session.get(TrainingJob, job_id)
        job.status, job.reason = ("succeeded", "done") if ok else ("failed", "loss was NaN")
        job.result_model_version_id = model_version_id
        session.add(job)


def _trained_version(runtime, dev) -> str:
    with runtime.session() as session:
        return model_registry.register_version(
            session,
            runtime.objects,
            dev,
            model_registry.VersionSpec(model_name="trained"),
            [("model.safetensors", io.BytesIO(b"t"))],
            "job",
        ).id


def test_a_run_goes_step_by_step_and_promotes_the_trained_model(runtime, lab):
    dev, base, data = lab
    with runtime.session() as session:
        pipeline = pipelines.save_pipeline(session, dev, "sft-then-eval", _steps(base, data))
        run_id = pipelines.start_run(session, dev, pipeline.id).id
    _pass(runtime)
    steps = _run(runtime, run_id).steps
    assert steps["check"]["status"] == "succeeded" and "2 rows" in steps["check"]["reason"]
    assert steps["train"]["status"] == "running" and steps["eval"]["status"] == "pending"
    trained = _trained_version(runtime, dev)
    _finish_job(runtime, steps["train"]["job_id"], model_version_id=trained)
    _pass(runtime)
    steps = _run(runtime, run_id).steps
    assert steps["train"]["output"] == trained and steps["eval"]["status"] == "running"
    with runtime.session() as session:
        eval_job = session.get(TrainingJob, steps["eval"]["job_id"])
        assert (eval_job.type, eval_job.base_model_version_id) == ("eval", trained)
    _finish_job(runtime, steps["eval"]["job_id"])
    _pass(runtime)
    run = _run(runtime, run_id)
    assert run.status == "succeeded" and run.steps["publish"]["status"] == "succeeded"
    with runtime.session() as session:
        version = session.get(ModelVersion, trained)
        assert session.get(ModelAsset, version.model_id).promoted_version == version.version


def test_a_failure_skips_dependants_and_a_rerun_starts_from_it(runtime, lab):
    dev, base, data = lab
    with runtime.session() as session:
        pipeline = pipelines.save_pipeline(session, dev, "p", _steps(base, data))
        run_id = pipelines.start_run(session, dev, pipeline.id).id
    _pass(runtime)
    first_job = _run(runtime, run_id).steps["train"]["job_id"]
    _finish_job(runtime, first_job, ok=False)
    _pass(runtime)
    run = _run(runtime, run_id)
    assert run.status == "failed" and run.steps["train"]["reason"] == "loss was NaN"
    assert [run.steps[s]["status"] for s in ("check", "train", "eval", "publish")] == [
        "succeeded",
        "failed",
        "skipped",
        "skipped",
    ]
    assert "'train' did not succeed" in run.steps["eval"]["reason"]
    with runtime.session() as session:
        pipelines.rerun(session, dev, run_id)
    _pass(runtime)
    run = _run(runtime, run_id)
    assert run.attempt == 2 and run.steps["check"]["status"] == "succeeded"
    assert run.steps["train"]["status"] == "running" and run.steps["train"]["job_id"] != first_job
    with runtime.session() as session:
        assert len(session.exec(select(TrainingJob)).all()) == 2
        with pytest.raises(MedAIError, match="cannot be rerun"):
            pipelines.rerun(session, dev, run_id)


def test_a_deploy_step_serves_the_trained_model_and_waits_for_a_ready_replica(runtime, lab):
    dev, base, data = lab
    steps = [
        *_steps(base, data)[:2],
        {
            "name": "serve",
            "kind": "deploy",
            "depends_on": ["train"],
            "config": {"model_from": "train", "service": "bp"},
        },
    ]
    with runtime.session() as session:
        pipeline = pipelines.save_pipeline(session, dev, "train-and-serve", steps)
        run_id = pipelines.start_run(session, dev, pipeline.id).id
    _pass(runtime)
    trained = _trained_version(runtime, dev)
    _finish_job(runtime, _run(runtime, run_id).steps["train"]["job_id"], model_version_id=trained)
    _pass(runtime)
    serve = _run(runtime, run_id).steps["serve"]
    assert serve["status"] == "running" and serve["reason"] == "bp is starting"
    with runtime.session() as session:
        deployment = session.get(Deployment, serve["output"])
        assert (deployment.name, deployment.model_version_id) == ("bp", trained)
        session.add(Replica(deployment_id=deployment.id, model_version_id=base, ordinal=0, status="ready"))
    _pass(runtime)
    assert _run(runtime, run_id).steps["serve"]["status"] == "running"  # a replica of another version does not count
    with runtime.session() as session:
        session.add(Replica(deployment_id=deployment.id, model_version_id=trained, ordinal=1, status="ready"))
    _pass(runtime)
    run = _run(runtime, run_id)
    assert run.status == "succeeded" and run.steps["serve"]["reason"] == "serving as bp"

    with runtime.session() as session:  # the next run updates the same service in place
        second = pipelines.start_run(session, dev, pipeline.id).id
    _pass(runtime)
    newer = _trained_version(runtime, dev)
    _finish_job(runtime, _run(runtime, second).steps["train"]["job_id"], model_version_id=newer)
    _pass(runtime)
    with runtime.session() as session:
        updated = session.get(Deployment, deployment.id)
        assert (updated.model_version_id, updated.previous_model_version_id) == (newer, trained)
        updated.status, updated.reason = "failed", "replica crashed: out of memory"
        session.add(updated)
    _pass(runtime)
    run = _run(runtime, second)
    assert run.status == "failed" and run.steps["serve"]["reason"] == "replica crashed: out of memory"
