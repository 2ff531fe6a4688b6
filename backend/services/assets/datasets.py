"""Datasets and their versions: import with validation, PHI summary and optional masking,
preview, download links, retire and delete.

An import streams the upload to a scratch file, validates it there and only then stores it:
a file with any problem is rejected with its report, and nothing is written (no row, no
object). Each accepted file becomes a new version of the named dataset.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func
from sqlmodel import Session, select

from backend.adapters.objectstore import CHUNK, ObjectStore, tenant_prefix
from backend.errors import ErrorCode, MedAIError
from backend.models import Dataset, DatasetVersion
from backend.services.assets import dataset_formats, lineage
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, in_tenant
from backend.services.identity.permissions import Action, Area

_CONTENT_TYPES = {
    "jsonl": "application/jsonl",
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
NAME_MAX = 128


class DatasetRejectedError(MedAIError):
    """DATA_INVALID with the whole validation report, so the user sees every problem at once."""

    def __init__(self, report: dataset_formats.ValidationReport) -> None:
        super().__init__(
            ErrorCode.DATA_INVALID,
            f"The file was not imported: {report.summary()}.",
            "Fix the lines listed in the validation report and upload the file again; nothing was stored.",
        )
        self.report = report

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = super().to_payload()
        payload["error"]["report"] = self.report.as_dict()
        return payload


@dataclass(frozen=True)
class DatasetSummary:
    id: str
    name: str
    description: str
    versions: int
    latest_version: int
    shape: str
    rows: int
    size_bytes: int
    updated_at: datetime


@dataclass(frozen=True)
class DatasetVersionInfo:
    """One stored version as callers see it (plain values: no database row leaves the session)."""

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


def version_info(row: DatasetVersion) -> DatasetVersionInfo:
    return DatasetVersionInfo(
        id=row.id,
        dataset_id=row.dataset_id,
        version=row.version,
        filename=row.filename,
        file_type=row.file_type,
        shape=row.shape,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        rows=row.rows,
        phi_masked=row.phi_masked,
        status=row.status,
        report=dict(row.report),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _audit(
    session: Session, principal: Principal, action: str, target_id: str, outcome: str = "ok", **detail: Any
) -> None:
    audit.record_by(session, principal, action, "dataset", target_id, outcome=outcome, **detail)


@contextmanager
def _scratch_copy(stream: BinaryIO, scratch_dir: Path, suffix: str) -> Iterator[Path]:
    """The upload as a file on local disk, copied in chunks and removed afterwards."""
    scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=scratch_dir, suffix=suffix, delete=False) as out:
        path = Path(out.name)
        try:
            shutil.copyfileobj(stream, out, CHUNK)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _masked_copy(path: Path, file_type: str) -> Path:
    """The records with PHI masked, as JSONL beside the original."""
    masked = path.with_suffix(".masked.jsonl")
    with masked.open("w", encoding="utf-8") as out:
        for _, record in dataset_formats.records(path, file_type):
            out.write(json.dumps(dataset_formats.mask_record(record), ensure_ascii=False, default=str) + "\n")
    return masked


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or "/" in name:
        raise MedAIError(
            ErrorCode.DATA_INVALID, "A dataset needs a name of 1-128 characters without '/'.", "Type a short name."
        )
    return name


def import_version(
    session: Session,
    objects: ObjectStore,
    principal: Principal,
    *,
    name: str,
    filename: str,
    stream: BinaryIO,
    scratch_dir: Path,
    description: str = "",
    mask_phi: bool = False,
    cutoff: int = 2048,
    tokenizer: tuple[str, dataset_formats.TokenCounter] | None = None,
) -> DatasetVersion:
    """Validate an uploaded file and store it as the next version of dataset ``name``.
    ``tokenizer`` (name, counter) measures token lengths; default: a tokenizer-free estimate."""
    tenant_id = authorize(session, principal, Area.ASSETS, Action.CREATE)
    assert tenant_id is not None
    name = _check_name(name)
    file_type = dataset_formats.file_type_of(filename)
    if not file_type:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"'{filename}' is not a supported dataset file.",
            "Upload .jsonl, .json, .csv or .parquet.",
        )
    with _scratch_copy(stream, scratch_dir, "." + file_type) as path:
        name_and_counter = tokenizer or ("approximate", dataset_formats.approximate_tokens)
        report = dataset_formats.validate(
            path, file_type, cutoff=cutoff, tokenizer_name=name_and_counter[0], count_tokens=name_and_counter[1]
        )
        if not report.ok:
            _audit(session, principal, "dataset.import", name, "failed", filename=filename, summary=report.summary())
            session.commit()
            raise DatasetRejectedError(report)
        stored_path, stored_type, stored_name = path, file_type, Path(filename).name
        if mask_phi:
            stored_path, stored_type = _masked_copy(path, file_type), "jsonl"
            stored_name = Path(filename).stem + ".masked.jsonl"
        try:
            return _store(
                session,
                objects,
                principal,
                tenant_id,
                name,
                description,
                stored_name,
                stored_type,
                stored_path,
                report,
                mask_phi,
            )
        finally:
            if stored_path != path:
                stored_path.unlink(missing_ok=True)


def _store(
    session: Session,
    objects: ObjectStore,
    principal: Principal,
    tenant_id: str,
    name: str,
    description: str,
    filename: str,
    file_type: str,
    path: Path,
    report: dataset_formats.ValidationReport,
    masked: bool,
) -> DatasetVersion:
    dataset = session.exec(select(Dataset).where(Dataset.tenant_id == tenant_id, Dataset.name == name)).first()
    if dataset is None:
        dataset = Dataset(tenant_id=tenant_id, name=name, description=description, created_by=principal.label)
        session.add(dataset)
        session.flush()
    latest = session.exec(select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset.id)).one()
    version = (latest or 0) + 1
    key = f"{tenant_prefix(tenant_id)}datasets/{dataset.id}/v{version}/{filename}"
    with path.open("rb") as handle:
        info = objects.put(key, handle, _CONTENT_TYPES[file_type])
    try:
        row = DatasetVersion(
            dataset_id=dataset.id,
            tenant_id=tenant_id,
            version=version,
            filename=filename,
            file_type=file_type,
            shape=report.shape,
            object_key=key,
            size_bytes=info.size,
            sha256=info.sha256,
            rows=report.rows,
            phi_masked=masked,
            report=report.as_dict(),
            created_by=principal.label,
        )
        session.add(row)
        session.flush()
    except BaseException:
        objects.delete(key)  # the row could not be written: take the file back out
        raise
    _audit(session, principal, "dataset.import", dataset.id, version=version, rows=report.rows, sha256=info.sha256)
    return row


def _dataset(session: Session, tenant_id: str | None, dataset_id: str) -> Dataset:
    return in_tenant(session, Dataset, dataset_id, tenant_id, "dataset", "Reload the dataset list.")


def _version(session: Session, tenant_id: str | None, version_id: str) -> DatasetVersion:
    return in_tenant(session, DatasetVersion, version_id, tenant_id, "dataset version", "Reload the dataset.")


def list_datasets(session: Session, principal: Principal, search: str = "", shape: str = "") -> list[DatasetSummary]:
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    query = select(Dataset).where(Dataset.tenant_id == tenant_id).order_by(Dataset.name)
    if search:
        query = query.where(Dataset.name.contains(search, autoescape=True))
    summaries = []
    for dataset in session.exec(query).all():
        versions = session.exec(
            select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id).order_by(DatasetVersion.version)
        ).all()
        latest = versions[-1] if versions else None
        if shape and (latest is None or latest.shape != shape):
            continue
        summaries.append(
            DatasetSummary(
                dataset.id,
                dataset.name,
                dataset.description,
                len(versions),
                latest.version if latest else 0,
                latest.shape if latest else "",
                latest.rows if latest else 0,
                latest.size_bytes if latest else 0,
                latest.created_at if latest else dataset.created_at,
            )
        )
    return summaries


def get_dataset(session: Session, principal: Principal, dataset_id: str) -> tuple[Dataset, list[DatasetVersion]]:
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    dataset = _dataset(session, tenant_id, dataset_id)
    versions = session.exec(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id).order_by(DatasetVersion.version.desc())
    ).all()
    return dataset, list(versions)


def download_url(session: Session, objects: ObjectStore, principal: Principal, version_id: str) -> str:
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    row = _version(session, tenant_id, version_id)
    _audit(session, principal, "dataset.download", row.dataset_id, version=row.version)
    return objects.presigned_url(row.object_key, timedelta(minutes=15))


def retire_version(session: Session, principal: Principal, version_id: str) -> None:
    """Keep the file for lineage but offer it no more for new jobs; refused while in use."""
    tenant_id = authorize(session, principal, Area.ASSETS, Action.UPDATE)
    row = _version(session, tenant_id, version_id)
    lineage.refuse_if_used(session, row.tenant_id, lineage.Node("dataset_version", row.id), "retire this version")
    row.status = "retired"
    session.add(row)
    _audit(session, principal, "dataset.retire", row.dataset_id, version=row.version)


def delete_version(session: Session, objects: ObjectStore, principal: Principal, version_id: str) -> None:
    """Remove a version and its file; refused while anything made from it still exists."""
    tenant_id = authorize(session, principal, Area.ASSETS, Action.DELETE)
    row = _version(session, tenant_id, version_id)
    lineage.refuse_if_used(session, row.tenant_id, lineage.Node("dataset_version", row.id), "delete this version")
    lineage.forget(session, row.tenant_id, lineage.Node("dataset_version", row.id))
    session.delete(row)
    session.flush()
    objects.delete(row.object_key)
    _audit(session, principal, "dataset.delete_version", row.dataset_id, version=row.version)
