"""The Assets pages' use cases (backend.services.assets.views and .uploads): what each page reads,
with a few queries whatever the number of rows, and the one upload path the pages and the API share."""

import dataclasses
import io
import json
import zipfile

import pytest
from sqlalchemy import event

from backend.errors import ErrorCode, MedAIError
from backend.models import Tenant
from backend.services.assets import datasets, images, lineage, model_registry, uploads, views
from backend.services.identity.access import Principal
from state.asset_detail import dataset_page, lineage_rows, model_page
from state.assets import Filters, assets_view

ROWS = json.dumps({"instruction": "q", "output": "a"}).encode() + b"\n"


@pytest.fixture
def dev(runtime) -> Principal:
    with runtime.session() as session:
        tenant = Tenant(slug="ruijin", name="Ruijin")
        session.add(tenant)
    return Principal(user_id="u1", label="dev@ruijin.cn", tenant_id=tenant.id, role="developer")


def _import(runtime, principal, name="triage", filename="train.jsonl", **kw) -> datasets.DatasetVersionInfo:
    with runtime.session() as session:
        return uploads.import_dataset(
            session,
            principal,
            runtime.objects,
            name=name,
            filename=filename,
            stream=io.BytesIO(ROWS),
            scratch_dir=runtime.settings.scratch_dir,
            cache_dir=runtime.settings.data_dir / "cache",
            **kw,
        )


def _upload(runtime, principal, files, name="med-qwen", trained_on=()) -> model_registry.ModelVersionInfo:
    spec = model_registry.VersionSpec(model_name=name, dataset_version_ids=tuple(trained_on))
    with runtime.session() as session:
        return uploads.register_uploaded_model(session, principal, runtime.objects, spec, files)


def _zip(members: dict[str, bytes]) -> io.BytesIO:
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    payload.seek(0)
    return payload


def test_an_archive_is_unpacked_whatever_the_case_of_its_suffix(runtime, dev):
    assert uploads.is_archive("BUNDLE.ZIP") and uploads.is_archive("m.Tar.Gz") and not uploads.is_archive("a.bin")
    unpacked = _upload(runtime, dev, [("BUNDLE.ZIP", _zip({"m/model.safetensors": b"\0" * 8}))])
    assert (unpacked.source, [f["path"] for f in unpacked.files]) == ("archive", ["m/model.safetensors"])
    files = [("config.json", io.BytesIO(b"{}")), ("model.safetensors", io.BytesIO(b"\0" * 8))]
    stored = _upload(runtime, dev, files)
    assert (stored.version, stored.source, stored.format) == (2, "upload", "safetensors")


def test_a_folder_is_registered_only_inside_the_import_roots(runtime, dev, tmp_path):
    folder = runtime.settings.model_import_roots[0] / "tiny"
    folder.mkdir(parents=True)
    (folder / "model.gguf").write_bytes(b"GGUF")
    spec = model_registry.VersionSpec(model_name="tiny", framework="llama.cpp")
    roots = runtime.settings.model_import_roots
    with runtime.session() as session:
        found = uploads.register_model_from_folder(session, dev, runtime.objects, spec, folder, roots)
    assert (found.source, found.format) == ("path", "gguf")
    with pytest.raises(MedAIError) as caught, runtime.session() as session:
        uploads.register_model_from_folder(session, dev, runtime.objects, spec, tmp_path, roots)
    assert caught.value.code is ErrorCode.FORBIDDEN


def test_an_imported_dataset_comes_back_as_plain_values(runtime, dev):
    imported = _import(runtime, dev, filename="TRAIN.JSONL", mask_phi=False, cutoff=512)
    assert (imported.version, imported.file_type, imported.rows, imported.report["token_stats"]["cutoff"]) == (
        1,
        "jsonl",
        1,
        512,
    )
    assert dataclasses.asdict(imported)["dataset_id"] == imported.dataset_id


def test_the_assets_page_offers_tokenizers_and_active_versions_in_a_fixed_number_of_queries(runtime, dev):
    first = _import(runtime, dev, name="triage")
    _import(runtime, dev, name="triage")
    other = _import(runtime, dev, name="notes")
    with runtime.session() as session:
        datasets.retire_version(session, dev, other.id)
    tokenizer = [("tokenizer.json", io.BytesIO(b"{}")), ("model.safetensors", io.BytesIO(b"\0"))]
    with_tokenizer = _upload(runtime, dev, tokenizer, name="b-llm", trained_on=[first.id])
    _upload(runtime, dev, [("model.safetensors", io.BytesIO(b"\0"))], name="a-llm")
    with runtime.session() as session:
        images.register_image(session, dev, "registry.ruijin.cn/ml/trainer:1", "training")

    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        with runtime.session() as session:
            found = views.assets_overview(session, dev)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    assert found.may_view and found.may_create and found.may_update
    assert [d.name for d in found.datasets] == ["notes", "triage"]
    assert [m.name for m in found.models] == ["a-llm", "b-llm"]
    assert [i.reference for i in found.images] == ["registry.ruijin.cn/ml/trainer:1"]
    assert [(o.id, o.label) for o in found.tokenizers] == [(with_tokenizer.id, "b-llm v1")]
    assert [o.label for o in found.dataset_versions] == ["triage v2", "triage v1"]  # notes v1 is retired
    # the form choices take one query each however many models and datasets there are
    assert sum("model_version" in s and "JOIN" in s for s in statements) == 1

    view = assets_view(found)
    assert view.tokenizers == [{"id": with_tokenizer.id, "label": "b-llm v1"}]
    assert [r["name"] for r in view.datasets] == ["notes", "triage"]
    assert view.images[0]["purpose"] == "training"
    with runtime.session() as session:
        filtered = views.assets_overview(
            session, dev, **Filters(dataset_search=" tri ", model_status="all").arguments()
        )
    assert [d.name for d in filtered.datasets] == ["triage"] and len(filtered.models) == 2


def test_a_role_that_may_not_see_assets_gets_an_empty_page(runtime, dev):
    nobody = dataclasses.replace(dev, role=None)
    with runtime.session() as session:
        assert views.assets_overview(session, nobody) == views.AssetsOverview()


def test_dataset_and_model_pages_and_the_lineage_between_them(runtime, dev):
    data = _import(runtime, dev, name="triage")
    model = _upload(runtime, dev, [("model.safetensors", io.BytesIO(b"\0"))], trained_on=[data.id])
    with runtime.session() as session:
        found = views.dataset_page(session, dev, data.dataset_id)
        shown = views.model_page(session, dev, model.model_id)
        graph = views.lineage_view(session, dev, lineage.Node("dataset_version", data.id))
    page = dataset_page(found)
    assert (page.name, [v["version"] for v in page.versions], page.may_delete) == ("triage", ["1"], True)
    assert page.reports[data.id]["rows"] == 1
    detail = model_page(shown)
    assert (detail.name, detail.provided_by_platform, detail.may_update) == ("med-qwen", False, True)
    assert detail.details[model.id]["files"][0]["path"] == "model.safetensors"
    assert graph.labels == {("dataset_version", data.id): "triage v1", ("model_version", model.id): "med-qwen v1"}
    (row,) = lineage_rows(graph)
    assert (row["source"], row["target"], row["relation"]) == ("triage v1", "med-qwen v1", "trained_on")
    with runtime.session() as session:
        assert views.lineage_view(session, dev, lineage.Node("image", "none")) == views.LineageView([], {})
