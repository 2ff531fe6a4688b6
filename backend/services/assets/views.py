"""What the Assets pages read, one use case per page: the tenant's datasets, models and images with
the choices the upload forms offer (assets_overview), one dataset (dataset_page), one model
(model_page) and one version's lineage with readable names (lineage_view). Plain dataclasses,
a few queries each (no query per row)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from sqlmodel import Session, col, select

from backend.models import ContainerImage, Dataset, DatasetVersion, ModelAsset, ModelVersion
from backend.services.assets import datasets, images, lineage, model_registry
from backend.services.identity import platform_assets
from backend.services.identity.access import Principal, authorize, may
from backend.services.identity.permissions import Action, Area

TOKENIZER_MARKERS = frozenset({"tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt"})


@dataclass(frozen=True)
class ImageSummary:
    id: str
    reference: str
    purpose: str
    cuda_version: str
    framework: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class VersionOption:
    """A dataset or model version a form offers: its id and "name vN"."""

    id: str
    label: str


@dataclass(frozen=True)
class AssetsOverview:
    """The Assets page: empty (may_view False) for a role that may not see assets."""

    may_view: bool = False
    may_create: bool = False
    may_update: bool = False
    datasets: list[datasets.DatasetSummary] = field(default_factory=list)
    models: list[model_registry.ModelSummary] = field(default_factory=list)
    images: list[ImageSummary] = field(default_factory=list)
    tokenizers: list[VersionOption] = field(default_factory=list)  # model versions with tokenizer files
    dataset_versions: list[VersionOption] = field(default_factory=list)  # active ones, for "trained on"


@dataclass(frozen=True)
class DatasetPage:
    id: str
    name: str
    description: str
    created_by: str
    created_at: datetime
    versions: list[datasets.DatasetVersionInfo]  # newest first
    may_update: bool
    may_delete: bool


@dataclass(frozen=True)
class ModelPage:
    id: str
    name: str
    description: str
    promoted_version: int | None
    versions: list[model_registry.ModelVersionInfo]  # newest first
    may_update: bool
    may_delete: bool
    provided_by_platform: bool  # read-only here: no promote, retire or delete


@dataclass(frozen=True)
class LineageView:
    edges: list[lineage.Edge]
    labels: dict[tuple[str, str], str]  # (node type, id) → "name vN" or an image reference


def _owners(session: Session, tenant_id: str | None) -> list[str | None]:
    """The tenants whose models the caller reads: its own and the platform's."""
    platform_id = platform_assets.platform_tenant_id(session)
    return [tenant_id] if platform_id in (None, tenant_id) else [tenant_id, platform_id]


def _model_versions(
    session: Session, tenant_id: str | None, ids: set[str] | None = None
) -> list[tuple[str, ModelVersion]]:
    """(model name, version) for the caller's and the platform's models: the tenant's own first, by
    name, newest version first (the order of list_models and get_model)."""
    query = (
        select(ModelAsset.name, ModelAsset.tenant_id, ModelVersion)
        .join(ModelVersion, col(ModelVersion.model_id) == ModelAsset.id)
        .where(col(ModelAsset.tenant_id).in_(_owners(session, tenant_id)))
        .order_by(col(ModelAsset.name), col(ModelAsset.id), col(ModelVersion.version).desc())
    )
    if ids is not None:
        query = query.where(col(ModelVersion.id).in_(ids))
    rows = session.exec(query).all()
    return [(name, version) for name, owner, version in sorted(rows, key=lambda r: r[1] != tenant_id)]


def _dataset_versions(
    session: Session, tenant_id: str | None, ids: set[str] | None = None
) -> list[tuple[str, DatasetVersion]]:
    """(dataset name, version) for the tenant's datasets, by name, newest version first."""
    query = (
        select(Dataset.name, DatasetVersion)
        .join(DatasetVersion, col(DatasetVersion.dataset_id) == Dataset.id)
        .where(Dataset.tenant_id == tenant_id)
        .order_by(col(Dataset.name), col(Dataset.id), col(DatasetVersion.version).desc())
    )
    if ids is not None:
        query = query.where(col(DatasetVersion.id).in_(ids))
    return list(session.exec(query).all())


def _has_tokenizer(version: ModelVersion) -> bool:
    return bool({PurePosixPath(f["path"]).name for f in version.files} & TOKENIZER_MARKERS)


def assets_overview(
    session: Session,
    principal: Principal,
    *,
    dataset_search: str = "",
    dataset_shape: str = "",
    model_search: str = "",
    model_status: str = "",
    image_search: str = "",
    image_purpose: str = "",
) -> AssetsOverview:
    """The tenant's datasets, models and images as filtered, and what the upload forms offer."""
    if not may(session, principal, Area.ASSETS, Action.VIEW):
        return AssetsOverview()  # the page says why; nothing to refuse (and audit) here
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    return AssetsOverview(
        may_view=True,
        may_create=may(session, principal, Area.ASSETS, Action.CREATE),
        may_update=may(session, principal, Area.ASSETS, Action.UPDATE),
        datasets=datasets.list_datasets(session, principal, dataset_search, dataset_shape),
        models=model_registry.list_models(session, principal, model_search, model_status),
        images=[
            ImageSummary(i.id, i.reference, i.purpose, i.cuda_version, i.framework, i.status, i.created_at)
            for i in images.list_images(session, principal, image_purpose, image_search)
        ],
        tokenizers=[
            VersionOption(version.id, f"{name} v{version.version}")
            for name, version in _model_versions(session, tenant_id)
            if version.status != "retired"
            and {PurePosixPath(f["path"]).name for f in version.files} & TOKENIZER_MARKERS
        ],
        dataset_versions=[
            VersionOption(version.id, f"{name} v{version.version}")
            for name, version in _dataset_versions(session, tenant_id)
            if version.status == "active"
        ],
    )


def dataset_page(session: Session, principal: Principal, dataset_id: str) -> DatasetPage:
    dataset, versions = datasets.get_dataset(session, principal, dataset_id)
    return DatasetPage(
        id=dataset.id,
        name=dataset.name,
        description=dataset.description,
        created_by=dataset.created_by,
        created_at=dataset.created_at,
        versions=[datasets.version_info(v) for v in versions],
        may_update=may(session, principal, Area.ASSETS, Action.UPDATE),
        may_delete=may(session, principal, Area.ASSETS, Action.DELETE),
    )


def model_page(session: Session, principal: Principal, model_id: str) -> ModelPage:
    model, versions = model_registry.get_model(session, principal, model_id)
    provided = platform_assets.is_platform_owned(session, model.tenant_id)
    return ModelPage(
        id=model.id,
        name=model.name,
        description=model.description,
        promoted_version=model.promoted_version,
        versions=[model_registry.version_info(v) for v in versions],
        may_update=not provided and may(session, principal, Area.ASSETS, Action.UPDATE),
        may_delete=not provided and may(session, principal, Area.ASSETS, Action.DELETE),
        provided_by_platform=provided,
    )


def lineage_view(session: Session, principal: Principal, node: lineage.Node) -> LineageView:
    """Every edge within four steps of ``node``, with names for the dataset versions, model versions
    and images at their ends (the caller's own and the platform's models; others keep no name)."""
    edges = lineage.graph(session, principal, node)
    if not edges:
        return LineageView([], {})
    tenant_id = authorize(session, principal, Area.ASSETS, Action.VIEW)
    wanted: dict[str, set[str]] = {}
    for edge in edges:
        for end in (edge.source, edge.target):
            wanted.setdefault(end.type, set()).add(end.id)
    labels: dict[tuple[str, str], str] = {}
    if "dataset_version" in wanted:
        for name, dataset_version in _dataset_versions(session, tenant_id, wanted["dataset_version"]):
            labels[("dataset_version", dataset_version.id)] = f"{name} v{dataset_version.version}"
    if "model_version" in wanted:
        for name, model_version in _model_versions(session, tenant_id, wanted["model_version"]):
            labels[("model_version", model_version.id)] = f"{name} v{model_version.version}"
    if "image" in wanted:
        found = session.exec(
            select(ContainerImage.id, ContainerImage.reference).where(
                ContainerImage.tenant_id == tenant_id, col(ContainerImage.id).in_(wanted["image"])
            )
        ).all()
        labels |= {("image", image_id): reference for image_id, reference in found}
    return LineageView(edges, labels)
