"""Datasets, models, images and lineage through their services, on the embedded stores."""

import io
import json
import tarfile
import zipfile

import pytest
from sqlmodel import select

from backend.errors import ErrorCode, MedAIError
from backend.models import AuditEvent, Dataset, DatasetVersion, ModelVersion, Tenant
from backend.services.assets import datasets, images, lineage, model_registry, token_counting
from backend.services.identity.access import Principal

ALPACA = [
    {"instruction": "患者张三主诉头痛三天，如何初步处理？", "input": "", "output": "测量血压，询问既往史。"},
    {"instruction": "What is a normal adult resting heart rate?", "input": "", "output": "60 to 100 beats per minute."},
]


@pytest.fixture
def dev(runtime) -> Principal:
    with runtime.session() as session:
        tenant = Tenant(slug="ruijin", name="Ruijin")
        session.add(tenant)
    return Principal(user_id="u1", label="dev@ruijin.cn", tenant_id=tenant.id, role="developer")


def _jsonl(rows) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode() + b"\n"


def _import(runtime, principal, payload: bytes, filename="train.jsonl", name="triage", **kw):
    with runtime.session() as session:
        row = datasets.import_version(
            session,
            runtime.objects,
            principal,
            name=name,
            filename=filename,
            stream=io.BytesIO(payload),
            scratch_dir=runtime.settings.scratch_dir,
            **kw,
        )
        return row.id, row.version, row.object_key


def _nothing_stored(runtime) -> None:
    with runtime.session() as session:
        assert session.exec(select(DatasetVersion)).all() == []
        assert session.exec(select(Dataset)).all() == []
    assert runtime.objects.list("") == []
    assert list(runtime.settings.scratch_dir.glob("*")) == []


def test_a_good_file_becomes_version_one_then_two(runtime, dev):
    first = _import(runtime, dev, _jsonl(ALPACA))
    second = _import(runtime, dev, _jsonl([*ALPACA, ALPACA[0]]))
    assert (first[1], second[1]) == (1, 2)
    with runtime.session() as session:
        dataset, versions = datasets.get_dataset(session, dev, session.get(DatasetVersion, first[0]).dataset_id)
        report = versions[0].report
    assert dataset.name == "triage" and [v.version for v in versions] == [2, 1]
    assert report["shape"] == "alpaca" and report["rows"] == 3 and report["duplicates"] == 1
    assert report["phi"]["counts"] == {"name": 2} and report["token_stats"]["max"] > 0
    assert b"".join(runtime.objects.open(first[2])) == _jsonl(ALPACA)
    assert list(runtime.settings.scratch_dir.glob("*")) == []


@pytest.mark.parametrize(
    ("filename", "payload", "expected"),
    [
        ("wrong.jsonl", _jsonl([{"question": "q", "answer": "a"}]), "match no known shape"),
        ("gbk.csv", "instruction,output\n头痛,休息\n".encode("gbk"), "not UTF-8"),
        ("empty.jsonl", b"", "no records"),
        ("cut.jsonl", _jsonl(ALPACA)[:-20] + b"\n", "cut off"),
        (
            "long.jsonl",
            _jsonl(ALPACA) + b'{"instruction": "' + b"x" * (50 * 1024 * 1024) + b'", "output": "y"}\n',
            "longer than 4 MiB",
        ),
        ("missing.json", json.dumps([{"instruction": "q", "output": ""}]).encode(), "'output' is empty"),
        ("prefs.csv", b"prompt,chosen,rejected\nq,same,same\n", "are the same"),
        ("notes.txt", b"free text", "not a supported dataset file"),
    ],
)
def test_a_bad_file_is_refused_with_its_report_and_nothing_is_stored(runtime, dev, filename, payload, expected):
    with pytest.raises(MedAIError) as caught:
        _import(runtime, dev, payload, filename=filename)
    error = caught.value
    assert error.code is ErrorCode.DATA_INVALID
    shown = json.dumps(error.to_payload(), ensure_ascii=False)
    assert expected in shown
    if isinstance(error, datasets.DatasetRejectedError):
        assert error.to_payload()["error"]["report"]["ok"] is False
    _nothing_stored(runtime)


def test_report_lists_line_numbers(runtime, dev):
    payload = _jsonl(ALPACA) + b'{"instruction": "q"}\n' + b"\xff\n"
    with pytest.raises(datasets.DatasetRejectedError) as caught:
        _import(runtime, dev, payload)
    issues = caught.value.report.as_dict()["issues"]
    assert [(i["line"], i["message"]) for i in issues] == [
        (3, "'output' is missing"),
        (4, "not UTF-8 (byte 0 of the line)"),
    ]


def test_parquet_chat_and_phi_masking(runtime, dev, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    chat = [{"role": "user", "content": "我是患者李四，电话13812345678"}, {"role": "assistant", "content": "您好"}]
    pq.write_table(pa.table({"messages": [chat]}), tmp_path / "chat.parquet")
    version_id, _, key = _import(runtime, dev, (tmp_path / "chat.parquet").read_bytes(), "chat.parquet", mask_phi=True)
    stored = b"".join(runtime.objects.open(key)).decode()
    assert key.endswith("chat.masked.jsonl") and "13812345678" not in stored and "[电话]" in stored
    with runtime.session() as session:
        row = session.get(DatasetVersion, version_id)
        assert row.phi_masked and row.shape == "sharegpt" and row.report["phi"]["counts"]["phone"] == 1


def _model_files():
    return [("config.json", io.BytesIO(b'{"model_type": "llama"}')), ("model.safetensors", io.BytesIO(b"\0" * 64))]


def _register(runtime, principal, files, spec=None, source="upload"):
    spec = spec or model_registry.VersionSpec(model_name="med-qwen", parameters={"lr": 5e-5, "lora": {"r": 8}})
    with runtime.session() as session:
        row = model_registry.register_version(session, runtime.objects, principal, spec, files, source)
        return row.id, row.model_id, row.storage_prefix


def test_model_versions_from_files_archives_and_folders(runtime, dev, tmp_path):
    first = _register(runtime, dev, _model_files())
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as bundle:
        bundle.writestr("weights/model.gguf", b"GGUF" + b"\0" * 32)
    (tmp_path / "bundle.zip").write_bytes(zipped.getvalue())
    spec = model_registry.VersionSpec(
        model_name="med-qwen", framework="llama.cpp", parameters={"lr": 1e-4, "lora": {"r": 8}}
    )
    second = _register(runtime, dev, model_registry.archive_members(tmp_path / "bundle.zip"), spec, "archive")
    folder = runtime.settings.model_import_roots[0] / "qwen-tiny"
    folder.mkdir(parents=True)
    (folder / "pytorch_model.bin").write_bytes(b"\0" * 16)
    third = _register(runtime, dev, model_registry.folder_files(folder, runtime.settings.model_import_roots))
    with runtime.session() as session:
        _, versions = model_registry.get_model(session, dev, first[1])
        changes = model_registry.diff_parameters(session, dev, first[0], second[0])
    assert [(v.version, v.format, v.source) for v in versions] == [
        (3, "pytorch-bin", "upload"),
        (2, "gguf", "archive"),
        (1, "safetensors", "upload"),
    ]
    assert [(c.key, c.before, c.after) for c in changes] == [("lr", 5e-5, 1e-4)]
    assert [o.key.removeprefix(second[2]) for o in runtime.objects.list(second[2])] == ["weights/model.gguf"]
    assert third[1] == first[1]


def test_folder_outside_the_import_roots_is_refused(runtime, dev, tmp_path):
    with pytest.raises(MedAIError) as caught:
        _register(runtime, dev, model_registry.folder_files(tmp_path, runtime.settings.model_import_roots))
    assert caught.value.code is ErrorCode.FORBIDDEN


def test_a_model_without_weights_leaves_nothing(runtime, dev):
    with pytest.raises(MedAIError) as caught:
        _register(runtime, dev, [("config.json", io.BytesIO(b"{}"))])
    assert "No weight file" in caught.value.message
    assert runtime.objects.list("") == []
    with runtime.session() as session:
        assert session.exec(select(ModelVersion)).all() == []


def test_tar_archive_members_stream(tmp_path):
    path = tmp_path / "m.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = b"\0" * 10
        info = tarfile.TarInfo("m/model.safetensors")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert [(name, stream.read()) for name, stream in model_registry.archive_members(path)] == [
        ("m/model.safetensors", b"\0" * 10)
    ]


def test_in_use_assets_cannot_be_retired_or_deleted(runtime, dev):
    dataset_version, _, _ = _import(runtime, dev, _jsonl(ALPACA))
    spec = model_registry.VersionSpec(model_name="triage-model", dataset_version_ids=(dataset_version,))
    model_version, _, _ = _register(runtime, dev, _model_files(), spec)
    with runtime.session() as session:
        edges = lineage.graph(session, dev, lineage.Node("model_version", model_version))
        assert [(e.source.id, e.relation, e.target.id) for e in edges] == [
            (dataset_version, "trained_on", model_version)
        ]
        for refuse in (
            lambda: datasets.retire_version(session, dev, dataset_version),
            lambda: datasets.delete_version(session, runtime.objects, dev, dataset_version),
        ):
            with pytest.raises(MedAIError) as caught:
                refuse()
            assert caught.value.code is ErrorCode.CONFLICT and model_version in caught.value.message
        model_registry.promote(session, dev, model_version)
        model_registry.set_status(session, dev, model_version, "retired")  # nothing deploys it yet
        model_registry.delete_version(session, runtime.objects, dev, model_version)
        datasets.delete_version(session, runtime.objects, dev, dataset_version)  # free now
    assert runtime.objects.list("") == []


def test_images_parse_register_and_refuse_duplicates(runtime, dev):
    with runtime.session() as session:
        image = images.register_image(session, dev, "vllm/vllm-openai:v0.12.0", "serving", "12.4", "vllm 0.12")
        assert (image.registry_host, image.repository, image.tag) == ("docker.io", "vllm/vllm-openai", "v0.12.0")
    with runtime.session() as session, pytest.raises(MedAIError) as caught:
        images.register_image(session, dev, "docker.io/vllm/vllm-openai:v0.12.0", "serving")
    assert caught.value.code is ErrorCode.CONFLICT
    for bad in ("Upper/Case", "name:", "x@sha256:123", "a" * 600):
        with pytest.raises(MedAIError):
            images.parse_reference(bad)


def test_other_tenants_and_viewers_are_kept_out(runtime, dev):
    version_id, _, _ = _import(runtime, dev, _jsonl(ALPACA))
    with runtime.session() as session:
        other = Tenant(slug="huashan", name="Huashan")
        session.add(other)
    outsider = Principal(user_id="u2", label="x@huashan.cn", tenant_id=other.id, role="tenant_owner")
    viewer = Principal(user_id="u3", label="v@ruijin.cn", tenant_id=dev.tenant_id, role="viewer")
    with runtime.session() as session:
        assert datasets.list_datasets(session, outsider) == []
        with pytest.raises(MedAIError) as caught:
            datasets.download_url(session, runtime.objects, outsider, version_id)
        assert caught.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(MedAIError) as caught:
        _import(runtime, viewer, _jsonl(ALPACA))
    assert caught.value.code is ErrorCode.FORBIDDEN
    with runtime.session() as session:
        denied = session.exec(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert [(e.action, e.actor_label) for e in denied] == [("assets.create", "v@ruijin.cn")]


def test_token_lengths_with_a_registered_models_tokenizer(runtime, dev, tmp_path):
    from tests.tiny_model import build_model

    folder = build_model(runtime.settings.model_import_roots[0] / "tiny-llama")
    spec = model_registry.VersionSpec(model_name="tiny-llama")
    version_id, _, _ = _register(
        runtime, dev, model_registry.folder_files(folder, runtime.settings.model_import_roots), spec
    )
    with runtime.session() as session:
        name, count = token_counting.counter_for(session, runtime.objects, dev, version_id, tmp_path / "cache")
    assert name == "tiny-llama v1"
    text = "高血压患者应低盐低脂饮食"
    assert 0 < count(text) < len(text.encode())  # BPE merges learned from the corpus shorten it
    _, _, _ = _import(runtime, dev, _jsonl(ALPACA), tokenizer=(name, count))
    with runtime.session() as session:
        report = session.exec(select(DatasetVersion)).one().report
    assert report["tokenizer"] == "tiny-llama v1"
    expected = count(ALPACA[1]["instruction"] + "\n" + ALPACA[1]["output"])
    assert report["token_stats"]["min"] <= expected <= report["token_stats"]["max"]


def test_a_version_without_tokenizer_files_is_refused_as_tokenizer(runtime, dev, tmp_path):
    version_id, _, _ = _register(runtime, dev, [("model.safetensors", io.BytesIO(b"\0"))])
    with runtime.session() as session, pytest.raises(MedAIError) as caught:
        token_counting.counter_for(session, runtime.objects, dev, version_id, tmp_path)
    assert "no tokenizer files" in caught.value.message
