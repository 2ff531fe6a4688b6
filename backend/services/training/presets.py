"""Training job types, hyper-parameter defaults and presets, checked before a job is queued.

Defaults follow what LLaMA-Factory users expect (learning rate 5e-5, 3 epochs, cosine
schedule with warm-up, LoRA rank 8); presets adjust them for common situations. The worker
turns the checked values into TRL configs.
"""

from __future__ import annotations

from typing import Any

from backend.errors import ErrorCode, MedAIError

JOB_TYPES = ("sft", "dpo", "grpo", "reward", "eval", "batch_inference", "custom")
TRAINABLE = ("sft", "dpo", "grpo", "reward")
SHAPES_FOR = {  # which dataset shapes each type accepts
    "sft": ("alpaca", "sharegpt", "text"),
    "dpo": ("preference",),
    "reward": ("preference",),
    "grpo": ("alpaca", "sharegpt"),
    "eval": ("alpaca", "sharegpt", "text"),
    "batch_inference": ("alpaca", "sharegpt"),
    "custom": ("alpaca", "sharegpt", "text", "preference"),
}

DEFAULTS: dict[str, Any] = {
    "learning_rate": 5e-5,
    "num_train_epochs": 3.0,
    "max_steps": -1,  # > 0 overrides epochs
    "cutoff_len": 2048,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 8,
    "lr_scheduler_type": "cosine",
    "warmup_ratio": 0.1,
    "logging_steps": 10,
    "save_steps": 100,
    "save_total_limit": 3,
    "eval_steps": 100,
    "precision": "bf16",  # bf16 | fp16 | fp32; falls back to fp32 without a GPU
    "finetuning": "lora",  # lora | full
    "lora_rank": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "lora_target": "all-linear",
    "dpo_beta": 0.1,
    "dpo_loss_type": "sigmoid",
    "grpo_num_generations": 4,
    "grpo_max_completion_length": 128,
    "max_new_tokens": 256,  # batch inference: answer length
    "temperature": 0.0,  # batch inference: 0 is greedy decoding
    "seed": 42,
}

PRESETS: dict[str, dict[str, Any]] = {
    "lora-default": {},
    "full-small-model": {"finetuning": "full", "learning_rate": 1e-5, "gradient_accumulation_steps": 4},
    "grpo-default": {"learning_rate": 1e-6, "num_train_epochs": 1.0, "grpo_num_generations": 4},
    "quick-check": {"num_train_epochs": 1.0, "max_steps": 20, "logging_steps": 1, "save_steps": 10, "eval_steps": 10},
    "dpo-default": {"learning_rate": 5e-6, "num_train_epochs": 1.0, "dpo_beta": 0.1},
    "long-context": {"cutoff_len": 8192, "per_device_train_batch_size": 1, "gradient_accumulation_steps": 16},
}

_CHOICES = {
    "lr_scheduler_type": ("cosine", "linear", "constant", "constant_with_warmup", "polynomial"),
    "precision": ("bf16", "fp16", "fp32"),
    "finetuning": ("lora", "full"),
    "dpo_loss_type": ("sigmoid", "ipo", "hinge", "robust"),
}
_RANGES: dict[str, tuple[float, float]] = {
    "learning_rate": (1e-8, 1.0),
    "num_train_epochs": (0.01, 1000),
    "max_steps": (-1, 10_000_000),
    "cutoff_len": (16, 1_048_576),
    "per_device_train_batch_size": (1, 4096),
    "gradient_accumulation_steps": (1, 4096),
    "warmup_ratio": (0.0, 0.99),
    "logging_steps": (1, 1_000_000),
    "save_steps": (1, 1_000_000),
    "save_total_limit": (1, 1000),
    "eval_steps": (1, 1_000_000),
    "lora_rank": (1, 1024),
    "lora_alpha": (1, 4096),
    "lora_dropout": (0.0, 0.9),
    "dpo_beta": (0.0, 10.0),
    "grpo_num_generations": (2, 64),
    "grpo_max_completion_length": (4, 32768),
    "max_new_tokens": (1, 32768),
    "temperature": (0.0, 2.0),
    "seed": (0, 2**31 - 1),
}
_INTEGERS = {
    "max_steps",
    "cutoff_len",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "eval_steps",
    "lora_rank",
    "lora_alpha",
    "grpo_num_generations",
    "grpo_max_completion_length",
    "max_new_tokens",
    "seed",
}


def resolve(preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then the preset, then the user's values; every value checked."""
    if preset and preset not in PRESETS:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown preset '{preset}'.", "Use one of: " + ", ".join(PRESETS))
    values = {**DEFAULTS, **PRESETS.get(preset, {}), **overrides}
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise MedAIError(
            ErrorCode.DATA_INVALID, f"Unknown hyper-parameters: {', '.join(unknown)}.", "Remove them or fix the names."
        )
    problems = []
    for key, value in values.items():
        if key in _CHOICES and value not in _CHOICES[key]:
            problems.append(f"{key} must be one of {', '.join(_CHOICES[key])}")
        elif key in _RANGES:
            low, high = _RANGES[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                problems.append(f"{key} must be a number from {low:g} to {high:g}")
            elif key in _INTEGERS:
                values[key] = int(value)
    target = values["lora_target"]
    if not isinstance(target, str) or not target.strip():
        problems.append("lora_target must name modules, e.g. all-linear or q_proj,v_proj")
    if problems:
        raise MedAIError(ErrorCode.DATA_INVALID, "Invalid hyper-parameters: " + "; ".join(problems) + ".")
    return values
