"""The Assets area (/assets): the current tenant's datasets, models and container images with
search and filters, and image registration. Uploads: state.asset_uploads; the dataset and
model pages: state.asset_detail."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import reflex as rx
from sqlmodel import Session

from backend.errors import MedAIError
from backend.services.assets import datasets, images, model_registry
from backend.services.assets.dataset_formats import Shape
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from state.asset_views import size_label, when
from state.auth import AuthState
from state.feedback import error_toast, success_toast

TABS = ("datasets", "models", "images")
ALL = "all"  # the "no filter" choice of a select (Radix selects cannot hold "")
SHAPES = tuple(s.value for s in Shape)
APPROXIMATE = "approximate"  # token lengths estimated without a tokenizer
_TOKENIZER_MARKERS = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt")


def _chosen(value: str | list[str]) -> str:
    return value if isinstance(value, str) else value[0]


def _dataset_rows(session: Session, who: Principal, search: str, shape: str) -> list[dict[str, str]]:
    return [
        {
            "id": d.id,
            "name": d.name,
            "description": d.description,
            "versions": str(d.versions),
            "latest": str(d.latest_version),
            "shape": d.shape,
            "rows": str(d.rows),
            "size": size_label(d.size_bytes),
            "updated": when(d.updated_at),
        }
        for d in datasets.list_datasets(session, who, search.strip(), "" if shape == ALL else shape)
    ]


def _model_rows(session: Session, who: Principal, search: str, status: str) -> list[dict[str, str]]:
    return [
        {
            "id": m.id,
            "name": m.name,
            "versions": str(m.versions),
            "latest": str(m.latest_version),
            "promoted": str(m.promoted_version or ""),
            "status": m.latest_status,
            "framework": m.framework,
            "format": m.format,
            "size": size_label(m.size_bytes),
            "updated": when(m.updated_at),
            "platform": "yes" if m.provided_by_platform else "",  # read-only, provided to every tenant
        }
        for m in model_registry.list_models(session, who, search.strip(), "" if status == ALL else status)
    ]


def _image_rows(session: Session, who: Principal, search: str, purpose: str) -> list[dict[str, str]]:
    return [
        {
            "id": i.id,
            "reference": i.reference,
            "purpose": i.purpose,
            "cuda": i.cuda_version,
            "framework": i.framework,
            "status": i.status,
            "created": when(i.created_at),
        }
        for i in images.list_images(session, who, "" if purpose == ALL else purpose, search.strip())
    ]


def _tokenizer_options(session: Session, who: Principal) -> list[dict[str, str]]:
    """Model versions registered with tokenizer files: what may count a dataset's tokens."""
    options = []
    for summary in model_registry.list_models(session, who):
        _, versions = model_registry.get_model(session, who, summary.id)
        for version in versions:
            names = {PurePosixPath(f["path"]).name for f in version.files}
            if version.status != "retired" and names & set(_TOKENIZER_MARKERS):
                options.append({"id": version.id, "label": f"{summary.name} v{version.version}"})
    return options


def _dataset_version_options(session: Session, who: Principal) -> list[dict[str, str]]:
    """Active dataset versions, for "trained on" when a model is registered."""
    options = []
    for summary in datasets.list_datasets(session, who):
        _, versions = datasets.get_dataset(session, who, summary.id)
        options += [{"id": v.id, "label": f"{summary.name} v{v.version}"} for v in versions if v.status == "active"]
    return options


@dataclass
class Filters:
    dataset_search: str = ""
    dataset_shape: str = ALL
    model_search: str = ""
    model_status: str = ALL
    image_search: str = ""
    image_purpose: str = ALL


@dataclass
class AssetsView:
    may_view: bool = False
    may_create: bool = False
    may_update: bool = False
    datasets: list[dict[str, str]] = field(default_factory=list)
    models: list[dict[str, str]] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)
    tokenizers: list[dict[str, str]] = field(default_factory=list)
    dataset_versions: list[dict[str, str]] = field(default_factory=list)


def _assets_view(filters: Filters, session: Session, who: Principal) -> AssetsView:
    if not may(session, who, Area.ASSETS, Action.VIEW):
        return AssetsView()  # the page says why; nothing to refuse (and audit) here
    return AssetsView(
        may_view=True,
        may_create=may(session, who, Area.ASSETS, Action.CREATE),
        may_update=may(session, who, Area.ASSETS, Action.UPDATE),
        datasets=_dataset_rows(session, who, filters.dataset_search, filters.dataset_shape),
        models=_model_rows(session, who, filters.model_search, filters.model_status),
        images=_image_rows(session, who, filters.image_search, filters.image_purpose),
        tokenizers=_tokenizer_options(session, who),
        dataset_versions=_dataset_version_options(session, who),
    )


class AssetsState(AuthState):
    tab: str = "datasets"
    may_view: bool = True  # until the first load says otherwise (no flash of "not allowed")
    may_create: bool = False
    may_update: bool = False
    dataset_search: str = ""
    dataset_shape: str = ALL
    model_search: str = ""
    model_status: str = ALL
    image_search: str = ""
    image_purpose: str = ALL
    datasets: list[dict[str, str]] = []
    models: list[dict[str, str]] = []
    images: list[dict[str, str]] = []
    tokenizers: list[dict[str, str]] = []
    dataset_versions: list[dict[str, str]] = []
    image_error: str = ""  # why the last reference was refused, shown under the field

    def _filters(self) -> Filters:
        return Filters(
            self.dataset_search,
            self.dataset_shape,
            self.model_search,
            self.model_status,
            self.image_search,
            self.image_purpose,
        )

    async def _reload(self) -> None:
        filters = self._filters()
        found = (
            await self._as_user(lambda _rt, session, who: _assets_view(filters, session, who))
            if self.tenant_id
            else AssetsView()
        )
        self.may_view, self.may_create, self.may_update = found.may_view, found.may_create, found.may_update
        self.datasets, self.models, self.images = found.datasets, found.models, found.images
        self.tokenizers, self.dataset_versions = found.tokenizers, found.dataset_versions

    @rx.event
    async def load(self) -> None:
        self.image_error = ""
        if self.signed_in and not self.must_change_password:
            await self._reload()

    @rx.event
    def set_tab(self, tab: str) -> None:
        if tab in TABS:
            self.tab = tab

    # filters --------------------------------------------------------------------------------------

    @rx.event
    async def search_datasets(self, text: str) -> None:
        self.dataset_search = text[:128]
        await self._reload()

    @rx.event
    async def filter_shape(self, shape: str | list[str]) -> None:
        chosen = _chosen(shape)
        self.dataset_shape = chosen if chosen in SHAPES else ALL
        await self._reload()

    @rx.event
    async def search_models(self, text: str) -> None:
        self.model_search = text[:128]
        await self._reload()

    @rx.event
    async def filter_status(self, status: str | list[str]) -> None:
        chosen = _chosen(status)
        self.model_status = chosen if chosen in model_registry.STATUSES else ALL
        await self._reload()

    @rx.event
    async def search_images(self, text: str) -> None:
        self.image_search = text[:128]
        await self._reload()

    @rx.event
    async def filter_purpose(self, purpose: str | list[str]) -> None:
        chosen = _chosen(purpose)
        self.image_purpose = chosen if chosen in images.PURPOSES else ALL
        await self._reload()

    # images ---------------------------------------------------------------------------------------

    @rx.event
    async def register_image(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        reference, purpose = str(form.get("reference", "")).strip(), str(form.get("purpose", ""))
        cuda, framework = str(form.get("cuda_version", "")).strip(), str(form.get("framework", ""))
        try:
            await self._as_user(
                lambda _rt, session, who: images.register_image(session, who, reference, purpose, cuda, framework)
            )
        except MedAIError as error:
            self.image_error = f"{error.message} {error.remedy}"
            yield error_toast(error)
            return
        self.image_error = ""
        await self._reload()
        yield [rx.set_value("image-reference", ""), rx.set_value("image-cuda", ""), rx.set_value("image-framework", "")]
        yield await success_toast(self, "assets.image_registered")

    @rx.event
    async def retire_image(self, image_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(lambda _rt, session, who: images.retire_image(session, who, image_id))
        await self._reload()
        yield await success_toast(self, "assets.image_retired")
