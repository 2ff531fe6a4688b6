"""Uploads on the Assets page: a dataset file validated and imported as a new version (its
report shown whether it is accepted or not), and a model registered from uploaded files,
one archive or a folder on the server. The uploaded streams go straight to the services."""

# No `from __future__ import annotations`: Reflex reads the upload handlers' hints at runtime.

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services.assets import model_registry, uploads
from backend.services.assets.datasets import DatasetRejectedError
from state.asset_views import ReportView, report_view, size_label
from state.assets import APPROXIMATE, AssetsState
from state.feedback import error_toast, input_toast, success_toast

DATASET_UPLOAD = "dataset-upload"
MODEL_UPLOAD = "model-upload"
DEFAULT_CUTOFF = uploads.DEFAULT_CUTOFF
NO_DATASET = "none"  # "trained on" left empty


@dataclass(frozen=True)
class Imported:
    dataset_id: str
    version: int
    report: dict[str, Any]


def _percent(progress: dict[str, Any]) -> int:
    return max(0, min(100, round(float(progress.get("progress", 0)) * 100)))


def _cutoff(value: Any) -> int:
    try:
        cutoff = int(str(value or DEFAULT_CUTOFF))
    except ValueError:
        cutoff = 0
    if not 16 <= cutoff <= 131072:
        raise MedAIError(ErrorCode.DATA_INVALID, f"'{value}' is not a cutoff length.", "Use 16-131072 tokens.")
    return cutoff


def _json_object(text: str, what: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"{what} are not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.",
            'Write a JSON object such as {"learning_rate": 0.0002}, or leave the field empty.',
        ) from None
    if not isinstance(value, dict):
        raise MedAIError(ErrorCode.DATA_INVALID, f"{what} must be a JSON object.", "Wrap the values in { }.")
    return value


def _relative_name(upload: rx.UploadFile) -> str:
    return upload.path.as_posix() if upload.path else upload.filename or "file"


class DatasetUploadState(AssetsState):
    dataset_busy: bool = False
    dataset_progress: int = 0
    dataset_report: ReportView = ReportView()
    imported_dataset_id: str = ""
    imported_version: int = 0

    @rx.event
    def start_dataset_upload(self) -> None:
        self.dataset_busy, self.dataset_progress = True, 0
        self.dataset_report, self.imported_dataset_id, self.imported_version = ReportView(), "", 0

    @rx.event
    def dataset_upload_progress(self, progress: dict[str, Any]) -> None:
        self.dataset_progress = _percent(progress)

    @rx.event
    async def import_dataset(self, files: list[rx.UploadFile], form: dict[str, Any]):  # noqa: ANN201 (generator)
        if not files:
            self.dataset_busy = False
            yield await input_toast(self, "assets.choose_dataset_file")
            return
        upload = files[0]
        filename = upload.filename or "upload"
        name = str(form.get("name", "")).strip() or Path(filename).stem
        description = str(form.get("description", "")).strip()
        mask_phi = str(form.get("mask_phi", "")).lower() in ("on", "true", "1")
        tokenizer_id = str(form.get("tokenizer", APPROXIMATE))
        self.dataset_progress = 100  # every byte is here: the bar says "checking" now
        yield

        def work(rt, session, principal) -> Imported:  # noqa: ANN001 (runtime, session, principal)
            imported = uploads.import_dataset(
                session,
                principal,
                rt.objects,
                name=name,
                filename=filename,
                stream=upload.file,
                scratch_dir=rt.settings.scratch_dir,
                cache_dir=rt.settings.data_dir / "cache",
                description=description,
                mask_phi=mask_phi,
                cutoff=_cutoff(form.get("cutoff")),
                tokenizer_version_id="" if tokenizer_id == APPROXIMATE else tokenizer_id,
            )
            return Imported(imported.dataset_id, imported.version, imported.report)

        try:
            imported = await self._as_user(work)
        except DatasetRejectedError as error:  # the whole report on the page, the reason in a toast
            self.dataset_busy = False
            self.dataset_report = report_view(error.report.as_dict(), error.message)
            yield error_toast(error)
            return
        except Exception as error:  # shown here: a raising handler would leave the progress bar up
            self.dataset_busy = False
            yield error_toast(error)
            return
        self.dataset_busy = False
        self.dataset_report = report_view(imported.report)
        self.imported_dataset_id, self.imported_version = imported.dataset_id, imported.version
        await self._reload()
        yield rx.clear_selected_files(DATASET_UPLOAD)
        yield await success_toast(self, "assets.dataset_imported")

    @rx.event
    def dismiss_report(self) -> None:
        self.dataset_report, self.imported_dataset_id, self.imported_version = ReportView(), "", 0


@dataclass(frozen=True)
class Registered:
    model_id: str
    version: int
    format: str
    files: int
    size: str


class ModelRegisterState(AssetsState):
    model_busy: bool = False
    model_progress: int = 0
    registered: dict[str, str] = {}

    @rx.event
    def start_model_upload(self) -> None:
        self.model_busy, self.model_progress, self.registered = True, 0, {}

    @rx.event
    def model_upload_progress(self, progress: dict[str, Any]) -> None:
        self.model_progress = _percent(progress)

    @rx.event
    async def register_model(self, files: list[rx.UploadFile], form: dict[str, Any]):  # noqa: ANN201 (generator)
        folder = str(form.get("folder", "")).strip()
        trained_on = str(form.get("trained_on", NO_DATASET))
        if bool(folder) == bool(files):
            self.model_busy = False
            yield await input_toast(self, "assets.files_or_folder")
            return
        self.model_progress = 100
        yield
        try:
            spec = model_registry.VersionSpec(
                model_name=str(form.get("model_name", "")),
                framework=str(form.get("framework", "transformers")),
                base_model=str(form.get("base_model", "")),
                parameters=_json_object(str(form.get("parameters", "")), "The parameters"),
                model_card=str(form.get("model_card", "")),
                eval_results=_json_object(str(form.get("eval_results", "")), "The evaluation results"),
                description=str(form.get("description", "")).strip()[:1000],
                dataset_version_ids=() if trained_on in ("", NO_DATASET) else (trained_on,),
            )
            named = [(_relative_name(u), u.file) for u in files]
            registered = await self._as_user(
                lambda rt, session, principal: _registered(
                    uploads.register_model_from_folder(
                        session, principal, rt.objects, spec, Path(folder), rt.settings.model_import_roots
                    )
                    if folder
                    else uploads.register_uploaded_model(session, principal, rt.objects, spec, named)
                )
            )
        except Exception as error:  # shown here: a raising handler would leave the progress bar up
            self.model_busy = False
            yield error_toast(error)
            return
        self.model_busy = False
        self.registered = {
            "model_id": registered.model_id,
            "name": spec.model_name.strip(),
            "version": str(registered.version),
            "format": registered.format,
            "files": str(registered.files),
            "size": registered.size,
        }
        await self._reload()
        yield rx.clear_selected_files(MODEL_UPLOAD)
        yield await success_toast(self, "assets.model_registered")

    @rx.event
    def dismiss_registered(self) -> None:
        self.registered = {}


def _registered(version: model_registry.ModelVersionInfo) -> Registered:
    return Registered(
        version.model_id, version.version, version.format, len(version.files), size_label(version.size_bytes)
    )
