"""The training worker: one process per job attempt, run by the local compute adapter or as
a Kubernetes Job. It talks to the platform only through the object store and the metrics
store, so it runs the same on a laptop and in a pod:

  in:  the job spec (a JSON file), base model files and dataset files from object storage,
       and the latest checkpoint when the attempt resumes;
  out: a point per logged step in the metrics store (loss, eval loss, learning rate, grad
       norm, tokens/s, epoch, step, ETA), every checkpoint uploaded as it is saved, the
       final model under ``output/``, and ``result.json`` saying how it ended.

Run: ``python -m backend.workers.train SPEC.json``; exit status 0 on success.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.adapters.envelope import load_key_ring
from backend.adapters.metrics import MetricsStore, Point, build_metrics_store
from backend.adapters.objectstore import ObjectStore, build_object_store
from backend.contracts.training import DatasetFile, TrainSpec, latest_checkpoint
from backend.settings import get_settings
from backend.workers.chat_template import DEFAULT_CHAT_TEMPLATE

logger = logging.getLogger("medai.train")

METRIC_PREFIX = "MEDAI_METRIC "
_ROLE = {"human": "user", "gpt": "assistant", "observation": "tool", "function_call": "assistant"}


# data -------------------------------------------------------------------------------------


def _turns(record: dict[str, Any]) -> list[dict[str, str]]:
    turns = record.get("messages", record.get("conversations")) or []
    return [
        {
            "role": _ROLE.get(t.get("role", t.get("from")), t.get("role", t.get("from"))),
            "content": str(t.get("content", t.get("value", ""))),
        }
        for t in turns
    ]


def sft_example(shape: str, record: dict[str, Any]) -> dict[str, Any]:
    """One record in the form TRL's SFTTrainer takes: chat messages, or plain text."""
    if shape == "text":
        return {"text": str(record["text"])}
    if shape == "sharegpt":
        return {"messages": _turns(record)}
    prompt = str(record["instruction"]) + (f"\n{record['input']}" if record.get("input") else "")
    messages = [{"role": "system", "content": str(record["system"])}] if record.get("system") else []
    return {
        "messages": [
            *messages,
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": str(record["output"])},
        ]
    }


def prompt_example(shape: str, record: dict[str, Any]) -> dict[str, Any]:
    """A prompt and the reference answer the reward compares completions with (GRPO)."""
    if shape == "sharegpt":
        turns = _turns(record)
        answer = next((t["content"] for t in reversed(turns) if t["role"] == "assistant"), "")
        asked = [t["content"] for t in turns if t["role"] == "user"]
        return {"prompt": asked[-1] if asked else "", "reference": answer}
    prompt = str(record["instruction"]) + (f"\n{record['input']}" if record.get("input") else "")
    return {"prompt": prompt, "reference": str(record["output"])}


def reference_f1(completions: list[Any], reference: list[str], **_: Any) -> list[float]:
    """Reward: token-level F1 between each completion and its reference answer (CJK characters
    and words count as tokens), in [0, 1]."""
    from collections import Counter

    from backend.services.assets.dataset_formats import approximate_token_list

    scores = []
    for completion, answer in zip(completions, reference, strict=True):
        text = completion if isinstance(completion, str) else " ".join(m.get("content", "") for m in completion)
        got, want = Counter(approximate_token_list(text)), Counter(approximate_token_list(answer))
        common = sum((got & want).values())
        if not common:
            scores.append(0.0)
            continue
        precision, recall = common / sum(got.values()), common / sum(want.values())
        scores.append(2 * precision * recall / (precision + recall))
    return scores


def preference_example(record: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": str(record["prompt"]), "chosen": str(record["chosen"]), "rejected": str(record["rejected"])}


def _load_rows(objects: ObjectStore, files: list[DatasetFile], folder: Path, kind: str) -> list[dict[str, Any]]:
    from backend.services.assets.dataset_formats import Issue, records

    rows: list[dict[str, Any]] = []
    for index, item in enumerate(files):
        local = folder / f"{index}.{item.file_type}"
        _download(objects, item.object_key, local)
        for _, record in records(local, item.file_type):
            if isinstance(record, Issue):
                continue  # the file was validated at import; nothing unreadable is left
            if kind in ("dpo", "reward"):
                rows.append(preference_example(record))
            elif kind in ("grpo", "batch_inference"):
                rows.append(prompt_example(item.shape, record))
            else:
                rows.append(sft_example(item.shape, record))
    return rows


# storage ----------------------------------------------------------------------------------


def _download(objects: ObjectStore, key: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        for chunk in objects.open(key):
            out.write(chunk)


def _upload_folder(objects: ObjectStore, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                objects.put(prefix + path.relative_to(folder).as_posix(), handle)


def _fetch_prefix(objects: ObjectStore, prefix: str, folder: Path) -> None:
    for info in objects.list(prefix):
        _download(objects, info.key, folder / info.key.removeprefix(prefix))


# training ---------------------------------------------------------------------------------


def _callback(spec: TrainSpec, objects: ObjectStore, metrics: MetricsStore, started: float):  # noqa: ANN202
    from transformers import TrainerCallback

    class PlatformCallback(TrainerCallback):
        """Every log line to the metrics store, every checkpoint to object storage."""

        def __init__(self) -> None:
            self._last_tokens: tuple[float, float] | None = None

        def on_log(self, args, state, control, logs=None, **kwargs) -> None:  # noqa: ANN001, ANN003
            logs = logs or {}
            now = time.monotonic()
            fields = {k: float(v) for k, v in logs.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            fields["step"] = float(state.global_step)
            fields["total_steps"] = float(state.max_steps)
            if state.global_step:
                per_step = (now - started) / state.global_step
                fields["eta_s"] = max(0.0, (state.max_steps - state.global_step) * per_step)
            if "num_tokens" in logs:
                if self._last_tokens is not None and now > self._last_tokens[1]:
                    fields["tokens_per_s"] = (float(logs["num_tokens"]) - self._last_tokens[0]) / (
                        now - self._last_tokens[1]
                    )
                self._last_tokens = (float(logs["num_tokens"]), now)
            metrics.write(
                [Point("train", {"job_id": spec.job_id, "tenant_id": spec.tenant_id}, fields, datetime.now(UTC))]
            )
            logger.info("step %s/%s %s", state.global_step, state.max_steps, json.dumps(logs, default=str))

        def on_save(self, args, state, control, **kwargs) -> None:  # noqa: ANN001, ANN003
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                _upload_folder(objects, folder, f"{spec.job_prefix}checkpoints/checkpoint-{state.global_step}/")
                logger.info("checkpoint %s uploaded", state.global_step)

    return PlatformCallback()


def _precision(wanted: str) -> dict[str, bool]:
    import torch

    if wanted == "bf16" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return {"bf16": True, "fp16": False}
    if wanted == "fp16" and torch.cuda.is_available():
        return {"bf16": False, "fp16": True}
    return {"bf16": False, "fp16": False}  # CPU, or fp32 asked for


def _common_args(spec: TrainSpec, output_dir: Path, has_eval: bool) -> dict[str, Any]:
    import torch

    h = spec.hyperparameters
    return {
        "output_dir": str(output_dir),
        "learning_rate": h["learning_rate"],
        "num_train_epochs": h["num_train_epochs"],
        "max_steps": h["max_steps"],
        "per_device_train_batch_size": h["per_device_train_batch_size"],
        "gradient_accumulation_steps": h["gradient_accumulation_steps"],
        "lr_scheduler_type": h["lr_scheduler_type"],
        "warmup_steps": h["warmup_ratio"],  # a float in [0, 1) is a ratio of the total steps
        "logging_steps": h["logging_steps"],
        "save_steps": h["save_steps"],
        "save_total_limit": h["save_total_limit"],
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": h["eval_steps"] if has_eval else None,
        "seed": h["seed"],
        "report_to": [],
        "use_cpu": not torch.cuda.is_available(),
        "max_length": h["cutoff_len"],
        "disable_tqdm": True,
        **_precision(h["precision"]),
    }


def _peft_config(spec: TrainSpec, task_type: str = "CAUSAL_LM"):  # noqa: ANN202
    h = spec.hyperparameters
    if h["finetuning"] != "lora":
        return None
    from peft import LoraConfig

    targets = h["lora_target"] if h["lora_target"] == "all-linear" else [t.strip() for t in h["lora_target"].split(",")]
    return LoraConfig(
        r=h["lora_rank"],
        lora_alpha=h["lora_alpha"],
        lora_dropout=h["lora_dropout"],
        target_modules=targets,
        task_type=task_type,
    )


def run(spec: TrainSpec, objects: ObjectStore, metrics: MetricsStore) -> dict[str, Any]:
    """One attempt of a job; returns the summary that goes into result.json."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    workdir = Path(spec.workdir)
    base = workdir / "base"
    for name in spec.base_model_files:
        if not (base / name).exists():
            _download(objects, spec.base_model_prefix + name, base / name)
    if spec.type == "custom":
        return _run_script(spec, objects, metrics, base)
    train_rows = _load_rows(objects, spec.train, workdir / "data" / "train", spec.type)
    eval_rows = _load_rows(objects, spec.eval, workdir / "data" / "eval", spec.type) if spec.eval else []
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    output_dir = workdir / "checkpoints"
    if spec.type == "reward":
        model = _reward_model(base, tokenizer, spec.hyperparameters["seed"])
    else:
        model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
    if spec.type == "eval":
        return _evaluate(spec, model, tokenizer, train_rows, output_dir, metrics)
    if spec.type == "batch_inference":
        return _batch_inference(spec, objects, model, tokenizer, train_rows, metrics)
    resume_from = None
    if spec.resume and (found := latest_checkpoint(objects, spec.job_prefix)) is not None:
        step, prefix = found
        resume_from = output_dir / f"checkpoint-{step}"
        if not resume_from.is_dir():
            _fetch_prefix(objects, prefix, resume_from)
        logger.info("resuming from checkpoint %s", step)
    args = _common_args(spec, output_dir, bool(eval_rows))
    trainer_kwargs = {
        "model": model,
        "train_dataset": Dataset.from_list(train_rows),
        "eval_dataset": Dataset.from_list(eval_rows) if eval_rows else None,
        "processing_class": tokenizer,
        "peft_config": _peft_config(spec, "SEQ_CLS" if spec.type == "reward" else "CAUSAL_LM"),
        "callbacks": [_callback(spec, objects, metrics, time.monotonic())],
    }
    h = spec.hyperparameters
    left_out = 0  # preference pairs over the cutoff (reward models)
    if spec.type == "reward":
        from trl import RewardConfig, RewardTrainer

        trainer = RewardTrainer(args=RewardConfig(**args), **trainer_kwargs)
        left_out = _pairs_left_out(len(train_rows), len(trainer.train_dataset), h["cutoff_len"])
    elif spec.type == "dpo":
        trainer = DPOTrainer(args=DPOConfig(**args, beta=h["dpo_beta"], loss_type=h["dpo_loss_type"]), **trainer_kwargs)
    elif spec.type == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        grpo_args = {k: v for k, v in args.items() if k != "max_length"}
        config = GRPOConfig(
            **grpo_args,
            num_generations=h["grpo_num_generations"],
            max_completion_length=h["grpo_max_completion_length"],
        )
        trainer = GRPOTrainer(reward_funcs=[reference_f1], args=config, **trainer_kwargs)
    else:
        trainer = SFTTrainer(args=SFTConfig(**args), **trainer_kwargs)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    final = workdir / "final"
    trained = trainer.model.merge_and_unload() if hasattr(trainer.model, "merge_and_unload") else trainer.model
    trained.save_pretrained(final, safe_serialization=True)
    tokenizer.save_pretrained(final)
    _upload_folder(objects, final, spec.job_prefix + "output/")
    summary = {k: v for k, v in result.metrics.items() if isinstance(v, int | float)}
    if spec.type == "reward":
        summary["pairs_left_out"] = left_out
    return {
        "status": "succeeded",
        "global_step": result.global_step,
        "metrics": summary,
        "resumed_from": str(resume_from or ""),
    }


def metric_fields(line: str) -> dict[str, float]:
    """The numbers of a ``MEDAI_METRIC {json}`` line; nothing for any other line."""
    if not line.startswith(METRIC_PREFIX):
        return {}
    try:
        found = json.loads(line.removeprefix(METRIC_PREFIX))
    except json.JSONDecodeError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: float(v) for k, v in found.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _run_script(spec: TrainSpec, objects: ObjectStore, metrics: MetricsStore, base: Path) -> dict[str, Any]:
    """A custom job: the person's script in its own process, told where things are through the
    environment (MEDAI_BASE_MODEL_DIR, MEDAI_TRAIN_FILES as a JSON list, MEDAI_OUTPUT_DIR,
    MEDAI_HYPERPARAMETERS). A line ``MEDAI_METRIC {"loss": 0.5, "step": 3}`` on its standard output
    becomes a metrics point; every other line goes to the job log. A model saved in the output folder
    (with its config.json) is registered like a trained one."""
    import subprocess

    workdir = Path(spec.workdir)
    files = []
    for index, item in enumerate(spec.train):
        files.append(workdir / "data" / "train" / f"{index}.{item.file_type}")
        _download(objects, item.object_key, files[-1])
    output = workdir / "final"
    output.mkdir(parents=True, exist_ok=True)
    script = workdir / "script.py"
    script.write_text(spec.script, encoding="utf-8")
    env = {
        **os.environ,
        "MEDAI_BASE_MODEL_DIR": str(workdir / "base"),
        "MEDAI_TRAIN_FILES": json.dumps([str(f) for f in files]),
        "MEDAI_OUTPUT_DIR": str(output),
        "MEDAI_HYPERPARAMETERS": json.dumps(spec.hyperparameters),
    }
    tags, last = {"job_id": spec.job_id, "tenant_id": spec.tenant_id}, {}
    process = subprocess.Popen(
        [sys.executable, str(script)], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if fields := metric_fields(line):
            last.update(fields)
            metrics.write([Point("train", tags, fields, datetime.now(UTC))])
        else:
            logger.info("script: %s", line.rstrip())
    if (code := process.wait()) != 0:
        raise RuntimeError(f"the script exited with status {code}; its output is in the log above")
    model_written = (output / "config.json").is_file()
    if any(output.iterdir()):
        _upload_folder(objects, output, spec.job_prefix + "output/")
    return {
        "status": "succeeded",
        "global_step": int(last.get("step", 0)),
        "metrics": last,
        "resumed_from": "",
        "model_written": model_written,
    }


def _pairs_left_out(given: int, kept: int, cutoff_len: int) -> int:
    """TRL's RewardTrainer silently leaves out preference pairs longer than ``max_length``: say how
    many in the job's log, and stop with the remedy when none is left."""
    if kept == 0:
        raise ValueError(
            f"all {given} preference pairs are longer than cutoff_len ({cutoff_len} tokens) and none is left "
            "to train on; raise cutoff_len or shorten the prompts and answers"
        )
    if kept < given:
        logger.warning(
            "%d of %d preference pairs are longer than cutoff_len (%d tokens) and were left out; "
            "raise cutoff_len to keep them",
            given - kept,
            given,
            cutoff_len,
        )
    return given - kept


def _reward_model(base: Path, tokenizer: Any, seed: int) -> Any:
    """The base model with a fresh one-output head (drawn from the job's seed, so a rerun starts the
    same): it learns to score chosen answers above rejected ones."""
    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, local_files_only=True)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def _batch_inference(
    spec: TrainSpec, objects: ObjectStore, model: Any, tokenizer: Any, rows: list[dict[str, Any]], metrics: MetricsStore
) -> dict[str, Any]:
    """Answers for every prompt of the dataset, written as an Alpaca JSONL file (``predictions.jsonl``)
    with the reference answer kept beside each one; progress and token F1 against the references go
    to the metrics store as it runs."""
    import torch

    h = spec.hyperparameters
    tokenizer.padding_side = "left"  # generation continues from the right edge of every prompt
    batch_size = h["per_device_train_batch_size"]
    sampling = {"do_sample": True, "temperature": h["temperature"]} if h["temperature"] > 0 else {"do_sample": False}
    out_path = Path(spec.workdir) / "predictions.jsonl"
    tags = {"job_id": spec.job_id, "tenant_id": spec.tenant_id}
    started, generated, f1_total = time.monotonic(), 0, 0.0
    model.eval()
    with out_path.open("w", encoding="utf-8") as out:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            prompts = [
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": row["prompt"]}], tokenize=False, add_generation_prompt=True
                )
                for row in batch
            ]
            encoded = tokenizer(prompts, return_tensors="pt", padding=True, truncation=True, max_length=h["cutoff_len"])
            with torch.no_grad():
                output = model.generate(
                    **encoded, max_new_tokens=h["max_new_tokens"], pad_token_id=tokenizer.pad_token_id, **sampling
                )
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            answers = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            generated += int((new_tokens != tokenizer.pad_token_id).sum())
            scores = reference_f1(answers, [row["reference"] for row in batch])
            f1_total += sum(scores)
            for row, answer in zip(batch, answers, strict=True):
                record = {
                    "instruction": row["prompt"],
                    "output": answer.strip() or "(no answer)",
                    "reference": row["reference"],
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            done, elapsed = start + len(batch), time.monotonic() - started
            fields = {
                "step": float(done),
                "total_steps": float(len(rows)),
                "tokens_per_s": generated / elapsed if elapsed else 0.0,
                "eta_s": elapsed / done * (len(rows) - done),
                "reference_f1": f1_total / done,
            }
            metrics.write([Point("train", tags, fields, datetime.now(UTC))])
            logger.info("answered %s/%s prompts", done, len(rows))
    with out_path.open("rb") as handle:
        objects.put(spec.job_prefix + "predictions.jsonl", handle, "application/jsonl")
    summary = {
        "prompts": float(len(rows)),
        "reference_f1": f1_total / max(1, len(rows)),
        "generated_tokens": float(generated),
    }
    return {"status": "succeeded", "global_step": len(rows), "metrics": summary, "resumed_from": ""}


def _evaluate(
    spec: TrainSpec, model: Any, tokenizer: Any, rows: list[dict[str, Any]], output_dir: Path, metrics: MetricsStore
) -> dict[str, Any]:
    """Loss and perplexity of the model on the evaluation data (no weights change)."""
    import math

    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    data = Dataset.from_list(rows)
    args = {**_common_args(spec, output_dir, True), "eval_strategy": "no", "eval_steps": None}
    args["per_device_eval_batch_size"] = spec.hyperparameters["per_device_train_batch_size"]
    trainer = SFTTrainer(
        model=model, args=SFTConfig(**args), train_dataset=data, eval_dataset=data, processing_class=tokenizer
    )
    found = trainer.evaluate()
    loss = float(found["eval_loss"])
    result = {"eval_loss": loss, "perplexity": math.exp(min(loss, 50.0)), "eval_samples": float(len(rows))}
    tags = {"job_id": spec.job_id, "tenant_id": spec.tenant_id}
    metrics.write([Point("train", tags, result, datetime.now(UTC))])
    return {"status": "succeeded", "global_step": 0, "metrics": result, "resumed_from": ""}


def _write_result(objects: ObjectStore, spec: TrainSpec, result: dict[str, Any]) -> None:
    import io

    result["finished_at"] = datetime.now(UTC).isoformat()
    objects.put(spec.job_prefix + "result.json", io.BytesIO(json.dumps(result).encode()), "application/json")


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    spec = TrainSpec.loads(os.environ["MEDAI_TRAIN_SPEC"]) if argv[0] == "-" else TrainSpec.load(Path(argv[0]))
    settings = get_settings()
    objects = build_object_store(settings, load_key_ring(settings))
    metrics = build_metrics_store(settings)
    try:
        result = run(spec, objects, metrics)
    except Exception as error:  # the reason goes to result.json and the log; the controller decides on retries
        logger.error("training failed: %s\n%s", error, traceback.format_exc())
        _write_result(objects, spec, {"status": "failed", "error": f"{type(error).__name__}: {error}"[:2000]})
        return 1
    _write_result(objects, spec, result)
    shutil.rmtree(Path(spec.workdir) / "checkpoints", ignore_errors=True)  # uploaded already
    logger.info("training finished: %s", json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
