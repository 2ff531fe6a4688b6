"""/api/deployments (model services: deploy, update, rollback, scale, stop, logs) and
/api/usage (gateway metering)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict

from backend.api.auth import CurrentPrincipal, RuntimeDep
from backend.api.dependencies import SessionDep
from backend.services.identity import platform_assets
from backend.services.orchestration import clusters
from backend.services.serving import deployments as serving
from backend.services.serving import gateway, starter_model

router = APIRouter(prefix="/api", tags=["serving"])


class NewDeployment(BaseModel):
    name: str
    model_version_id: str
    engine: str = "local"
    replicas: int = 1
    gpus: int = 0
    cpu: float = 2.0
    memory_gb: float = 8.0
    max_model_len: int = 2048
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    standby: str = ""
    requests_per_minute: int = 0


class ReplicaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    ordinal: int
    model_version_id: str
    status: str
    restarts: int
    started_at: datetime
    ready_at: datetime | None


class DeploymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    model_version_id: str
    previous_model_version_id: str | None
    engine: str
    replicas: int
    gpus: int
    cpu: float
    memory_gb: float
    max_model_len: int
    status: str
    reason: str
    standby_deployment_id: str | None
    requests_per_minute: int
    shared: bool = False  # a platform service every tenant may call (the starter model)
    created_by: str
    created_at: datetime


class DeploymentDetail(BaseModel):
    deployment: DeploymentOut
    replicas: list[ReplicaOut]


class VersionChoice(BaseModel):
    model_version_id: str


class ReplicaCount(BaseModel):
    replicas: int


@router.get("/deployments", response_model=list[DeploymentOut])
def get_deployments(principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [DeploymentOut.model_validate(d) for d in serving.list_deployments(session, principal)]


@router.post("/deployments", response_model=DeploymentOut, status_code=201)
def post_deployment(body: NewDeployment, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """Deploy a model version; the controller starts its replicas and marks it ready."""
    return DeploymentOut.model_validate(serving.deploy(session, principal, serving.DeploySpec(**body.model_dump())))


@router.get("/platform-services", response_model=list[DeploymentOut])
def get_platform_services(principal: CurrentPrincipal, session: SessionDep) -> Any:
    """The platform's own services every tenant may call by name (the starter model, ``starter``)."""
    return [DeploymentOut.model_validate(d) for d in platform_assets.list_platform_services(session, principal)]


@router.post("/platform-services/{deployment_id}/scale", response_model=DeploymentOut)
def post_platform_service_scale(
    deployment_id: str, body: ReplicaCount, principal: CurrentPrincipal, session: SessionDep
) -> Any:
    """Platform admins only: scale a platform service (0 stops it; it stays stopped across restarts)."""
    return DeploymentOut.model_validate(
        starter_model.scale_platform_service(session, principal, deployment_id, body.replicas)
    )


@router.get("/deployments/{deployment_id}", response_model=DeploymentDetail)
def get_deployment(deployment_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    deployment, replicas = serving.get_deployment(session, principal, deployment_id)
    return DeploymentDetail(
        deployment=DeploymentOut.model_validate(deployment),
        replicas=[ReplicaOut.model_validate(r) for r in replicas],
    )


@router.post("/deployments/{deployment_id}/version", response_model=DeploymentOut)
def post_version(deployment_id: str, body: VersionChoice, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """Rolling update to another version of the model."""
    updated = serving.update_version(session, principal, deployment_id, body.model_version_id)
    return DeploymentOut.model_validate(updated)


@router.post("/deployments/{deployment_id}/rollback", response_model=DeploymentOut)
def post_rollback(deployment_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return DeploymentOut.model_validate(serving.rollback(session, principal, deployment_id))


@router.post("/deployments/{deployment_id}/scale", response_model=DeploymentOut)
def post_scale(deployment_id: str, body: ReplicaCount, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return DeploymentOut.model_validate(serving.scale(session, principal, deployment_id, body.replicas))


@router.delete("/deployments/{deployment_id}", response_model=DeploymentOut)
def delete_deployment(deployment_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """Stop the service; the controller removes it once its replicas are gone."""
    return DeploymentOut.model_validate(serving.delete_deployment(session, principal, deployment_id))


@router.get("/deployments/{deployment_id}/log", response_class=PlainTextResponse)
def get_deployment_log(
    deployment_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep, ordinal: int = 0
) -> str:
    """The last lines a replica wrote."""
    return serving.replica_log(session, principal, rt.compute, deployment_id, ordinal)


@router.get("/usage", response_model=list[gateway.UsageRow])
def get_usage(principal: CurrentPrincipal, session: SessionDep, since: datetime | None = None, model: str = "") -> Any:
    """Gateway requests, tokens, errors and latency per model and key for the acting tenant."""
    return gateway.usage(session, principal, since, model)


@router.get("/clusters", response_model=list[clusters.ClusterInfo])
def get_clusters(principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    """This host and the configured Kubernetes cluster, with nodes and GPU inventory."""
    return clusters.list_clusters(session, principal, rt.settings)


@router.post("/clusters/test", response_model=list[clusters.Step])
def post_cluster_test(principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    """Reach the compute backend step by step; the first failing step says what to fix."""
    return clusters.test_connection(session, principal, rt.settings)
