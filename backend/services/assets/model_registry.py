"""Models and their versions (source §5.2): register from uploaded files, an archive or a
folder on the server; list, compare parameters, promote, retire. Any version that is not
retired can be chosen for a deployment, which is how a rollback is done.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, select

from backend.adapters.objectstore import ObjectStore, check_key, tenant_prefix
from backend.errors import ErrorCode, MedAIError
from backend.models import DatasetVersion, ModelAsset, ModelVersion
from backend.services.assets import lineage
from backend.services.identity import audit, platform_assets
from backend.services.identity.access import Principal, authorize, in_tenant
from backend.services.identity.permissions import Action, Area

STATUSES = ("pending_deploy", "deployed", "retired")
FRAMEWORKS = ("transformers", "pytorch", "llama.cpp", "onnx", "other")
_WEIGHTS = {
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".bin": "pytorch-bin",
    ".pt": "pytorch-bin",
    ".onnx": "onnx",
}
MAX_FILES = 10_000
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")  # one uploaded file with these is unpacked


@dataclass(frozen=True)
class VersionSpec:
    """What a person says about a new version; files come separately."""

    model_name: str
    framework: str = "transformers"
    base_model: str = ""
    train_data_source: str = ""
    parameters: dict[str, Any] | None = None
    model_card: str = ""
    eval_results: dict[str, Any] | None = None
    description: str = ""
    dataset_version_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSummary:
    id: str
    name: str
    description: str
    versions: int
    latest_version: int
    promoted_version: int | None
    latest_status: str
    framework: str
    format: str
    size_bytes: int
    updated_at: datetime
    provided_by_platform: bool = False  # read-only in every tenant (the starter model)


@dataclass(frozen=True)
class ParameterChange:
    key: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version as callers see it (plain values: no database row leaves the session)."""

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


def version_info(row: ModelVersion) -> ModelVersionInfo:
    return ModelVersionInfo(
        id=row.id,
        model_id=row.model_id,
        version=row.version,
        framework=row.framework,
        format=row.format,
        base_model=row.base_model,
        train_data_source=row.train_data_source,
        parameters=dict(row.parameters),
        status=row.status,
        source=row.source,
        files=[dict(f) for f in row.files],
        size_bytes=row.size_bytes,
        model_card=row.model_card,
        eval_results=dict(row.eval_results),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def detect_format(names: Iterable[str]) -> str:
    formats = {_WEIGHTS[PurePosixPath(n).suffix.lower()] for n in names if PurePosixPath(n).suffix.lower() in _WEIGHTS}
    for preferred in ("safetensors", "gguf", "onnx", "pytorch-bin"):
        if preferred in formats:
            return preferred
    return ""


def _audit(session: Session, principal: Principal, action: str, target_id: str, **detail: Any) -> None:
    audit.record_by(session, principal, action, "model", target_id, **detail)


def _check_spec(spec: VersionSpec) -> str:
    name = spec.model_name.strip()
    if not name or len(name) > 128 or "/" in name:
        raise MedAIError(ErrorCode.DATA_INVALID, "A model needs a name of 1-128 characters without '/'.", "Type one.")
    if spec.framework not in FRAMEWORKS:
        raise MedAIError(
            ErrorCode.DATA_INVALID, f"Unknown framework '{spec.framework}'.", "Use one of: " + ", ".join(FRAMEWORKS)
        )
    return name


def register_version(
    session: Session,
    objects: ObjectStore,
    principal: Principal,
    spec: VersionSpec,
    files: Iterable[tuple[str, IO[bytes]]],
    source: str,
) -> ModelVersion:
    """Store ``files`` (relative name, stream) as the next version of ``spec.model_name``.
    A version without a weight file is refused, and nothing stays stored when anything fails."""
    tenant_id = authorize(session, principal, Area.ASSETS, Action.CREATE)
    assert tenant_id is not None
    name = _check_spec(spec)
    sources = [session.get(DatasetVersion, i) for i in spec.dataset_version_ids]
    if any(s is None or s.tenant_id != tenant_id for s in sources):
        raise MedAIError(ErrorCode.NOT_FOUND, "A training dataset version is not in this tenant.", "Pick another.")
    model = session.exec(select(ModelAsset).where(ModelAsset.tenant_id == tenant_id, ModelAsset.name == name)).first()
    if model is None:
        model = ModelAsset(tenant_id=tenant_id, name=name, description=spec.description, created_by=principal.label)
        session.add(model)
        session.flush()
    latest = session.exec(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)).one()
    version = (latest or 0) + 1
    prefix = f"{tenant_prefix(tenant_id)}models/{model.id}/v{version}/"
    stored: list[dict[str, Any]] = []
    try:
        for relative, stream in files:
            relative = check_key(str(PurePosixPath(relative)))
            info = objects.put(prefix + relative, stream)
            stored.append({"path": relative, "size": info.size, "sha256": info.sha256})
            if len(stored) > MAX_FILES:
                raise MedAIError(
                    ErrorCode.DATA_INVALID, f"More than {MAX_FILES} files.", "Upload an archive of the model."
                )
        weight_format = detect_format(f["path"] for f in stored)
        if not weight_format:
            raise MedAIError(
                ErrorCode.DATA_INVALID,
                "No weight file found (.safetensors, .gguf, .bin, .pt or .onnx).",
                "Include the model's weights; configuration and tokenizer files alone are not a model.",
            )
        row = ModelVersion(
            model_id=model.id,
            tenant_id=tenant_id,
            version=version,
            framework=spec.framework,
            format=weight_format,
            base_model=spec.base_model.strip(),
            train_data_source=spec.train_data_source.strip(),
            parameters=spec.parameters or {},
            source=source,
            storage_prefix=prefix,
            files=sorted(stored, key=lambda f: f["path"]),
            size_bytes=sum(f["size"] for f in stored),
            model_card=spec.model_card,
            eval_results=spec.eval_results or {},
            created_by=principal.label,
        )
        session.add(row)
        session.flush()
    except BaseException:
        objects.delete_prefix(prefix)
        raise
    for dataset_version in sources:
        assert dataset_version is not None
        lineage.link(
            session,
            tenant_id,
            lineage.Node("dataset_version", dataset_version.id),
            lineage.Node("model_version", row.id),
            "trained_on",
        )
    _audit(session, principal, "model.register", model.id, version=version, source=source, size=row.size_bytes)
    return row


def archive_members(archive: Path | IO[bytes]) -> Iterator[tuple[str, IO[bytes]]]:
    """The files of a .zip or .tar(.gz) archive, a path or a seekable upload stream, one stream
    at a time (never extracted to disk)."""
    with ExitStack() as stack:
        if zipfile.is_zipfile(archive):
            if not isinstance(archive, Path):
                archive.seek(0)
            bundle = stack.enter_context(zipfile.ZipFile(archive))
            for info in bundle.infolist():
                if not info.is_dir():
                    with bundle.open(info) as member:
                        yield info.filename, member
            return
        try:
            if isinstance(archive, Path):
                tar = stack.enter_context(tarfile.open(archive))
            else:
                archive.seek(0)
                tar = stack.enter_context(tarfile.open(fileobj=archive))
        except tarfile.TarError:
            raise MedAIError(
                ErrorCode.DATA_INVALID, "The archive is neither zip nor tar.", "Upload .zip, .tar or .tar.gz."
            ) from None
        for member in tar:
            if member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    with extracted:
                        yield member.name, extracted


def folder_files(folder: Path, allowed_roots: Iterable[Path]) -> Iterator[tuple[str, IO[bytes]]]:
    """The files under a server folder, which must lie inside one of ``allowed_roots``."""
    resolved = folder.expanduser().resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in allowed_roots):
        raise MedAIError(
            ErrorCode.FORBIDDEN,
            f"{folder} is outside the folders models may be imported from.",
            "Copy the model under MEDAI_MODEL_IMPORT_DIRS, or ask an admin to add its folder there.",
        )
    if not resolved.is_dir():
        raise MedAIError(ErrorCode.NOT_FOUND, f"{folder} is not a folder on the server.", "Check the path.")
    for path in sorted(resolved.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                yield path.relative_to(resolved).as_posix(), handle


_Row = TypeVar("_Row", ModelAsset, ModelVersion)


def _owned(session: Session, table: type[_Row], row_id: str, tenant_id: str | None, readable: bool, what: str) -> _Row:
    """The tenant's row; a platform-provided one only to read (changing it is refused)."""
    row = session.get(table, row_id)
    if row is not None and row.tenant_id != tenant_id and platform_assets.is_platform_owned(session, row.tenant_id):
        if readable:
            return row
        raise platform_assets.read_only("model")
    return in_tenant(session, table, row_id, tenant_id, what, "Reload the model list.")


def _model(session: Session, tenant_id: str | None, model_id: str, readable: bool = False) -> ModelAsset:
    return _owned(session, ModelAsset, model_id, tenant_id, readable, "model")


def _model_version(session: Session, tenant_id: str | None, version_id: str, readable: bool = False) -> ModelVersion:
    return _owned(session, ModelVersion, version_id, tenant_id, readable, "model version")


def list_models(session: Session, principal: Principal, search: str = "", status: str = "") -> list[ModelSummary]:
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    platform_id = platform_assets.platform_tenant_id(session)  # its models are every tenant's to read
    owners = [tenant_id] if platform_id in (None, tenant_id) else [tenant_id, platform_id]
    query = select(ModelAsset).where(ModelAsset.tenant_id.in_(owners)).order_by(ModelAsset.name)  # type: ignore[attr-defined]
    if search:
        query = query.where(ModelAsset.name.contains(search, autoescape=True))
    out = []
    for model in session.exec(query).all():
        versions = session.exec(
            select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.version)
        ).all()
        if not versions or (status and versions[-1].status != status):
            continue
        latest = versions[-1]
        out.append(
            ModelSummary(
                model.id,
                model.name,
                model.description,
                len(versions),
                latest.version,
                model.promoted_version,
                latest.status,
                latest.framework,
                latest.format,
                latest.size_bytes,
                latest.created_at,
                provided_by_platform=model.tenant_id != tenant_id,
            )
        )
    return sorted(out, key=lambda m: m.provided_by_platform)  # the tenant's own first: forms preselect them


def get_model(session: Session, principal: Principal, model_id: str) -> tuple[ModelAsset, list[ModelVersion]]:
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    model = _model(session, tenant_id, model_id, readable=True)
    versions = session.exec(
        select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.version.desc())
    ).all()
    return model, list(versions)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def diff_parameters(session: Session, principal: Principal, before_id: str, after_id: str) -> list[ParameterChange]:
    """Hyper-parameters that differ between two versions (nested keys dotted)."""
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    before = _flatten(_model_version(session, tenant_id, before_id, readable=True).parameters)
    after = _flatten(_model_version(session, tenant_id, after_id, readable=True).parameters)
    return [
        ParameterChange(key, before.get(key), after.get(key))
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]


def promote(session: Session, principal: Principal, version_id: str) -> None:
    """Make this version the one deployments use by default."""
    tenant_id = authorize(session, principal, Area.ASSETS, Action.UPDATE)
    row = _model_version(session, tenant_id, version_id)
    if row.status == "retired":
        raise MedAIError(ErrorCode.CONFLICT, "A retired version cannot be promoted.", "Pick a version in use.")
    model = _model(session, tenant_id, row.model_id)
    before, model.promoted_version = model.promoted_version, row.version
    session.add(model)
    _audit(session, principal, "model.promote", model.id, version=row.version, before=before)


def set_status(session: Session, principal: Principal, version_id: str, status: str) -> None:
    """pending_deploy / deployed (set by deployments) / retired (refused while deployed or in use)."""
    tenant_id = authorize(session, principal, Area.ASSETS, Action.UPDATE)
    if status not in STATUSES:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown status '{status}'.", "Use " + ", ".join(STATUSES) + ".")
    row = _model_version(session, tenant_id, version_id)
    if status == "retired":
        lineage.refuse_if_used(session, row.tenant_id, lineage.Node("model_version", row.id), "retire this version")
    before, row.status = row.status, status
    session.add(row)
    model = _model(session, tenant_id, row.model_id)
    if status == "retired" and model.promoted_version == row.version:
        model.promoted_version = None
        session.add(model)
    _audit(session, principal, "model.status", row.model_id, version=row.version, before=before, after=status)


def delete_version(session: Session, objects: ObjectStore, principal: Principal, version_id: str) -> None:
    tenant_id = authorize(session, principal, Area.ASSETS, Action.DELETE)
    row = _model_version(session, tenant_id, version_id)
    lineage.refuse_if_used(session, row.tenant_id, lineage.Node("model_version", row.id), "delete this version")
    model = _model(session, tenant_id, row.model_id)
    if model.promoted_version == row.version:
        model.promoted_version = None
        session.add(model)
    lineage.forget(session, row.tenant_id, lineage.Node("model_version", row.id))
    session.delete(row)
    session.flush()
    objects.delete_prefix(row.storage_prefix)
    _audit(session, principal, "model.delete_version", row.model_id, version=row.version)
