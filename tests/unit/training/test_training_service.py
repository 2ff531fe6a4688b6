"""The training service's rules and the controller pass's state machine, with a recording
compute backend (real processes and TRL are exercised in tests/integration)."""

import hashlib
import io
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from backend.adapters.compute import Launch, RunState
from backend.adapters.metrics import Point
from backend.errors import ErrorCode, MedAIError
from backend.models import JobEvent, JobQueue, ResourcePool, TrainingJob
from backend.models.base import utcnow
from backend.services import pipelines
from backend.services.assets import datasets, model_registry
from backend.services.orchestration import pools as orchestration
from backend.services.orchestration import views as orchestration_views
from backend.services.serving import deployments as serving
from backend.services.training import jobs as training
from backend.services.training import views
from state.orchestration import orchestration_view
from state.pipelines import pipeline_page
from state.training import compare_figure, job_row
from state.training_job import job_view
from tests.unit.identity_world import add_tenant, add_user, events, sign

ALPACA = b'{"instruction": "q", "output": "a"}\n'
PREFS = b'{"prompt": "p", "chosen": "good", "rejected": "bad"}\n'


class RecordingCompute:
    backend = "recording"

    def __init__(self) -> None:
        self.started: list[Launch] = []
        self.states: dict[str, RunState] = {}
        self.cancelled: list[str] = []

    def start(self, launch: Launch) -> str:
        self.started.append(launch)
        ref = f"{launch.job_id}#{launch.attempt}"
        self.states[ref] = RunState("running")
        return ref

    def state(self, ref: str) -> RunState:
        return self.states[ref]

    def cancel(self, ref: str) -> None:
        self.cancelled.append(ref)

    def log_tail(self, ref: str, lines: int = 200) -> str:
        return f"log of {ref}"


@pytest.fixture
def lab(runtime):
    tenant = add_tenant(runtime, "ruijin")
    _, dev = sign(runtime, add_user(runtime, "dev@ruijin.cn", [(tenant, "developer")]))
    _, viewer = sign(runtime, add_user(runtime, "viewer@ruijin.cn", [(tenant, "viewer")]))
    with runtime.session() as session:
        base = model_registry.register_version(
            session,
            runtime.objects,
            dev,
            model_registry.VersionSpec(model_name="base"),
            [("model.safetensors", io.BytesIO(b"w"))],
            "upload",
        )
        sft = datasets.import_version(
            session,
            runtime.objects,
            dev,
            name="sft",
            filename="s.jsonl",
            stream=io.BytesIO(ALPACA),
            scratch_dir=runtime.settings.scratch_dir,
        )
        dpo = datasets.import_version(
            session,
            runtime.objects,
            dev,
            name="dpo",
            filename="d.jsonl",
            stream=io.BytesIO(PREFS),
            scratch_dir=runtime.settings.scratch_dir,
        )
    return dev, viewer, base.id, sft.id, dpo.id


def _submit(runtime, who, base, data, kind="sft", **kw):
    with runtime.session() as session:
        return training.submit_job(session, who, training.JobRequest("job", kind, base, (data,), **kw)).id


def _pass(runtime, compute):
    with runtime.session() as session:
        training.reconcile(session, compute, runtime.objects, str(runtime.settings.data_dir))


def _job(runtime, job_id) -> TrainingJob:
    with runtime.session() as session:
        return session.get(TrainingJob, job_id)


def test_submit_checks_shapes_hyperparameters_and_roles(runtime, lab):
    dev, viewer, base, sft, dpo = lab
    for kind, data, message in (
        ("dpo", sft, "preference"),
        ("sft", dpo, "alpaca"),
        ("reward", sft, "preference"),
        ("custom", sft, "needs a Python script"),
    ):
        with pytest.raises(MedAIError) as caught:
            _submit(runtime, dev, base, data, kind)
        assert message in f"{caught.value.message} {caught.value.remedy}"
    with pytest.raises(MedAIError, match="must divide"):
        _submit(
            runtime,
            dev,
            base,
            sft,
            "grpo",
            hyperparameters={"per_device_train_batch_size": 3, "gradient_accumulation_steps": 1},
        )
    with pytest.raises(MedAIError, match="learning_rate"):
        _submit(runtime, dev, base, sft, hyperparameters={"learning_rate": -1})
    with pytest.raises(MedAIError, match="Unknown hyper-parameters: lr"):
        _submit(runtime, dev, base, sft, hyperparameters={"lr": 1e-4})
    with pytest.raises(MedAIError) as caught:
        _submit(runtime, viewer, base, sft)
    assert caught.value.code is ErrorCode.FORBIDDEN
    job = _job(runtime, _submit(runtime, dev, base, dpo, "dpo", preset="dpo-default"))
    assert job.hyperparameters["learning_rate"] == 5e-6 and job.hyperparameters["lora_rank"] == 8
    assert job.status == "queued"


def test_pass_admits_starts_and_finishes_without_a_result_as_failure_after_retries(runtime, lab):
    dev, _, base, sft, _ = lab
    compute = RecordingCompute()
    job_id = _submit(runtime, dev, base, sft, max_retries=1)
    _pass(runtime, compute)
    job = _job(runtime, job_id)
    assert job.status == "running" and job.attempts == 1 and len(compute.started) == 1
    spec = json.loads(compute.started[0].spec_json)
    assert spec["type"] == "sft" and spec["resume"] is False and spec["train"][0]["shape"] == "alpaca"
    compute.states[job.compute_ref] = RunState("exited", 1, "boom")
    _pass(runtime, compute)  # attempt 1 failed: back in the queue, then started again as a resume
    job = _job(runtime, job_id)
    assert job.status == "running" and job.attempts == 2
    assert json.loads(compute.started[1].spec_json)["resume"] is True
    compute.states[job.compute_ref] = RunState("exited", 1, "boom again")
    _pass(runtime, compute)
    job = _job(runtime, job_id)
    assert job.status == "failed" and "after 2 attempt(s)" in job.reason and "boom again" in job.reason
    with runtime.session() as session:
        kinds = [e.kind for e in session.exec(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id))]
    assert kinds == ["queued", "started", "retry", "started", "failed"]


def test_waiting_jobs_show_reason_and_position_and_cancel_stops_the_attempt(runtime, lab):
    dev, viewer, base, sft, _ = lab
    compute = RecordingCompute()
    with runtime.session() as session:  # a pool where only one 2-CPU job fits at a time
        pool = session.exec(select(ResourcePool).where(ResourcePool.name == "local")).first() or training.local_pool(
            session
        )
        pool.nodes = [{"name": "box", "gpus": 0, "cpu": 2.0, "memory_gb": 16.0, "gpu_type": ""}]
        session.add(pool)
    first, second, third = (_submit(runtime, dev, base, sft, cpu=2) for _ in range(3))
    _pass(runtime, compute)
    assert [_job(runtime, j).status for j in (first, second, third)] == ["running", "queued", "queued"]
    assert (_job(runtime, second).queue_position, _job(runtime, third).queue_position) == (1, 2)
    assert "free up" in _job(runtime, second).reason
    with runtime.session() as session, pytest.raises(MedAIError):
        training.cancel_job(session, compute, viewer, first)  # viewers watch, they do not cancel
    with runtime.session() as session:
        training.cancel_job(session, compute, dev, first)
    assert compute.cancelled == [f"{first}#1"] and _job(runtime, first).status == "cancelled"
    _pass(runtime, compute)
    assert _job(runtime, second).status == "running" and _job(runtime, third).queue_position == 1
    with runtime.session() as session:
        training.retry_job(session, dev, first)
        assert training.job_log(session, compute, dev, second) == f"log of {second}#1"
    assert _job(runtime, first).status == "queued" and _job(runtime, first).resume_requested


def test_quota_and_queue_views(runtime, lab):
    dev, _, base, sft, _ = lab
    _, admin = sign(runtime, add_user(runtime, "root@medai.local", platform_admin=True))
    with runtime.session() as session:
        orchestration.save_pool(
            session,
            admin,
            "a100",
            "kubernetes",
            [{"name": "g1", "gpus": 8, "cpu": 64, "memory_gb": 512, "gpu_type": "A100"}],
        )
        orchestration.save_queue(session, admin, dev.tenant_id, "gpu", "a100", 4, borrowing_limit_gpus=2)
        with pytest.raises(MedAIError):
            orchestration.save_queue(session, dev, dev.tenant_id, "gpu", "a100", 8)  # quotas are the platform's
    compute = RecordingCompute()
    jobs = [_submit(runtime, dev, base, sft, queue="gpu", gpus=4, cpu=4) for _ in range(3)]
    _pass(runtime, compute)
    assert [_job(runtime, j).status for j in jobs] == ["running", "queued", "queued"]
    assert "queue 'gpu' would exceed its GPU quota" in _job(runtime, jobs[1]).reason
    assert compute.started[0].gpus == 4 and compute.started[0].gpu_type == ""
    with runtime.session() as session:
        (gpu_queue,) = [q for q in orchestration.list_queues(session, dev) if q.name == "gpu"]
        pools = {p.name: p for p in orchestration.list_pools(session, dev)}
        assert session.exec(select(JobQueue).where(JobQueue.name == "gpu")).one().nominal_gpus == 4
    assert (gpu_queue.gpus_used, gpu_queue.running, gpu_queue.waiting) == (4, 1, 2)
    assert pools["a100"].nodes[0].gpus_used == 4


def test_the_grpo_reward_scores_overlap_with_the_reference():
    from backend.workers.train import prompt_example, reference_f1

    scores = reference_f1(["低盐低脂饮食", "多喝水", "Low salt diet"], ["低盐低脂", "低盐低脂", "low salt"])
    assert scores[0] > 0.7 and scores[1] == 0.0 and scores[2] == pytest.approx(0.8)
    chat = {"messages": [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}]}
    assert prompt_example("sharegpt", chat) == {"prompt": "问", "reference": "答"}
    assert prompt_example("alpaca", {"instruction": "i", "input": "x", "output": "o"}) == {
        "prompt": "i\nx",
        "reference": "o",
    }


def test_a_reward_model_is_not_served_as_a_chat_model(runtime, lab):
    dev = lab[0]
    with runtime.session() as session:
        judge = model_registry.register_version(
            session,
            runtime.objects,
            dev,
            model_registry.VersionSpec(model_name="judge", parameters={"type": "reward"}),
            [("model.safetensors", io.BytesIO(b"w"))],
            "job",
        )
        with pytest.raises(MedAIError, match="scores answers") as caught:
            serving.deploy(session, dev, serving.DeploySpec("judge", judge.id))
    assert caught.value.code is ErrorCode.DATA_INVALID and "GRPO" in caught.value.remedy


def test_a_higher_priority_job_preempts_a_lower_one_in_a_queue_that_allows_it(runtime, lab):
    dev, _, base, sft, _ = lab
    _, admin = sign(runtime, add_user(runtime, "ops@medai.local", platform_admin=True))
    with runtime.session() as session:
        node = {"name": "g1", "gpus": 4, "cpu": 64, "memory_gb": 512, "gpu_type": "A100"}
        orchestration.save_pool(session, admin, "a100", "kubernetes", [node])
        orchestration.save_queue(session, admin, dev.tenant_id, "urgent", "a100", 4, preempt_lower_priority=True)
    compute = RecordingCompute()
    low = _submit(runtime, dev, base, sft, queue="urgent", gpus=4, priority=1, max_retries=0)
    _pass(runtime, compute)
    high = _submit(runtime, dev, base, sft, queue="urgent", gpus=4, priority=5)
    _pass(runtime, compute)  # the low job is stopped and waits again; its place is free on the next pass
    preempted = _job(runtime, low)
    assert compute.cancelled == [f"{low}#1"] and preempted.status == "queued"
    assert "preempted by" in preempted.reason and "priority 5 > 1" in preempted.reason
    assert preempted.max_retries == 1  # being preempted does not use up a retry
    _pass(runtime, compute)
    assert _job(runtime, high).status == "running" and _job(runtime, low).status == "queued"
    compute.states[_job(runtime, high).compute_ref] = RunState("exited", 1, "stop")
    with runtime.session() as session:
        training.cancel_job(session, compute, dev, high)
    _pass(runtime, compute)
    resumed = _job(runtime, low)
    assert resumed.status == "running" and resumed.attempts == 2
    assert json.loads(compute.started[-1].spec_json)["resume"] is True
    with runtime.session() as session:
        kinds = [e.kind for e in session.exec(select(JobEvent).where(JobEvent.job_id == low).order_by(JobEvent.id))]
        (queue,) = [q for q in orchestration.list_queues(session, dev) if q.name == "urgent"]
    assert kinds == ["queued", "started", "preempted", "started"] and queue.preempt_lower_priority


def test_without_preemption_a_higher_priority_job_waits(runtime, lab):
    dev, _, base, sft, _ = lab
    _, admin = sign(runtime, add_user(runtime, "ops@medai.local", platform_admin=True))
    with runtime.session() as session:
        node = {"name": "g1", "gpus": 4, "cpu": 64, "memory_gb": 512, "gpu_type": "A100"}
        orchestration.save_pool(session, admin, "a100", "kubernetes", [node])
        orchestration.save_queue(session, admin, dev.tenant_id, "patient", "a100", 4)
    compute = RecordingCompute()
    low = _submit(runtime, dev, base, sft, queue="patient", gpus=4, priority=1)
    _pass(runtime, compute)
    high = _submit(runtime, dev, base, sft, queue="patient", gpus=4, priority=5)
    _pass(runtime, compute)
    assert compute.cancelled == [] and _job(runtime, low).status == "running"
    assert _job(runtime, high).status == "queued" and _job(runtime, high).queue_position == 1


def test_a_custom_job_needs_a_script_that_parses_and_keeps_its_hash_in_the_audit(runtime, lab):
    dev, _, base, sft, _ = lab
    with pytest.raises(MedAIError, match=r"does not parse: .* \(line 2\)") as caught:
        _submit(runtime, dev, base, sft, "custom", script="import os\nprint(os.environ[\n")
    assert caught.value.remedy == "Fix that line and submit again."
    with pytest.raises(MedAIError, match="64 KiB"):
        _submit(runtime, dev, base, sft, "custom", script="x = 1\n" * 20_000)
    with pytest.raises(MedAIError, match="Only custom jobs run a script"):
        _submit(runtime, dev, base, sft, "sft", script="print(1)")
    compute = RecordingCompute()
    job_id = _submit(runtime, dev, base, sft, "custom", script="print('hello')\n")
    _pass(runtime, compute)
    spec = json.loads(compute.started[0].spec_json)
    assert spec["type"] == "custom" and spec["script"] == "print('hello')\n"
    submitted = events(runtime, "job.submit")[-1]
    assert submitted.detail["script_sha256"] == hashlib.sha256(b"print('hello')\n").hexdigest()
    assert _job(runtime, job_id).script == "print('hello')\n"


def test_a_drained_node_takes_no_jobs_and_its_jobs_resume_elsewhere(runtime, lab):
    dev, _, base, sft, _ = lab
    _, admin = sign(runtime, add_user(runtime, "ops@medai.local", platform_admin=True))
    with runtime.session() as session:
        nodes = [{"name": n, "gpus": 0, "cpu": 2, "memory_gb": 16} for n in ("ward-a", "ward-b")]
        orchestration.save_pool(session, admin, "wards", "kubernetes", nodes)
        orchestration.save_queue(session, admin, dev.tenant_id, "wards", "wards", 0)
    compute = RecordingCompute()
    job_id = _submit(runtime, dev, base, sft, queue="wards", cpu=2)
    _pass(runtime, compute)
    first = _job(runtime, job_id).node
    with runtime.session() as session:
        with pytest.raises(MedAIError):
            orchestration.set_node_draining(session, dev, "wards", first, True)  # the platform's nodes
        orchestration.set_node_draining(session, admin, "wards", first, True)
    _pass(runtime, compute)  # moved off the drained node, then placed on the other one
    moved = _job(runtime, job_id)
    assert compute.cancelled == [f"{job_id}#1"] and moved.status == "running" and moved.node != first
    assert json.loads(compute.started[-1].spec_json)["resume"] is True and moved.max_retries == 3
    with runtime.session() as session:
        kinds = [e.kind for e in session.exec(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id))]
        orchestration.save_pool(session, admin, "wards", "kubernetes", nodes)  # a drained node stays drained
        drained = {
            n.name: n.draining for p in orchestration.list_pools(session, dev) if p.name == "wards" for n in p.nodes
        }
        orchestration.set_node_draining(session, admin, "wards", first, False)
        back = {
            n.name: n.draining for p in orchestration.list_pools(session, dev) if p.name == "wards" for n in p.nodes
        }
    assert kinds == ["queued", "started", "evicted", "started"]
    assert drained == {first: True, moved.node: False} and not any(back.values())


def test_the_pages_read_choices_jobs_a_job_and_waiting_jobs_through_use_cases(runtime, lab):
    dev, viewer, base, sft, dpo = lab
    compute = RecordingCompute()
    with runtime.session() as session:
        pool = orchestration.local_pool(session)
        pool.nodes = [{"name": "box", "gpus": 0, "cpu": 2.0, "memory_gb": 16.0, "gpu_type": ""}]
        session.add(pool)
    running, waiting = (_submit(runtime, dev, base, sft, cpu=2) for _ in range(2))
    _pass(runtime, compute)
    now = utcnow()
    runtime.metrics.write(
        [
            Point("train", {"job_id": running, "tenant_id": dev.tenant_id}, {"step": 5, "total_steps": 20}, now),
            Point("train", {"job_id": running, "tenant_id": dev.tenant_id}, {"loss": 1.5}, now),
            Point("train", {"job_id": running, "tenant_id": dev.tenant_id}, {"step": 6}, now + timedelta(seconds=1)),
        ]
    )
    with runtime.session() as session:
        choices = views.job_choices(session, dev)
        listings = views.job_listings(session, dev, runtime.metrics)
        detail = views.job_detail(session, dev, runtime.metrics, compute, running, 10)
        curves = views.compare_curves(session, dev, runtime.metrics, [running, waiting])
        overview = orchestration_views.overview(session, dev)
        watched = views.job_choices(session, viewer)
    assert (choices.may_view, choices.may_submit, watched.may_submit, watched.models) == (True, True, False, [])
    assert [m["id"] for m in choices.models] == [base] and choices.models[0]["label"].startswith("base v1")
    assert {d["id"]: d["shape"] for d in choices.datasets} == {sft: "alpaca", dpo: "preference"}
    assert choices.queues == ["default"]
    rows = {r.id: r for r in map(job_row, listings)}
    assert (rows[running].status, rows[running].progress, rows[running].steps) == ("running", 30, "6/20")
    assert (rows[waiting].status, rows[waiting].position, rows[waiting].progress) == ("queued", "1", 0)
    page = job_view(detail)
    assert page.job["id"] == running and page.log == f"log of {running}#1" and page.active
    assert [e["kind"] for e in page.events] == ["queued", "started"] and page.progress["step"] == 6
    assert [c.job_id for c in curves] == [running, waiting]
    assert compare_figure(curves)["data"][0]["name"] == "job · loss"
    shown = orchestration_view(overview)
    assert [(w["id"], w["queue"], w["position"]) for w in shown.waiting] == [(waiting, "default", "1")]
    assert [n.gpus for n in shown.nodes if n.name == "box"] == ["0/0"] and shown.queues[0]["running"] == "1"
    with runtime.session() as session:
        saved = pipelines.save_pipeline(
            session, dev, "flow", [{"name": "check", "kind": "data_check", "config": {"dataset_version_ids": [sft]}}]
        )
        run = pipelines.start_run(session, dev, saved.id)
        run_id, saved_id = run.id, saved.id
    with runtime.session() as session:
        builder = pipeline_page(pipelines.pipeline_overview(session, dev, saved_id))
        steps = pipelines.pipeline_steps(session, dev, saved_id)
    assert [p["name"] for p in builder.pipelines] == ["flow"] and builder.may_edit
    assert [r["id"] for r in builder.runs] == [run_id] and builder.run_steps[run_id][0].kind == "data_check"
    assert [s["name"] for s in steps] == ["check"]
