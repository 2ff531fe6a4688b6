"""What the Assets pages compute without a browser: a validation report shaped for the page,
lineage laid out by kind, and archives registered straight from an upload stream."""

import io
import json
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from backend.services.assets import dataset_formats, lineage, model_registry
from state.asset_views import edge_rows, report_view, size_label, users_of
from state.figures import NODE_COLUMNS, lineage_figure


def _validate(tmp_path: Path, lines: list[str]) -> dict:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dataset_formats.validate(path, "jsonl").as_dict()


def test_a_rejected_report_keeps_line_numbers_and_a_good_one_its_preview(tmp_path):
    good = json.dumps({"instruction": "血压 150/95 怎么办？", "input": "", "output": "复测。"}, ensure_ascii=False)
    rejected = report_view(_validate(tmp_path, [good, good, '{"instruction": "cut']), "3 problems")
    assert not rejected.ok and rejected.present and rejected.summary == "3 problems"
    assert [i["line"] for i in rejected.issues] == ["3"]
    assert "cut off" in rejected.issues[0]["message"]
    assert rejected.duplicates == 1

    accepted = report_view(_validate(tmp_path, [good, json.dumps({"instruction": "x", "output": "电话 021-64370045"})]))
    assert accepted.ok and accepted.rows == 2 and accepted.shape == "alpaca"
    assert accepted.preview_columns == ["instruction", "input", "output"]
    assert accepted.preview_rows[1] == ["x", "", "电话 021-64370045"]
    assert {"kind": "phone", "count": "1", "example": accepted.phi[0]["example"]} in accepted.phi
    assert [s["stat"] for s in accepted.token_stats][:2] == ["min", "mean"]


def test_lineage_is_drawn_left_to_right_by_kind_and_users_are_the_direct_targets():
    data, job, model = (
        lineage.Node("dataset_version", "d1"),
        lineage.Node("job", "j1"),
        lineage.Node("model_version", "m1"),
    )
    edges = [lineage.Edge(job, model, "produced"), lineage.Edge(data, job, "trained_on")]
    rows = edge_rows(edges, {("dataset_version", "d1"): "triage v1", ("model_version", "m1"): "llm v1"})
    assert {r["source"] for r in rows} == {"job j1", "triage v1"}
    assert users_of(rows, data) == [{"type": "job", "id": "j1", "label": "job j1", "relation": "trained_on"}]
    assert users_of(rows, model) == []

    figure = lineage_figure(rows, ("dataset_version", "d1"), "zh")
    nodes = figure.data[-1]
    placed = dict(zip(nodes.text, nodes.x, strict=True))
    assert placed == {
        "triage v1": NODE_COLUMNS["dataset_version"],
        "job j1": NODE_COLUMNS["job"],
        "llm v1": NODE_COLUMNS["model_version"],
    }
    assert list(nodes.marker.size) == [26 if t == "triage v1" else 16 for t in nodes.text]
    assert "数据集版本" in {a.text for a in figure.layout.annotations}


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_uploaded_archive_is_read_from_its_stream(kind):
    payload = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(payload, "w") as bundle:
            bundle.writestr("m/config.json", "{}")
            bundle.writestr("m/model.safetensors", b"\0" * 8)
    else:
        with tarfile.open(fileobj=payload, mode="w:gz") as tar:
            for name, data in (("m/config.json", b"{}"), ("m/model.safetensors", b"\0" * 8)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    with tempfile.SpooledTemporaryFile(max_size=4) as upload:  # what an upload handler receives
        upload.write(payload.getvalue())
        members = {name: stream.read() for name, stream in model_registry.archive_members(upload)}
    assert members == {"m/config.json": b"{}", "m/model.safetensors": b"\0" * 8}


def test_a_stream_that_is_no_archive_is_refused():
    with pytest.raises(Exception, match="neither zip nor tar"):
        list(model_registry.archive_members(io.BytesIO(b"not an archive at all")))


def test_sizes_read_as_people_write_them():
    assert [size_label(n) for n in (0, 1023, 1536, 5 * 1024**3)] == ["0 B", "1023 B", "1.5 KiB", "5.0 GiB"]


def test_model_form_json_and_cutoff_are_checked_before_any_service_runs():
    from backend.errors import ErrorCode, MedAIError
    from state.asset_uploads import _cutoff, _json_object

    assert _json_object("  ", "The parameters") is None
    assert _json_object('{"epochs": 3}', "The parameters") == {"epochs": 3}
    with pytest.raises(MedAIError) as caught:
        _json_object('{"epochs": 3,\n "lr": }', "The parameters")
    assert caught.value.code is ErrorCode.DATA_INVALID and "line 2" in caught.value.message
    with pytest.raises(MedAIError, match="JSON object"):
        _json_object("[1, 2]", "The evaluation results")
    assert _cutoff("") == 2048 and _cutoff("4096") == 4096
    for wrong in ("8", "many", "200000"):
        with pytest.raises(MedAIError, match="cutoff"):
            _cutoff(wrong)
