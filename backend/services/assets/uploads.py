"""Uploads into the asset registry, written once for the Assets pages, the REST API and the CLI:
a dataset file imported as the next version (token lengths counted with a registered model's
tokenizer when one is named), and a model version registered from uploaded files, one archive
or a folder on the server."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, BinaryIO

from sqlmodel import Session

from backend.adapters.objectstore import ObjectStore
from backend.services.assets import datasets, model_registry, token_counting
from backend.services.identity.access import Principal

DEFAULT_CUTOFF = 2048


def is_archive(filename: str) -> bool:
    """Whether one uploaded file with this name is unpacked (.zip, .tar, .tar.gz, .tgz; any case)."""
    return filename.lower().endswith(model_registry.ARCHIVE_SUFFIXES)


def import_dataset(
    session: Session,
    principal: Principal,
    objects: ObjectStore,
    *,
    name: str,
    filename: str,
    stream: BinaryIO,
    scratch_dir: Path,
    cache_dir: Path,
    description: str = "",
    mask_phi: bool = False,
    cutoff: int = DEFAULT_CUTOFF,
    tokenizer_version_id: str = "",
) -> datasets.DatasetVersionInfo:
    """Validate ``stream`` and store it as the next version of dataset ``name``. Token lengths are
    counted with the tokenizer of model version ``tokenizer_version_id`` (its files cached under
    ``cache_dir``), or estimated without one when it is empty. A file with problems raises
    datasets.DatasetRejectedError with its whole report; nothing is stored then."""
    tokenizer = None
    if tokenizer_version_id:
        tokenizer = token_counting.counter_for(session, objects, principal, tokenizer_version_id, cache_dir)
    row = datasets.import_version(
        session,
        objects,
        principal,
        name=name,
        filename=filename,
        stream=stream,
        scratch_dir=scratch_dir,
        description=description,
        mask_phi=mask_phi,
        cutoff=cutoff,
        tokenizer=tokenizer,
    )
    return datasets.version_info(row)


def register_uploaded_model(
    session: Session,
    principal: Principal,
    objects: ObjectStore,
    spec: model_registry.VersionSpec,
    uploads: Sequence[tuple[str, IO[bytes]]],
) -> model_registry.ModelVersionInfo:
    """Register the next version of ``spec.model_name`` from uploaded (relative name, stream) pairs:
    one archive is read member by member from its stream, anything else is stored file by file."""
    files: Iterable[tuple[str, IO[bytes]]]
    if len(uploads) == 1 and is_archive(uploads[0][0]):
        files, source = model_registry.archive_members(uploads[0][1]), "archive"
    else:
        files, source = uploads, "upload"
    row = model_registry.register_version(session, objects, principal, spec, files, source)
    return model_registry.version_info(row)


def register_model_from_folder(
    session: Session,
    principal: Principal,
    objects: ObjectStore,
    spec: model_registry.VersionSpec,
    folder: Path,
    allowed_roots: Iterable[Path],
) -> model_registry.ModelVersionInfo:
    """Register the next version of ``spec.model_name`` from a folder on the server, which must lie
    inside one of ``allowed_roots`` (MEDAI_MODEL_IMPORT_DIRS)."""
    files = model_registry.folder_files(folder, allowed_roots)
    row = model_registry.register_version(session, objects, principal, spec, files, "path")
    return model_registry.version_info(row)
