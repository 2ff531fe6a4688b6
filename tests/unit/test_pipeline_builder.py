"""The pipeline builder's form: rows become the steps the pipeline service checks and back, the
standard flow is a valid pipeline, new steps are named and wired after the last one, and the
graph puts each step one column after what it waits for, coloured by the run."""

import pytest

from backend.errors import MedAIError
from backend.services import pipelines
from state.pipelines import (
    EMPTY_STEP,
    STATUS_COLOURS,
    dag_figure,
    next_step,
    rows_from_steps,
    standard_flow,
    steps_from_rows,
)
from state.training import Choices

CHOICES = Choices(
    models=[{"id": "m1", "label": "tiny v1"}],
    datasets=[
        {"id": "p1", "label": "prefs v1", "shape": "preference"},
        {"id": "d1", "label": "bp v1", "shape": "alpaca"},
    ],
)


def test_the_standard_flow_is_a_valid_pipeline_that_reads_the_first_usable_dataset():
    steps = steps_from_rows(standard_flow(CHOICES))
    checked = pipelines.check_steps(steps)
    assert [s["kind"] for s in checked] == ["data_check", "train", "eval", "register", "deploy"]
    train = checked[1]["config"]
    assert train["base_model_version_id"] == "m1" and train["dataset_version_ids"] == ["d1"]
    assert checked[2]["depends_on"] == ["train"]  # model_from adds the dependency
    assert checked[4]["config"] == {"model_from": "train", "service": "pipeline-model", "engine": "local",
                                    "replicas": 1, "gpus": 0, "cpu": 2.0, "memory_gb": 8.0}  # fmt: skip


def test_rows_keep_only_their_kinds_settings_and_round_trip():
    row = dict(EMPTY_STEP, name="t", kind="train", base_model_version_id="m1", dataset_version_ids="d1, d2",
               hyperparameters='{"max_steps": 4}', cpu="1", memory_gb="1.5", service="ignored")  # fmt: skip
    (step,) = steps_from_rows([row])
    assert step["config"]["dataset_version_ids"] == ["d1", "d2"]
    assert step["config"]["hyperparameters"] == {"max_steps": 4}
    assert step["config"]["cpu"] == 1.0 and step["config"]["memory_gb"] == 1.5 and step["config"]["gpus"] == 0
    assert "service" not in step["config"] and "model_from" not in step["config"]
    assert steps_from_rows(rows_from_steps([step])) == [step]


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("hyperparameters", "{max_steps: 4}", "not JSON"),
        ("hyperparameters", "[1]", "JSON object"),
        ("cpu", "two", "number"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(key, text, message):
    with pytest.raises(MedAIError, match=message):
        steps_from_rows([dict(EMPTY_STEP, name="t", **{key: text})])


def test_a_new_step_follows_the_last_one_and_reads_the_last_trained_model():
    rows = [dict(EMPTY_STEP, name="train", kind="train")]
    evaluate = next_step(rows, "eval")
    assert (evaluate["name"], evaluate["depends_on"], evaluate["model_from"]) == ("eval", "train", "train")
    rows.append(evaluate)
    assert next_step(rows, "eval")["name"] == "eval-2"
    assert next_step(rows, "data_check")["model_from"] == ""
    assert next_step([], "deploy")["service"] == "pipeline-model"


def test_the_graph_lays_steps_out_by_dependency_and_colours_them_by_the_run():
    rows = standard_flow(CHOICES)
    figure = dag_figure(rows, {"check": "succeeded", "train": "failed", "evaluate": "skipped"})
    nodes = figure["data"][0]
    assert nodes["x"] == [0.0, 1.0, 2.0, 3.0, 4.0]  # a chain: one column per step
    assert nodes["marker"]["color"][:4] == [STATUS_COLOURS[s] for s in ("succeeded", "failed", "skipped", "pending")]
    edges = {(round(a["ax"] - 0.12), round(a["x"] + 0.12)) for a in figure["layout"]["annotations"]}
    # check→train, train→evaluate, evaluate→register, register→serve, and the model train hands to three steps
    assert edges == {(0, 1), (1, 2), (2, 3), (3, 4), (1, 3), (1, 4)}
    branching = [
        dict(EMPTY_STEP, name="a"),
        dict(EMPTY_STEP, name="b", depends_on="a"),
        dict(EMPTY_STEP, name="c", depends_on="a"),
    ]
    assert dag_figure(branching, {})["data"][0]["x"] == [0.0, 1.0, 1.0]
    looping = [dict(EMPTY_STEP, name="a", depends_on="b"), dict(EMPTY_STEP, name="b", depends_on="a")]
    assert len(dag_figure(looping, {})["data"][0]["x"]) == 2  # drawn (the service refuses it on save)
