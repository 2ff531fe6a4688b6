"""The Assets area (/assets): the current tenant's datasets, models and container images with
search and filters, and image registration. Uploads: state.asset_uploads; the dataset and
model pages: state.asset_detail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import reflex as rx

from backend.errors import MedAIError
from backend.services.assets import datasets, images, model_registry, views
from state.asset_views import SHAPES, size_label
from state.auth import AuthState
from state.feedback import error_toast, success_toast
from state.format import when

TABS = ("datasets", "models", "images")
ALL = "all"  # the "no filter" choice of a select (Radix selects cannot hold "")
APPROXIMATE = "approximate"  # token lengths estimated without a tokenizer
# for the pages, which import no backend
PURPOSES = images.PURPOSES
STATUSES = model_registry.STATUSES
FRAMEWORKS = model_registry.FRAMEWORKS


def _chosen(value: str | list[str]) -> str:
    return value if isinstance(value, str) else value[0]


def _unless_all(choice: str) -> str:
    return "" if choice == ALL else choice


def dataset_rows(found: list[datasets.DatasetSummary]) -> list[dict[str, str]]:
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
        for d in found
    ]


def model_rows(found: list[model_registry.ModelSummary]) -> list[dict[str, str]]:
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
        for m in found
    ]


def image_rows(found: list[views.ImageSummary]) -> list[dict[str, str]]:
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
        for i in found
    ]


def options(found: list[views.VersionOption]) -> list[dict[str, str]]:
    return [{"id": o.id, "label": o.label} for o in found]


@dataclass
class Filters:
    dataset_search: str = ""
    dataset_shape: str = ALL
    model_search: str = ""
    model_status: str = ALL
    image_search: str = ""
    image_purpose: str = ALL

    def arguments(self) -> dict[str, str]:
        """The keyword arguments of views.assets_overview: searches trimmed, "all" as no filter."""
        return {
            "dataset_search": self.dataset_search.strip(),
            "dataset_shape": _unless_all(self.dataset_shape),
            "model_search": self.model_search.strip(),
            "model_status": _unless_all(self.model_status),
            "image_search": self.image_search.strip(),
            "image_purpose": _unless_all(self.image_purpose),
        }


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


def assets_view(found: views.AssetsOverview) -> AssetsView:
    return AssetsView(
        may_view=found.may_view,
        may_create=found.may_create,
        may_update=found.may_update,
        datasets=dataset_rows(found.datasets),
        models=model_rows(found.models),
        images=image_rows(found.images),
        tokenizers=options(found.tokenizers),
        dataset_versions=options(found.dataset_versions),
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
        arguments = self._filters().arguments()
        found = (
            assets_view(
                await self._as_user(
                    lambda _rt, session, principal: views.assets_overview(session, principal, **arguments)
                )
            )
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
        self.model_status = chosen if chosen in STATUSES else ALL
        await self._reload()

    @rx.event
    async def search_images(self, text: str) -> None:
        self.image_search = text[:128]
        await self._reload()

    @rx.event
    async def filter_purpose(self, purpose: str | list[str]) -> None:
        chosen = _chosen(purpose)
        self.image_purpose = chosen if chosen in PURPOSES else ALL
        await self._reload()

    # images ---------------------------------------------------------------------------------------

    @rx.event
    async def register_image(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        reference, purpose = str(form.get("reference", "")).strip(), str(form.get("purpose", ""))
        cuda, framework = str(form.get("cuda_version", "")).strip(), str(form.get("framework", ""))
        try:
            await self._as_user(
                lambda _rt, session, principal: images.register_image(
                    session, principal, reference, purpose, cuda, framework
                )
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
        await self._as_user(lambda _rt, session, principal: images.retire_image(session, principal, image_id))
        await self._reload()
        yield await success_toast(self, "assets.image_retired")
