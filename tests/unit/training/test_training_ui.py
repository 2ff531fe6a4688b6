"""What the R&D and orchestration pages compute before a service sees it: curves lined up by
step and smoothed, form text turned into typed hyper-parameters and resources, pool nodes,
node selectors and tolerations parsed (with a reason when they cannot be)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from backend.errors import ErrorCode, MedAIError
from backend.services.training import presets as training_presets
from state import figures as charts
from state.orchestration import node_selector, pool_nodes, tolerations
from state.training import job_request, preset_values, toggled, typed_hyperparameters

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class FakeSeries:
    field: str
    times: list[datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def _at(*seconds: int) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def test_curves_line_up_with_the_step_logged_at_the_same_moment():
    series = [
        FakeSeries("step", _at(1, 2, 3, 4), [1, 2, 3, 4]),
        FakeSeries("loss", _at(1, 2, 4), [3.0, 2.5, 1.0]),  # no loss logged at second 3
        FakeSeries("eval_loss", _at(3), [2.0]),
    ]
    assert charts.by_step(series, "loss") == ([1.0, 2.0, 4.0], [3.0, 2.5, 1.0])
    assert charts.by_step(series, "eval_loss") == ([3.0], [2.0])
    assert charts.by_step(series, "grad_norm") == ([], [])
    assert charts.latest(series, "step") == 4 and charts.latest(series, "eta_s") is None


def test_ema_is_debiased_and_zero_weight_keeps_the_values():
    values = [4.0, 2.0, 2.0, 2.0]
    assert charts.ema(values, 0) == values
    smoothed = charts.ema(values, 0.5)
    assert smoothed[0] == pytest.approx(4.0)  # debiasing: the first point is not pulled towards 0
    assert smoothed[1] == pytest.approx((0.5 * 2 + 0.25 * 4) / 0.75)
    assert smoothed[0] > smoothed[1] > smoothed[2] > smoothed[3] > 2.0


def test_a_preset_fills_the_form_and_the_form_comes_back_typed():
    form = preset_values("quick-check")
    assert form["max_steps"] == "20" and form["learning_rate"] == "5e-05" and form["finetuning"] == "lora"
    typed = typed_hyperparameters({**form, "learning_rate": "3e-3", "max_steps": "8", "warmup_ratio": "0"})
    assert typed["learning_rate"] == 3e-3 and typed["max_steps"] == 8 and isinstance(typed["max_steps"], int)
    assert typed["warmup_ratio"] == 0.0 and typed["lora_target"] == "all-linear"
    assert training_presets.resolve("quick-check", typed)["max_steps"] == 8  # what the service accepts
    with pytest.raises(MedAIError) as caught:
        typed_hyperparameters({"cutoff_len": "long"})
    assert caught.value.code is ErrorCode.DATA_INVALID and "cutoff_len" in caught.value.message


def test_the_job_request_carries_resources_and_the_queue():
    request = job_request(
        "bp-sft",
        "sft",
        "base-1",
        ["d1"],
        [],
        "quick-check",
        {"max_steps": "8"},
        {
            "gpus": "1",
            "gpu_type": " A100 ",
            "cpu": "1.5",
            "memory_gb": "4",
            "priority": "3",
            "queue": "",
            "max_retries": "0",
        },
    )
    assert (request.gpus, request.gpu_type, request.cpu, request.memory_gb) == (1, "A100", 1.5, 4.0)
    assert (request.priority, request.queue, request.max_retries) == (3, "default", 0)
    assert request.dataset_version_ids == ("d1",) and request.hyperparameters == {"max_steps": 8}
    with pytest.raises(MedAIError, match="gpus"):
        job_request("x", "sft", "b", ["d"], [], "", {}, {"gpus": "two"})


def test_checkbox_toggles_keep_order_and_no_duplicates():
    assert toggled(["a"], "b", True) == ["a", "b"]
    assert toggled(["a", "b"], "b", True) == ["a", "b"]
    assert toggled(["a", "b"], "a", False) == ["b"]


def test_pool_rows_selectors_and_tolerations_are_parsed_or_refused():
    nodes = pool_nodes(
        [
            {"name": " g1 ", "gpus": "8", "gpu_type": "A100", "cpu": "64", "memory_gb": "512"},
            {"name": "", "gpus": "0", "gpu_type": "", "cpu": "8", "memory_gb": "32"},  # an empty row is left out
        ]
    )
    assert nodes == [{"name": "g1", "gpus": 8, "gpu_type": "A100", "cpu": 64.0, "memory_gb": 512.0}]
    assert node_selector("gpu=a100, zone = b") == {"gpu": "a100", "zone": "b"}
    assert node_selector("  ") == {}
    assert tolerations('[{"key": "gpu", "operator": "Exists"}]') == [{"key": "gpu", "operator": "Exists"}]
    assert tolerations("") == []
    for bad in (lambda: node_selector("gpu"), lambda: tolerations("{"), lambda: tolerations('{"key": 1}')):
        with pytest.raises(MedAIError) as caught:
            bad()
        assert caught.value.code is ErrorCode.DATA_INVALID
