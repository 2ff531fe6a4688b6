"""The pages of one dataset (/assets/datasets/[dataset_id]) and one model
(/assets/models/[model_id]): versions, reports, downloads, promote/retire/delete, parameter
diffs, model cards, and lineage ("where is this used" and the whole graph)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import reflex as rx

from backend.services.assets import datasets, lineage, model_registry, views
from state.asset_views import ReportView, edge_rows, pretty_json, report_view, size_label, users_of
from state.auth import AuthState
from state.feedback import success_toast
from state.figures import lineage_figure
from state.format import when


def lineage_rows(found: views.LineageView) -> list[dict[str, str]]:
    return edge_rows(found.edges, found.labels)


class LineageState(AuthState):
    """What both asset pages show about one version's lineage."""

    lineage_rows: list[dict[str, str]] = []
    used_by: list[dict[str, str]] = []
    lineage_en: go.Figure = go.Figure()
    lineage_zh: go.Figure = go.Figure()

    @rx.var
    def has_lineage(self) -> bool:
        return bool(self.lineage_rows)

    async def _load_lineage(self, node: lineage.Node) -> None:
        rows = lineage_rows(
            await self._as_user(lambda _rt, session, principal: views.lineage_view(session, principal, node))
        )
        self.lineage_rows, self.used_by = rows, users_of(rows, node)
        focus = (node.type, node.id)
        self.lineage_en = lineage_figure(rows, focus, "en") if rows else go.Figure()
        self.lineage_zh = lineage_figure(rows, focus, "zh") if rows else go.Figure()


# datasets -----------------------------------------------------------------------------------------


@dataclass
class DatasetPage:
    name: str
    description: str
    created_by: str
    created: str
    versions: list[dict[str, str]]
    reports: dict[str, dict[str, Any]]
    may_update: bool
    may_delete: bool


def dataset_page(found: views.DatasetPage) -> DatasetPage:
    return DatasetPage(
        name=found.name,
        description=found.description,
        created_by=found.created_by,
        created=when(found.created_at),
        versions=[
            {
                "id": v.id,
                "version": str(v.version),
                "filename": v.filename,
                "file_type": v.file_type,
                "shape": v.shape,
                "rows": str(v.rows),
                "size": size_label(v.size_bytes),
                "sha256": v.sha256,
                "masked": "yes" if v.phi_masked else "no",
                "status": v.status,
                "created": when(v.created_at),
                "created_by": v.created_by,
            }
            for v in found.versions
        ],
        reports={v.id: v.report for v in found.versions},
        may_update=found.may_update,
        may_delete=found.may_delete,
    )


class DatasetDetailState(LineageState):
    current_dataset: str = ""
    found: bool = True
    name: str = ""
    description: str = ""
    created_by: str = ""
    created: str = ""
    versions: list[dict[str, str]] = []
    selected_version: str = ""
    report: ReportView = ReportView()
    download_link: str = ""
    download_version: str = ""
    may_update: bool = False
    may_delete: bool = False
    _reports: dict[str, dict[str, Any]] = {}

    @rx.var
    def selected_label(self) -> str:
        return next((f"v{v['version']}" for v in self.versions if v["id"] == self.selected_version), "")

    @rx.event
    async def load(self) -> None:
        self.download_link = self.download_version = ""
        self.current_dataset = str(self.router.page.params.get("dataset_id", ""))
        if self.signed_in and not self.must_change_password:
            await self._refresh(select_latest=True)

    async def _refresh(self, select_latest: bool = False) -> None:
        dataset_id = self.current_dataset
        self.found = False
        page = dataset_page(
            await self._as_user(lambda _rt, session, principal: views.dataset_page(session, principal, dataset_id))
        )
        self.found = True
        self.name, self.description, self.created_by, self.created = (
            page.name,
            page.description,
            page.created_by,
            page.created,
        )
        self.versions, self._reports = page.versions, page.reports
        self.may_update, self.may_delete = page.may_update, page.may_delete
        ids = [v["id"] for v in page.versions]
        if select_latest or self.selected_version not in ids:
            self.selected_version = ids[0] if ids else ""
        await self._show_version()

    async def _show_version(self) -> None:
        chosen = self.selected_version
        self.report = report_view(self._reports[chosen]) if chosen else ReportView()
        if chosen:
            await self._load_lineage(lineage.Node("dataset_version", chosen))
        else:
            self.lineage_rows, self.used_by = [], []

    @rx.event
    async def select_version(self, version_id: str) -> None:
        if version_id in self._reports:
            self.selected_version = version_id
            await self._show_version()

    @rx.event
    async def make_download_link(self, version_id: str) -> None:
        self.download_link = await self._as_user(
            lambda rt, session, principal: datasets.download_url(session, rt.objects, principal, version_id)
        )
        self.download_version = next((v["version"] for v in self.versions if v["id"] == version_id), "")

    @rx.event
    async def retire_version(self, version_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(lambda _rt, session, principal: datasets.retire_version(session, principal, version_id))
        await self._refresh()
        yield await success_toast(self, "assets.version_retired")

    @rx.event
    async def delete_version(self, version_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(
            lambda rt, session, principal: datasets.delete_version(session, rt.objects, principal, version_id)
        )
        self.download_link = ""
        await self._refresh()
        yield await success_toast(self, "assets.version_deleted")


# models -------------------------------------------------------------------------------------------


@dataclass
class ModelPage:
    name: str
    description: str
    promoted: str
    versions: list[dict[str, str]]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    may_update: bool = False
    may_delete: bool = False
    provided_by_platform: bool = False  # read-only here: no promote, retire or delete


def model_page(found: views.ModelPage) -> ModelPage:
    return ModelPage(
        name=found.name,
        description=found.description,
        promoted=str(found.promoted_version or ""),
        versions=[
            {
                "id": v.id,
                "version": str(v.version),
                "status": v.status,
                "framework": v.framework,
                "format": v.format,
                "base_model": v.base_model,
                "source": v.source,
                "files": str(len(v.files)),
                "size": size_label(v.size_bytes),
                "created": when(v.created_at),
                "created_by": v.created_by,
            }
            for v in found.versions
        ],
        details={
            v.id: {
                "files": [{"path": f["path"], "size": size_label(f["size"]), "sha256": f["sha256"]} for f in v.files],
                "model_card": v.model_card,
                "parameters": pretty_json(v.parameters),
                "eval_results": pretty_json(v.eval_results),
                "train_data_source": v.train_data_source,
            }
            for v in found.versions
        },
        may_update=found.may_update,
        may_delete=found.may_delete,
        provided_by_platform=found.provided_by_platform,
    )


class ModelDetailState(LineageState):
    current_model: str = ""
    found: bool = True
    name: str = ""
    description: str = ""
    promoted: str = ""
    versions: list[dict[str, str]] = []
    selected_version: str = ""
    files: list[dict[str, str]] = []
    model_card: str = ""
    parameters: str = ""
    eval_results: str = ""
    train_data_source: str = ""
    diff_before: str = ""
    diff_after: str = ""
    diff_rows: list[dict[str, str]] = []
    diff_shown: bool = False
    may_update: bool = False
    may_delete: bool = False
    provided_by_platform: bool = False
    _details: dict[str, dict[str, Any]] = {}

    @rx.var
    def selected_label(self) -> str:
        return next((f"v{v['version']}" for v in self.versions if v["id"] == self.selected_version), "")

    @rx.event
    async def load(self) -> None:
        self.current_model = str(self.router.page.params.get("model_id", ""))
        self.diff_rows, self.diff_shown = [], False
        if self.signed_in and not self.must_change_password:
            await self._refresh(select_latest=True)

    async def _refresh(self, select_latest: bool = False) -> None:
        model_id = self.current_model
        self.found = False
        page = model_page(
            await self._as_user(lambda _rt, session, principal: views.model_page(session, principal, model_id))
        )
        self.found = True
        self.name, self.description, self.promoted = page.name, page.description, page.promoted
        self.versions, self._details = page.versions, page.details
        self.may_update, self.may_delete = page.may_update, page.may_delete
        self.provided_by_platform = page.provided_by_platform
        ids = [v["id"] for v in page.versions]
        if select_latest or self.selected_version not in ids:
            self.selected_version = ids[0] if ids else ""
        if self.diff_before not in ids or self.diff_after not in ids:
            self.diff_after = ids[0] if ids else ""
            self.diff_before = ids[1] if len(ids) > 1 else self.diff_after
            self.diff_rows, self.diff_shown = [], False
        await self._show_version()

    async def _show_version(self) -> None:
        detail = self._details.get(self.selected_version, {})
        self.files = detail.get("files", [])
        self.model_card = detail.get("model_card", "")
        self.parameters = detail.get("parameters", "")
        self.eval_results = detail.get("eval_results", "")
        self.train_data_source = detail.get("train_data_source", "")
        if self.selected_version:
            await self._load_lineage(lineage.Node("model_version", self.selected_version))
        else:
            self.lineage_rows, self.used_by = [], []

    @rx.event
    async def select_version(self, version_id: str) -> None:
        if version_id in self._details:
            self.selected_version = version_id
            await self._show_version()

    @rx.event
    def set_diff_before(self, version_id: str) -> None:
        self.diff_before, self.diff_shown = version_id, False

    @rx.event
    def set_diff_after(self, version_id: str) -> None:
        self.diff_after, self.diff_shown = version_id, False

    @rx.event
    async def compare(self) -> None:
        before, after = self.diff_before, self.diff_after
        changes = await self._as_user(
            lambda _rt, session, principal: model_registry.diff_parameters(session, principal, before, after)
        )
        self.diff_rows = [{"key": c.key, "before": _shown(c.before), "after": _shown(c.after)} for c in changes]
        self.diff_shown = True

    @rx.event
    async def promote(self, version_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(lambda _rt, session, principal: model_registry.promote(session, principal, version_id))
        await self._refresh()
        yield await success_toast(self, "assets.version_promoted")

    @rx.event
    async def retire(self, version_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(
            lambda _rt, session, principal: model_registry.set_status(session, principal, version_id, "retired")
        )
        await self._refresh()
        yield await success_toast(self, "assets.version_retired")

    @rx.event
    async def delete_version(self, version_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(
            lambda rt, session, principal: model_registry.delete_version(session, rt.objects, principal, version_id)
        )
        await self._refresh()
        yield await success_toast(self, "assets.version_deleted")


def _shown(value: Any) -> str:
    """A parameter value in the diff table; a key one side lacks is shown as a dash."""
    return "—" if value is None else str(value)
