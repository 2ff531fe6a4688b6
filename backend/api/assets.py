"""/api/datasets, /api/models, /api/images, /api/lineage and /api/objects/download: asset
management over REST, through the same services as the Assets pages."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from backend.adapters.objectstore.local import DOWNLOAD_PATH, LocalObjectStore
from backend.api.auth import CurrentPrincipal, RuntimeDep
from backend.api.dependencies import SessionDep
from backend.errors import ErrorCode, MedAIError
from backend.services.assets import datasets, images, lineage, model_registry, uploads

router = APIRouter(prefix="/api", tags=["assets"])


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DatasetVersionOut(_Out):
    id: str
    dataset_id: str
    version: int
    filename: str
    file_type: str
    shape: str
    size_bytes: int
    sha256: str
    rows: int
    phi_masked: bool
    status: str
    report: dict[str, Any]
    created_by: str
    created_at: datetime


class DatasetOut(_Out):
    id: str
    name: str
    description: str
    created_by: str
    created_at: datetime


class DatasetDetail(BaseModel):
    dataset: DatasetOut
    versions: list[DatasetVersionOut]


class ModelVersionOut(_Out):
    id: str
    model_id: str
    version: int
    framework: str
    format: str
    base_model: str
    train_data_source: str
    parameters: dict[str, Any]
    status: str
    source: str
    files: list[dict[str, Any]]
    size_bytes: int
    model_card: str
    eval_results: dict[str, Any]
    created_by: str
    created_at: datetime


class ModelOut(_Out):
    id: str
    name: str
    description: str
    promoted_version: int | None
    created_by: str
    created_at: datetime


class ModelDetail(BaseModel):
    model: ModelOut
    versions: list[ModelVersionOut]


class ImageOut(_Out):
    id: str
    reference: str
    registry_host: str
    repository: str
    tag: str
    digest: str
    cuda_version: str
    framework: str
    purpose: str
    status: str
    created_at: datetime


class NewImage(BaseModel):
    reference: str = Field(max_length=512)
    purpose: str
    cuda_version: str = ""
    framework: str = ""


class StatusChange(BaseModel):
    status: str


class FolderImport(BaseModel):
    path: str
    spec: dict[str, Any] = Field(default_factory=dict, description="model_name, framework, base_model, …")


class Link(BaseModel):
    url: str


class EdgeOut(BaseModel):
    source_type: str
    source_id: str
    target_type: str
    target_id: str
    relation: str


def _spec(fields: dict[str, Any]) -> model_registry.VersionSpec:
    try:
        fields = {**fields, "dataset_version_ids": tuple(fields.get("dataset_version_ids", ()))}
        return model_registry.VersionSpec(**fields)
    except TypeError as error:
        raise MedAIError(
            ErrorCode.DATA_INVALID, f"The model description is invalid: {error}.", "Fix the fields."
        ) from None


# datasets --------------------------------------------------------------------------------


@router.get("/datasets", response_model=list[datasets.DatasetSummary])
def get_datasets(principal: CurrentPrincipal, session: SessionDep, search: str = "", shape: str = "") -> Any:
    return datasets.list_datasets(session, principal, search, shape)


@router.post("/datasets", response_model=DatasetVersionOut, status_code=201)
def post_dataset(
    principal: CurrentPrincipal,
    session: SessionDep,
    rt: RuntimeDep,
    file: Annotated[UploadFile, File(description="JSONL, JSON, CSV or Parquet")],
    name: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
    mask_phi: Annotated[bool, Form()] = False,
    cutoff: Annotated[int, Form(ge=16, le=131072)] = 2048,
    tokenizer_version_id: Annotated[str, Form(description="model version whose tokenizer counts tokens")] = "",
) -> Any:
    """Import a file as the next version of dataset ``name``. An invalid file answers 422 with
    the validation report under ``error.report``; nothing is stored then."""
    imported = uploads.import_dataset(
        session,
        principal,
        rt.objects,
        name=name,
        filename=file.filename or "upload",
        stream=file.file,
        scratch_dir=rt.settings.scratch_dir,
        cache_dir=rt.settings.data_dir / "cache",
        description=description,
        mask_phi=mask_phi,
        cutoff=cutoff,
        tokenizer_version_id=tokenizer_version_id,
    )
    return DatasetVersionOut.model_validate(imported)


@router.get("/datasets/{dataset_id}", response_model=DatasetDetail)
def get_dataset(dataset_id: str, principal: CurrentPrincipal, session: SessionDep) -> DatasetDetail:
    dataset, versions = datasets.get_dataset(session, principal, dataset_id)
    return DatasetDetail(
        dataset=DatasetOut.model_validate(dataset),
        versions=[DatasetVersionOut.model_validate(v) for v in versions],
    )


@router.get("/datasets/versions/{version_id}/download", response_model=Link)
def get_dataset_download(version_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Link:
    """A link that downloads the file for 15 minutes without other credentials."""
    return Link(url=datasets.download_url(session, rt.objects, principal, version_id))


@router.post("/datasets/versions/{version_id}/retire", status_code=204)
def post_dataset_retire(version_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    datasets.retire_version(session, principal, version_id)


@router.delete("/datasets/versions/{version_id}", status_code=204)
def delete_dataset_version(version_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> None:
    datasets.delete_version(session, rt.objects, principal, version_id)


# models ----------------------------------------------------------------------------------


@router.get("/models", response_model=list[model_registry.ModelSummary])
def get_models(principal: CurrentPrincipal, session: SessionDep, search: str = "", status: str = "") -> Any:
    return model_registry.list_models(session, principal, search, status)


@router.post("/models", response_model=ModelVersionOut, status_code=201)
def post_model(
    principal: CurrentPrincipal,
    session: SessionDep,
    rt: RuntimeDep,
    spec: Annotated[str, Form(description="JSON: model_name, framework, base_model, parameters, …")],
    files: Annotated[list[UploadFile], File(description="the model's files, or one .zip/.tar.gz archive")],
) -> Any:
    """Register the next version of a model from uploaded files or one archive."""
    try:
        fields = json.loads(spec)
    except json.JSONDecodeError as error:
        raise MedAIError(ErrorCode.DATA_INVALID, f"'spec' is not JSON: {error.msg}.", "Send a JSON object.") from None
    version_spec = _spec(fields if isinstance(fields, dict) else {})
    named = [(f.filename or "file", f.file) for f in files]
    registered = uploads.register_uploaded_model(session, principal, rt.objects, version_spec, named)
    return ModelVersionOut.model_validate(registered)


@router.post("/models/import-path", response_model=ModelVersionOut, status_code=201)
def post_model_from_folder(body: FolderImport, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    """Register a model from a folder on the server (inside MEDAI_MODEL_IMPORT_DIRS)."""
    registered = uploads.register_model_from_folder(
        session, principal, rt.objects, _spec(body.spec), Path(body.path), rt.settings.model_import_roots
    )
    return ModelVersionOut.model_validate(registered)


@router.get("/models/{model_id}", response_model=ModelDetail)
def get_model(model_id: str, principal: CurrentPrincipal, session: SessionDep) -> ModelDetail:
    model, versions = model_registry.get_model(session, principal, model_id)
    return ModelDetail(
        model=ModelOut.model_validate(model), versions=[ModelVersionOut.model_validate(v) for v in versions]
    )


@router.get("/models/versions/{before_id}/diff/{after_id}", response_model=list[model_registry.ParameterChange])
def get_model_diff(before_id: str, after_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return model_registry.diff_parameters(session, principal, before_id, after_id)


@router.post("/models/versions/{version_id}/promote", status_code=204)
def post_model_promote(version_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    model_registry.promote(session, principal, version_id)


@router.patch("/models/versions/{version_id}", status_code=204)
def patch_model_version(version_id: str, body: StatusChange, principal: CurrentPrincipal, session: SessionDep) -> None:
    model_registry.set_status(session, principal, version_id, body.status)


@router.delete("/models/versions/{version_id}", status_code=204)
def delete_model_version(version_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> None:
    model_registry.delete_version(session, rt.objects, principal, version_id)


# images and lineage ----------------------------------------------------------------------


@router.get("/images", response_model=list[ImageOut])
def get_images(principal: CurrentPrincipal, session: SessionDep, purpose: str = "", search: str = "") -> Any:
    return [ImageOut.model_validate(i) for i in images.list_images(session, principal, purpose, search)]


@router.post("/images", response_model=ImageOut, status_code=201)
def post_image(body: NewImage, principal: CurrentPrincipal, session: SessionDep) -> Any:
    image = images.register_image(session, principal, body.reference, body.purpose, body.cuda_version, body.framework)
    return ImageOut.model_validate(image)


@router.post("/images/{image_id}/retire", status_code=204)
def post_image_retire(image_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    images.retire_image(session, principal, image_id)


@router.get("/lineage/{node_type}/{node_id}", response_model=list[EdgeOut])
def get_lineage(node_type: str, node_id: str, principal: CurrentPrincipal, session: SessionDep) -> list[EdgeOut]:
    """Every edge within four steps of the node, upstream and downstream."""
    edges = lineage.graph(session, principal, lineage.Node(node_type, node_id))
    return [
        EdgeOut(
            source_type=e.source.type,
            source_id=e.source.id,
            target_type=e.target.type,
            target_id=e.target.id,
            relation=e.relation,
        )
        for e in edges
    ]


@router.get(DOWNLOAD_PATH.removeprefix("/api"), response_class=StreamingResponse)
def get_object(key: str, expires: int, signature: str, rt: RuntimeDep) -> StreamingResponse:
    """Presigned downloads from the embedded object store (S3 serves its own links)."""
    store = rt.objects
    if not isinstance(store, LocalObjectStore):
        raise MedAIError(ErrorCode.NOT_FOUND, "Downloads come from object storage here.", "Use the link as given.")
    store.verify_presigned(key, expires, signature)
    info = store.stat(key)
    name = key.rsplit("/", 1)[-1]
    return StreamingResponse(
        store.open(key),
        media_type=info.content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Length": str(info.size)},
    )
