"""The training worker for real, as its own process: a tiny Llama (built here, with a locally
trained tokenizer) fine-tuned with SFT and with DPO on CPU; the loss goes down, checkpoints
and the final model land in object storage; a worker killed with SIGKILL resumes from its
last uploaded checkpoint."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.adapters.envelope import load_key_ring
from backend.adapters.metrics import build_metrics_store
from backend.adapters.objectstore import build_object_store
from backend.contracts.training import DatasetFile, TrainSpec, latest_checkpoint
from backend.services.training.presets import resolve
from backend.settings import Settings
from tests.tiny_model import build_model

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

SFT_ROWS = [
    {"instruction": "高血压患者饮食要注意什么？", "output": "低盐低脂，多吃蔬菜水果，规律服药。"},
    {"instruction": "What is a normal resting heart rate?", "output": "60 to 100 beats per minute for adults."},
    {"instruction": "糖尿病需要监测什么？", "output": "空腹血糖和糖化血红蛋白。"},
] * 8
DPO_ROWS = [
    {"prompt": "孕妇可以服用布洛芬吗？", "chosen": "孕晚期应避免，请咨询医生。", "rejected": "可以随便吃。"},
    {
        "prompt": "Can I stop antibiotics early?",
        "chosen": "Finish the course unless your doctor says otherwise.",
        "rejected": "Yes, stop when you feel better.",
    },
] * 8


@pytest.fixture
def world(tmp_path, clean_env):
    """Settings the worker will read from the environment, a base model and a dataset in storage."""
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    objects = build_object_store(settings, load_key_ring(settings))
    base = build_model(tmp_path / "base", seed=0)
    names = sorted(p.name for p in base.iterdir() if p.is_file())
    for name in names:
        with (base / name).open("rb") as handle:
            objects.put(f"tenants/t1/models/base/v1/{name}", handle)
    for shape, rows in (("alpaca", SFT_ROWS), ("preference", DPO_ROWS)):
        payload = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
        objects.put(f"tenants/t1/datasets/{shape}.jsonl", io.BytesIO(payload))
    clean_env.setenv("MEDAI_DATA_DIR", str(settings.data_dir))
    return settings, objects, names


def _spec(settings, names, job_id: str, kind: str, shape: str, **overrides) -> Path:
    spec = TrainSpec(
        job_id=job_id,
        tenant_id="t1",
        type=kind,
        base_model_prefix="tenants/t1/models/base/v1/",
        base_model_files=names,
        train=[DatasetFile(f"tenants/t1/datasets/{shape}.jsonl", "jsonl", shape)],
        hyperparameters=resolve(
            "quick-check",
            {
                "finetuning": "full",
                "learning_rate": 3e-3,
                "cutoff_len": 64,
                "per_device_train_batch_size": 4,
                "gradient_accumulation_steps": 1,
                **overrides,
            },
        ),
        job_prefix=f"tenants/t1/jobs/{job_id}/",
        workdir=str(settings.data_dir / "jobs" / job_id),
    )
    Path(spec.workdir).mkdir(parents=True, exist_ok=True)
    path = Path(spec.workdir) / "spec.json"
    spec.dump(path)
    return path


def _start(spec_path: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "backend.workers.train", str(spec_path)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _losses(settings, job_id: str) -> list[float]:
    store = build_metrics_store(settings)
    series = store.query("train", {"job_id": job_id}, datetime.now(UTC) - timedelta(hours=1), fields=["loss"])
    return series[0].values if series else []


def _result(objects, job_id: str) -> dict:
    return json.loads(b"".join(objects.open(f"tenants/t1/jobs/{job_id}/result.json")))


def test_grpo_samples_completions_and_scores_them(world, tmp_path):
    settings, objects, names = world
    job = "job-grpo"
    spec = _spec(
        settings,
        names,
        job,
        "grpo",
        "alpaca",
        max_steps=4,
        grpo_num_generations=4,
        grpo_max_completion_length=12,
        per_device_train_batch_size=4,
        logging_steps=1,
    )
    worker = _start(spec, tmp_path / "worker.log")
    assert worker.wait(timeout=300) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert _result(objects, job)["status"] == "succeeded"
    store = build_metrics_store(settings)
    fields = {s.field for s in store.query("train", {"job_id": job}, datetime.now(UTC) - timedelta(hours=1))}
    assert {"reward", "completions/mean_length", "step"} <= fields


@pytest.mark.parametrize(("kind", "shape"), [("sft", "alpaca"), ("dpo", "preference")])
def test_training_lowers_the_loss_and_stores_the_model(world, tmp_path, kind, shape):
    settings, objects, names = world
    job = f"job-{kind}"
    worker = _start(_spec(settings, names, job, kind, shape, max_steps=16), tmp_path / "worker.log")
    assert worker.wait(timeout=300) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    result = _result(objects, job)
    assert result["status"] == "succeeded" and result["global_step"] == 16
    losses = _losses(settings, job)
    assert len(losses) >= 8
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3  # it learned something
    stored = {o.key.rsplit("/", 1)[-1] for o in objects.list(f"tenants/t1/jobs/{job}/output/")}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= stored
    assert latest_checkpoint(objects, f"tenants/t1/jobs/{job}/")[0] == 16


def test_a_killed_worker_resumes_from_its_last_checkpoint(world, tmp_path):
    settings, objects, names = world
    job = "job-resume"
    spec_path = _spec(settings, names, job, "sft", "alpaca", max_steps=400, save_steps=5, logging_steps=1)
    worker = _start(spec_path, tmp_path / "first.log")
    deadline = time.monotonic() + 300
    while latest_checkpoint(objects, f"tenants/t1/jobs/{job}/") is None:
        assert worker.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint was uploaded in time"
        time.sleep(0.2)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    step, _ = latest_checkpoint(objects, f"tenants/t1/jobs/{job}/")
    assert step < 400

    spec = TrainSpec.load(spec_path)
    spec.resume, spec.hyperparameters["max_steps"] = True, step + 10
    spec.dump(spec_path)
    second = _start(spec_path, tmp_path / "second.log")
    assert second.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-3000:]
    result = _result(objects, job)
    assert result["status"] == "succeeded" and result["global_step"] == step + 10
    assert result["resumed_from"].endswith(f"checkpoint-{step}")
    assert f"resuming from checkpoint {step}" in (tmp_path / "second.log").read_text()


def test_a_reward_model_learns_to_score_chosen_answers_higher(world, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    settings, objects, names = world
    job = "job-reward"
    spec = _spec(settings, names, job, "reward", "preference", max_steps=40, cutoff_len=256)  # no pair cut off
    worker = _start(spec, tmp_path / "worker.log")
    assert worker.wait(timeout=300) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    result = _result(objects, job)
    assert result["status"] == "succeeded" and result["metrics"]["pairs_left_out"] == 0
    assert len(_losses(settings, job)) >= 8
    folder = tmp_path / "reward"
    for info in objects.list(f"tenants/t1/jobs/{job}/output/"):
        target = folder / info.key.rsplit("/", 1)[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(objects.open(info.key)))
    model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert model.config.num_labels == 1

    def score(text: str) -> float:
        with torch.no_grad():
            return float(model(**tokenizer(text, return_tensors="pt")).logits[0, 0])

    for row in DPO_ROWS[:2]:
        assert score(row["prompt"] + row["chosen"]) > score(row["prompt"] + row["rejected"])


def test_preference_pairs_over_the_cutoff_are_counted_and_none_left_is_an_error(world, tmp_path):
    """TRL leaves such pairs out without a word; the worker says how many, or stops when none is left."""
    settings, objects, names = world
    spec = _spec(settings, names, "job-cut", "reward", "preference", max_steps=1, cutoff_len=64)
    worker = _start(spec, tmp_path / "cut.log")
    assert worker.wait(timeout=300) == 0, (tmp_path / "cut.log").read_text()[-3000:]
    left_out = _result(objects, "job-cut")["metrics"]["pairs_left_out"]
    assert 0 < left_out < len(DPO_ROWS)  # the longer English pair goes, the Chinese one stays
    assert (
        f"{left_out} of {len(DPO_ROWS)} preference pairs are longer than cutoff_len (64 tokens)"
        in (tmp_path / "cut.log").read_text()
    )
    spec = _spec(settings, names, "job-none", "reward", "preference", max_steps=1, cutoff_len=16)
    worker = _start(spec, tmp_path / "none.log")
    assert worker.wait(timeout=300) != 0
    result = _result(objects, "job-none")
    assert result["status"] == "failed" and "raise cutoff_len" in result["error"]


def test_batch_inference_answers_every_prompt_and_reports_progress(world, tmp_path):
    settings, objects, names = world
    job = "job-infer"
    spec = _spec(settings, names, job, "batch_inference", "alpaca", max_new_tokens=6, per_device_train_batch_size=5)
    worker = _start(spec, tmp_path / "worker.log")
    assert worker.wait(timeout=300) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    result = _result(objects, job)
    assert result["status"] == "succeeded" and result["metrics"]["prompts"] == len(SFT_ROWS)
    lines = b"".join(objects.open(f"tenants/t1/jobs/{job}/predictions.jsonl")).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["instruction"] for r in records] == [r["instruction"] for r in SFT_ROWS]
    assert all(r["output"] and r["reference"] for r in records)
    store = build_metrics_store(settings)
    steps = store.query("train", {"job_id": job}, datetime.now(UTC) - timedelta(hours=1), fields=["step"])
    assert steps[0].values == [5.0, 10.0, 15.0, 20.0, 24.0]  # one point per batch of five


CUSTOM_SCRIPT = """
import json, os, shutil
from transformers import AutoModelForCausalLM

files = json.loads(os.environ["MEDAI_TRAIN_FILES"])
rows = [json.loads(line) for path in files for line in open(path, encoding="utf-8")]
hyper = json.loads(os.environ["MEDAI_HYPERPARAMETERS"])
print("reading", len(rows), "rows")
for step in (1, 2, 3):
    print("MEDAI_METRIC " + json.dumps({"step": step, "loss": 1.0 / step, "rows": len(rows)}))
print("MEDAI_METRIC not json")
model = AutoModelForCausalLM.from_pretrained(os.environ["MEDAI_BASE_MODEL_DIR"])
model.save_pretrained(os.environ["MEDAI_OUTPUT_DIR"])
for name in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(os.environ["MEDAI_BASE_MODEL_DIR"], name), os.environ["MEDAI_OUTPUT_DIR"])
print("lr was", hyper["learning_rate"])
"""


def test_a_custom_script_reports_metrics_and_its_saved_model_is_stored(world, tmp_path):
    settings, objects, names = world
    job = "job-custom"
    spec_path = _spec(settings, names, job, "custom", "alpaca")
    spec = TrainSpec.load(spec_path)
    spec.script = CUSTOM_SCRIPT
    spec.dump(spec_path)
    worker = _start(spec_path, tmp_path / "worker.log")
    assert worker.wait(timeout=300) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    result = _result(objects, job)
    assert result["status"] == "succeeded" and result["model_written"] is True
    assert result["global_step"] == 3 and result["metrics"]["rows"] == len(SFT_ROWS)
    assert _losses(settings, job) == [1.0, 0.5, 1.0 / 3]
    log = (tmp_path / "worker.log").read_text()
    assert f"script: reading {len(SFT_ROWS)} rows" in log and "script: lr was 0.003" in log
    assert "script: MEDAI_METRIC not json" in log  # not a metric: kept in the log
    stored = {o.key.rsplit("/", 1)[-1] for o in objects.list(f"tenants/t1/jobs/{job}/output/")}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= stored


def test_a_failing_custom_script_fails_the_attempt_with_its_output_in_the_log(world, tmp_path):
    settings, objects, names = world
    spec_path = _spec(settings, names, "job-broken", "custom", "alpaca")
    spec = TrainSpec.load(spec_path)
    spec.script = "print('loading')\nraise SystemExit('no GPU found')\n"
    spec.dump(spec_path)
    worker = _start(spec_path, tmp_path / "worker.log")
    assert worker.wait(timeout=300) == 1
    result = _result(objects, "job-broken")
    assert result["status"] == "failed" and "exited with status 1" in result["error"]
    assert "script: no GPU found" in (tmp_path / "worker.log").read_text()
