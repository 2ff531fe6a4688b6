"""The same SFT run through the platform and as a bare TRL script, timed end to end.

Platform: register a tiny model and a dataset, submit the job, let the controller's pass admit it,
start the worker process, follow it and register the trained model (object storage, metrics,
checkpoints, lineage included). Baseline: one Python process that loads the same model and data
from a folder and runs TRL's SFTTrainer with the same hyper-parameters, then saves the model.
The ratio platform / bare is the platform's overhead on this (deliberately small) run; on a real
model the training itself dominates and the ratio tends to 1.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from backend import db
from backend.models import TrainingJob
from backend.runtime import build_runtime
from backend.services.assets import datasets, model_registry
from backend.services.training import jobs as training
from backend.settings import Settings
from tests.tiny_model import build_model
from tests.unit.identity_world import add_tenant, add_user, sign

STEPS = 40
ROUNDS = 2
ROWS = [
    {"instruction": "高血压患者饮食要注意什么？", "output": "低盐低脂，多吃蔬菜水果，规律服药。"},
    {"instruction": "What is a normal resting heart rate?", "output": "60 to 100 beats per minute for adults."},
] * 16
HYPER = {
    "finetuning": "full",
    "learning_rate": 3e-3,
    "cutoff_len": 64,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "max_steps": STEPS,
    "logging_steps": 5,
    "save_steps": STEPS,
    "warmup_ratio": 0.0,
}
BARE = """
import json, sys
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

model_dir, data_file, out = sys.argv[1:4]
rows = [json.loads(line) for line in open(data_file, encoding="utf-8")]
messages = [{{"messages": [{{"role": "user", "content": r["instruction"]}},
                          {{"role": "assistant", "content": r["output"]}}]}} for r in rows]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
tokenizer.chat_template = {template!r}
model = AutoModelForCausalLM.from_pretrained(model_dir)
args = SFTConfig(output_dir=out, max_steps={steps}, learning_rate=3e-3, per_device_train_batch_size=4,
                 gradient_accumulation_steps=1, lr_scheduler_type="cosine", logging_steps=5, save_steps={steps},
                 max_length=64, use_cpu=True, report_to=[], disable_tqdm=True, seed=42)
trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(messages), processing_class=tokenizer)
trainer.train()
trainer.model.save_pretrained(out + "/final")
tokenizer.save_pretrained(out + "/final")
"""


def _bare(folder: Path, data_file: Path, out: Path) -> float:
    from backend.workers.chat_template import DEFAULT_CHAT_TEMPLATE

    script = folder.parent / "bare_sft.py"
    script.write_text(textwrap.dedent(BARE.format(template=DEFAULT_CHAT_TEMPLATE, steps=STEPS)))
    # the environment the local compute adapter gives a 1-CPU job: offline hub, one thread
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    command = [sys.executable, str(script), str(folder), str(data_file), str(out)]
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def _platform(root: Path, folder: Path, data_file: Path) -> float:
    settings = Settings(data_dir=root / "data", _env_file=None, model_import_dirs=str(folder.parent))
    runtime = build_runtime(settings)
    db.upgrade(runtime.engine)
    tenant = add_tenant(runtime, "bench")
    _, who = sign(runtime, add_user(runtime, "dev@bench.local", [(tenant, "developer")]))
    with runtime.session() as session:
        base = model_registry.register_version(
            session,
            runtime.objects,
            who,
            model_registry.VersionSpec(model_name="tiny"),
            model_registry.folder_files(folder, settings.model_import_roots),
            "path",
        )
        data = datasets.import_version(
            session,
            runtime.objects,
            who,
            name="bp",
            filename="bp.jsonl",
            stream=io.BytesIO(data_file.read_bytes()),
            scratch_dir=settings.scratch_dir,
        )
        request = training.JobRequest("bench", "sft", base.id, (data.id,), cpu=1, memory_gb=1, hyperparameters=HYPER)
        started = time.perf_counter()
        job_id = training.submit_job(session, who, request).id
    while True:
        with runtime.session() as session:
            training.reconcile(session, runtime.compute, runtime.objects, str(settings.data_dir))
            job = session.get(TrainingJob, job_id)
            if job.status not in ("queued", "running"):
                break
        time.sleep(0.2)  # the controller's own interval is longer; this favours neither side
    elapsed = time.perf_counter() - started
    if job.status != "succeeded":
        raise SystemExit(f"the platform run ended {job.status}: {job.reason}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = build_model(root / "models" / "tiny")
        data_file = root / "bp.jsonl"
        data_file.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS), encoding="utf-8")
        bare, platform = [], []
        for attempt in range(ROUNDS):  # alternating, best of each: a busy machine slows both alike
            bare.append(_bare(folder, data_file, root / f"bare-{attempt}"))
            platform.append(_platform(root / f"platform-{attempt}", folder, data_file))
    bare_s, platform_s = min(bare), min(platform)
    print(f"SFT, {STEPS} steps of a tiny Llama on CPU, best of {ROUNDS}")
    print(f"  bare TRL script : {bare_s:6.1f} s")
    print(f"  platform job    : {platform_s:6.1f} s (submit → model registered)")
    print(f"  ratio platform/bare: {platform_s / bare_s:.2f}")


if __name__ == "__main__":
    main()
