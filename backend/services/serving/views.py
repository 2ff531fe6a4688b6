"""What the serving pages read, each in one transaction: the Deploy page's overview (the tenant's
services with replicas, gateway figures and recent traffic, the platform's services, the model
versions to deploy) and one service in full (replicas, the model's versions, usage per key).

Use cases return plain dataclasses; the UI state turns them into its vars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from backend.models import Deployment, ModelAsset, ModelVersion, Replica
from backend.services.identity import platform_assets
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from backend.services.serving import deployments, gateway

DEPLOYABLE_FORMATS = ("safetensors", "pytorch-bin")


@dataclass(frozen=True)
class VersionLabel:
    """A model version of the tenant (or provided by the platform) as the serving pages name it."""

    id: str
    model_id: str
    model: str
    version: int
    format: str
    status: str
    provided_by_platform: bool
    created_at: datetime

    @property
    def label(self) -> str:
        return f"{self.model} v{self.version}"


def version_labels(session: Session, principal: Principal) -> dict[str, VersionLabel]:
    """Every model version the caller may read, by id: the tenant's own models first, then the
    platform's, each by name, newest version first. Empty without rights on the model assets."""
    if not may(session, principal, Area.ASSETS, Action.VIEW):
        return {}
    tenant_id = principal.tenant_id
    platform_id = platform_assets.platform_tenant_id(session)  # its models are every tenant's to read
    owners = [tenant_id] if platform_id in (None, tenant_id) else [tenant_id, platform_id]
    rows = session.exec(
        select(ModelAsset, ModelVersion)
        .join(ModelVersion, ModelVersion.model_id == ModelAsset.id)  # type: ignore[arg-type]
        .where(ModelAsset.tenant_id.in_(owners))  # type: ignore[attr-defined]
        .order_by(ModelAsset.name, ModelAsset.id, ModelVersion.version.desc())  # type: ignore[attr-defined]
    ).all()
    found = [
        VersionLabel(v.id, m.id, m.name, v.version, v.format, v.status, m.tenant_id != tenant_id, v.created_at)
        for m, v in rows
    ]
    return {v.id: v for v in sorted(found, key=lambda v: v.provided_by_platform)}  # stable: names stay in order


@dataclass(frozen=True)
class Service:
    """One model service's settings and state."""

    id: str
    name: str
    status: str
    reason: str
    engine: str
    gpus: int
    cpu: float
    memory_gb: float
    replicas: int  # wanted
    max_model_len: int
    requests_per_minute: int
    engine_args: tuple[str, ...]
    model_version_id: str
    previous_model_version_id: str
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, d: Deployment) -> Service:
        return cls(
            d.id,
            d.name,
            d.status,
            d.reason,
            d.engine,
            d.gpus,
            d.cpu,
            d.memory_gb,
            d.replicas,
            d.max_model_len,
            d.requests_per_minute,
            tuple(d.engine_args or ()),
            d.model_version_id,
            d.previous_model_version_id or "",
            d.created_by,
            d.created_at,
        )


@dataclass(frozen=True)
class ReplicaInfo:
    ordinal: int
    status: str
    model_version_id: str
    restarts: int
    started_at: datetime | None
    ready_at: datetime | None
    reason: str  # while it starts, the last line it logged; else why it left the routes


@dataclass
class ModelUsage:
    """A model's gateway figures over all keys (the last day)."""

    requests: int = 0
    tokens: int = 0
    errors: int = 0
    latency_ms: float = 0.0  # the request-weighted mean


def usage_by_model(rows: list[gateway.UsageRow]) -> dict[str, ModelUsage]:
    """Gateway figures per model over all keys; latency is the request-weighted mean."""
    found: dict[str, ModelUsage] = {}
    for row in rows:
        total = found.setdefault(row.model, ModelUsage())
        weighted = total.latency_ms * total.requests + row.mean_latency_ms * row.requests
        total.requests += row.requests
        total.tokens += row.prompt_tokens + row.completion_tokens
        total.errors += row.errors
        total.latency_ms = round(weighted / total.requests, 1) if total.requests else 0.0
    return found


@dataclass(frozen=True)
class ServiceSummary:
    """A service as the Deploy list shows it."""

    service: Service
    ready: int  # ready replicas on the service's current version
    usage: ModelUsage
    traffic: gateway.Traffic | None  # the last 30 minutes, per minute


@dataclass
class ServiceList:
    """The tenant's services, the platform's, and the labels of the versions they serve."""

    services: list[ServiceSummary] = field(default_factory=list)
    platform_services: list[Service] = field(default_factory=list)
    labels: dict[str, VersionLabel] = field(default_factory=dict)


def service_list(session: Session, principal: Principal) -> ServiceList:
    """The tenant's services with their ready replicas, gateway figures and recent traffic, and
    the platform's services (as the Deploy page refreshes them)."""
    figures = usage_by_model(gateway.usage(session, principal))
    recent = {t.model: t for t in gateway.traffic(session, principal)}
    own = deployments.list_deployments(session, principal)
    ready_on: dict[str, int] = {}
    if own:
        current = {d.id: d.model_version_id for d in own}
        ready = session.exec(
            select(Replica.deployment_id, Replica.model_version_id).where(
                Replica.deployment_id.in_(list(current)),  # type: ignore[attr-defined]
                Replica.status == "ready",
            )
        ).all()
        for deployment_id, version_id in ready:
            if current[deployment_id] == version_id:
                ready_on[deployment_id] = ready_on.get(deployment_id, 0) + 1
    return ServiceList(
        services=[
            ServiceSummary(Service.of(d), ready_on.get(d.id, 0), figures.get(d.name, ModelUsage()), recent.get(d.name))
            for d in own
        ],
        platform_services=[Service.of(d) for d in platform_assets.list_platform_services(session, principal)],
        labels=version_labels(session, principal),
    )


@dataclass
class Overview:
    """The Deploy page: what the caller may do, the services, and the versions it may deploy."""

    may_view: bool = False
    may_deploy: bool = False
    may_see_clusters: bool = False
    may_manage_platform: bool = False  # a platform admin: starts and stops the platform's services
    services: ServiceList = field(default_factory=ServiceList)
    deployable: list[VersionLabel] = field(default_factory=list)  # the tenant's own first


def overview(session: Session, principal: Principal) -> Overview:
    found = Overview(
        may_view=may(session, principal, Area.SERVING, Action.VIEW),
        may_deploy=may(session, principal, Area.SERVING, Action.DEPLOY),
        may_see_clusters=may(session, principal, Area.ORCHESTRATION, Action.VIEW),
        may_manage_platform=may(session, principal, Area.PLATFORM, Action.UPDATE),
    )
    if not found.may_view:
        return found
    found.services = service_list(session, principal)
    found.deployable = [
        v for v in found.services.labels.values() if v.status != "retired" and v.format in DEPLOYABLE_FORMATS
    ]
    return found


@dataclass
class ServiceDetail:
    """One service in full, for its page."""

    may_deploy: bool
    service: Service
    replicas: list[ReplicaInfo]
    labels: dict[str, VersionLabel]  # the versions its replicas serve, among others
    versions: list[VersionLabel]  # the versions of the model it serves, newest first
    usage: list[gateway.UsageRow]  # per key, the last day
    base_url: str  # where clients send /v1 requests


def service_detail(session: Session, principal: Principal, deployment_id: str, public_url: str) -> ServiceDetail:
    deployment, replicas = deployments.get_deployment(session, principal, deployment_id)
    labels = version_labels(session, principal)
    current = labels.get(deployment.model_version_id)
    return ServiceDetail(
        may_deploy=may(session, principal, Area.SERVING, Action.DEPLOY),
        service=Service.of(deployment),
        replicas=[
            ReplicaInfo(r.ordinal, r.status, r.model_version_id, r.restarts, r.started_at, r.ready_at, r.reason)
            for r in replicas
        ],
        labels=labels,
        versions=[v for v in labels.values() if current is not None and v.model_id == current.model_id],
        usage=gateway.usage(session, principal, None, deployment.name),
        base_url=public_url.rstrip("/") + "/v1",
    )
