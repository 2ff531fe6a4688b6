"""The whole R&D flow through the services and the controller's pass, with real training:
register a tiny base model and a dataset, submit an SFT job, let reconcile() admit it, run
the worker, watch it and register the trained model with lineage. A worker killed mid-run
is retried automatically and resumes from its last checkpoint."""

import io
import json
import os
import signal
import time

import pytest
from sqlmodel import select

from backend.models import JobEvent, ModelAsset, ModelVersion, PipelineRun, TrainingJob
from backend.services import pipelines
from backend.services.assets import datasets, lineage, model_registry
from backend.services.training import jobs as training
from tests.tiny_model import build_model
from tests.unit.identity_world import add_tenant, add_user, sign

pytestmark = pytest.mark.integration

ROWS = [
    {"instruction": "高血压患者饮食要注意什么？", "output": "低盐低脂，多吃蔬菜水果，规律服药。"},
    {"instruction": "What is a normal resting heart rate?", "output": "60 to 100 beats per minute for adults."},
] * 12


@pytest.fixture
def lab(runtime):
    tenant = add_tenant(runtime, "xiangya")
    _, dev = sign(runtime, add_user(runtime, "dev@xiangya.cn", [(tenant, "developer")]))
    folder = build_model(runtime.settings.model_import_roots[0] / "tiny")
    with runtime.session() as session:
        base = model_registry.register_version(
            session,
            runtime.objects,
            dev,
            model_registry.VersionSpec(model_name="tiny-base"),
            model_registry.folder_files(folder, runtime.settings.model_import_roots),
            "path",
        )
        data = datasets.import_version(
            session,
            runtime.objects,
            dev,
            name="bp-advice",
            filename="bp.jsonl",
            stream=io.BytesIO("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS).encode()),
            scratch_dir=runtime.settings.scratch_dir,
        )
    return dev, base.id, data.id


def _submit(runtime, dev, base_id, data_id, kind="sft", **hyper) -> str:
    with runtime.session() as session:
        return training.submit_job(
            session,
            dev,
            training.JobRequest(
                f"bp-{kind}",
                kind,
                base_id,
                (data_id,),
                preset="quick-check",
                cpu=1,
                memory_gb=1,
                hyperparameters={
                    "finetuning": "full",
                    "learning_rate": 3e-3,
                    "cutoff_len": 64,
                    "per_device_train_batch_size": 4,
                    "gradient_accumulation_steps": 1,
                    **hyper,
                },
            ),
        ).id


def _pass(runtime) -> None:
    with runtime.session() as session:
        training.reconcile(session, runtime.compute, runtime.objects, str(runtime.settings.data_dir))


def _job(runtime, job_id) -> TrainingJob:
    with runtime.session() as session:
        return session.get(TrainingJob, job_id)


def _until(runtime, job_id, done, timeout=300):
    deadline = time.monotonic() + timeout
    while not done(job := _job(runtime, job_id)):
        assert time.monotonic() < deadline, f"job stuck in {job.status}: {job.reason}"
        _pass(runtime)
        time.sleep(0.3)
    return job


def test_submit_train_register_with_lineage(runtime, lab):
    dev, base_id, data_id = lab
    job_id = _submit(runtime, dev, base_id, data_id, max_steps=8)
    _pass(runtime)
    assert _job(runtime, job_id).status == "running"
    job = _until(runtime, job_id, lambda j: j.status not in ("queued", "running"))
    assert job.status == "succeeded", job.reason
    with runtime.session() as session:
        trained = session.get(ModelVersion, job.result_model_version_id)
        assert trained.source == "job" and trained.format == "safetensors"
        assert trained.parameters["type"] == "sft" and "train_loss" in trained.eval_results
        edges = {
            (e.source.type, e.relation, e.target.type) for e in lineage.graph(session, dev, lineage.Node("job", job_id))
        }
        curves = {s.field: s.values for s in training.job_curves(session, runtime.metrics, dev, job_id)}
        kinds = [e.kind for e in session.exec(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id))]
    assert {
        ("dataset_version", "trained_on", "job"),
        ("model_version", "base_of", "job"),
        ("job", "produced", "model_version"),
    } <= edges
    assert len(curves["loss"]) >= 4 and curves["step"][-1] == 8
    assert kinds[0] == "queued" and "started" in kinds and kinds[-1] == "succeeded"
    with runtime.session() as session, pytest.raises(Exception, match="still used"):
        datasets.delete_version(session, runtime.objects, dev, data_id)


def test_batch_inference_stores_its_answers_as_a_dataset_with_lineage(runtime, lab):
    dev, base_id, data_id = lab
    job_id = _submit(runtime, dev, base_id, data_id, "batch_inference", max_new_tokens=4, per_device_train_batch_size=8)
    job = _until(runtime, job_id, lambda j: j.status not in ("queued", "running"))
    assert job.status == "succeeded", job.reason
    assert job.reason == f"{len(ROWS)} answers stored as dataset bp-batch_inference-predictions v1"
    assert job.result_model_version_id is None
    with runtime.session() as session:
        found = datasets.list_datasets(session, dev, search="predictions")
        assert [(d.name, d.latest_version) for d in found] == [("bp-batch_inference-predictions", 1)]
        edges = {
            (e.source.type, e.relation, e.target.type) for e in lineage.graph(session, dev, lineage.Node("job", job_id))
        }
        curves = {s.field: s.values for s in training.job_curves(session, runtime.metrics, dev, job_id)}
    assert {
        ("model_version", "base_of", "job"),
        ("dataset_version", "input_of", "job"),
        ("job", "produced", "dataset_version"),
    } <= edges
    assert curves["step"] == [8.0, 16.0, 24.0] and len(curves["reference_f1"]) == 3


def test_a_killed_attempt_is_retried_and_resumes(runtime, lab):
    dev, base_id, data_id = lab
    job_id = _submit(runtime, dev, base_id, data_id, max_steps=60, save_steps=4, logging_steps=1)
    job = _until(runtime, job_id, lambda j: j.status == "running" and j.last_checkpoint_step >= 4)
    os.killpg(int(job.compute_ref.split(":")[0]), signal.SIGKILL)
    job = _until(runtime, job_id, lambda j: j.status not in ("queued", "running") or j.attempts >= 2)
    assert job.attempts == 2, job.reason
    job = _until(runtime, job_id, lambda j: j.status not in ("queued", "running"))
    assert job.status == "succeeded", job.reason
    with runtime.session() as session:
        events = [(e.kind, e.message) for e in session.exec(select(JobEvent).where(JobEvent.job_id == job_id))]
    assert any(kind == "retry" and "retrying from step" in message for kind, message in events)
    assert any(kind == "started" and "resuming" in message for kind, message in events)
    log = runtime.compute.log_tail(job.compute_ref, 400)
    assert "resuming from checkpoint" in log


def test_a_pipeline_trains_evaluates_and_promotes(runtime, lab):
    dev, base_id, data_id = lab
    hyper = {
        "finetuning": "lora",
        "learning_rate": 3e-3,
        "cutoff_len": 64,
        "max_steps": 6,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "lora_rank": 4,
    }
    steps = [
        {"name": "check", "kind": "data_check", "config": {"dataset_version_ids": [data_id], "shapes": ["alpaca"]}},
        {
            "name": "train",
            "kind": "train",
            "depends_on": ["check"],
            "config": {
                "type": "sft",
                "base_model_version_id": base_id,
                "dataset_version_ids": [data_id],
                "preset": "quick-check",
                "hyperparameters": hyper,
                "cpu": 1,
                "memory_gb": 1,
            },
        },
        {
            "name": "eval",
            "kind": "eval",
            "config": {
                "model_from": "train",
                "dataset_version_ids": [data_id],
                "hyperparameters": {"cutoff_len": 64},
                "cpu": 1,
                "memory_gb": 1,
            },
        },
        {"name": "publish", "kind": "register", "depends_on": ["eval"], "config": {"model_from": "train"}},
    ]
    with runtime.session() as session:
        pipeline = pipelines.save_pipeline(session, dev, "bp-pipeline", steps)
        run_id = pipelines.start_run(session, dev, pipeline.id).id
    deadline = time.monotonic() + 300
    while (run := _run_of(runtime, run_id)).status == "running":
        assert time.monotonic() < deadline, run.steps
        _pass(runtime)
        with runtime.session() as session:
            pipelines.reconcile(session)
        time.sleep(0.3)
    assert run.status == "succeeded", run.steps
    trained = run.steps["train"]["output"]
    with runtime.session() as session:
        version = session.get(ModelVersion, trained)
        evaluation = version.eval_results[f"eval-{run_id[:8]}-1"]
        model = session.get(ModelAsset, version.model_id)
    assert evaluation["eval_loss"] > 0 and evaluation["perplexity"] > 1 and evaluation["eval_samples"] == len(ROWS)
    assert model.promoted_version == version.version
    assert "perplexity" in run.steps["eval"]["reason"]


def _run_of(runtime, run_id) -> PipelineRun:
    with runtime.session() as session:
        return session.get(PipelineRun, run_id)
