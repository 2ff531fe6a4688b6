"""Clusters the platform runs work on (source §2.4 deployment cluster management): this host
(CPU, memory, GPUs through NVML) and, when configured, a Kubernetes cluster (nodes, their GPU
capacity and readiness), with a connection test that says which step failed and what to do.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from sqlmodel import Session

from backend.adapters.gpus import read_gpus
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area
from backend.settings import Settings


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ready: bool
    cpu: float
    memory_gb: float
    gpus: int
    gpu_type: str
    detail: str = ""


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    kind: str  # local | kubernetes
    reachable: bool
    detail: str
    nodes: list[NodeInfo] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str
    remedy: str = ""


def _local() -> ClusterInfo:
    inventory = read_gpus()
    gpu_types = sorted({g.name for g in inventory.gpus})
    node = NodeInfo(
        name=socket.gethostname(),
        ready=True,
        cpu=float(os.cpu_count() or 1),
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        gpus=len(inventory.gpus),
        gpu_type=", ".join(gpu_types),
        detail=f"driver {inventory.driver}" if inventory.available else inventory.driver,
    )
    return ClusterInfo("local", "local", True, "this host", [node])


def _kube_nodes(settings: Settings) -> list[NodeInfo]:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=settings.kubeconfig) if settings.kubeconfig else None
    if api is None:
        config.load_incluster_config()
        api = client.ApiClient()
    with api:
        found = []
        for node in client.CoreV1Api(api).list_node(_request_timeout=5).items:
            capacity = node.status.capacity or {}
            labels = node.metadata.labels or {}
            ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
            memory = str(capacity.get("memory", "0Ki"))
            found.append(
                NodeInfo(
                    name=node.metadata.name,
                    ready=ready,
                    cpu=float(str(capacity.get("cpu", "0")).rstrip("m") or 0),
                    memory_gb=round(int(memory.rstrip("Ki") or 0) / 2**20, 1) if memory.endswith("Ki") else 0.0,
                    gpus=int(capacity.get("nvidia.com/gpu", 0)),
                    gpu_type=labels.get("nvidia.com/gpu.product", ""),
                )
            )
        return found


def list_clusters(session: Session, principal: Principal, settings: Settings) -> list[ClusterInfo]:
    authorize(session, principal, Area.ORCHESTRATION, Action.VIEW)
    clusters = [_local()]
    if settings.compute_backend == "kubernetes" or settings.kubeconfig:
        steps = _kubernetes_steps(settings)
        if all(s.ok for s in steps):
            clusters.append(ClusterInfo("kubernetes", "kubernetes", True, steps[-1].detail, _kube_nodes(settings)))
        else:
            failed = next(s for s in steps if not s.ok)
            clusters.append(ClusterInfo("kubernetes", "kubernetes", False, f"{failed.name}: {failed.detail}"))
    return clusters


def _kubernetes_steps(settings: Settings) -> list[Step]:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    steps: list[Step] = []
    if settings.kubeconfig:
        path = Path(settings.kubeconfig).expanduser()
        if not path.is_file():
            return [
                Step("kubeconfig", False, f"{path} does not exist", "Set MEDAI_KUBECONFIG to a readable kubeconfig.")
            ]
        try:
            api = config.new_client_from_config(config_file=str(path))
        except (ConfigException, ValueError, OSError) as error:
            return [
                Step("kubeconfig", False, f"cannot be read: {error}", "Check the file's cluster, user and context.")
            ]
        steps.append(Step("kubeconfig", True, f"read {path}"))
    else:
        try:
            config.load_incluster_config()
        except ConfigException as error:
            return [
                Step(
                    "in-cluster config",
                    False,
                    str(error),
                    "Run the platform in a pod with a service account, or set MEDAI_KUBECONFIG.",
                )
            ]
        api = client.ApiClient()
        steps.append(Step("in-cluster config", True, "service account found"))
    with api:
        try:
            version = client.VersionApi(api).get_code(_request_timeout=5)
        except Exception as error:  # every transport error explains itself to the admin
            steps.append(
                Step(
                    "API server",
                    False,
                    f"not reachable: {type(error).__name__}: {str(error)[:200]}",
                    "Check the server address in the kubeconfig, the network path and the certificates.",
                )
            )
            return steps
        steps.append(Step("API server", True, f"Kubernetes {version.git_version}"))
        try:
            client.CoreV1Api(api).read_namespace(settings.k8s_namespace, _request_timeout=5)
        except Exception as error:
            steps.append(
                Step(
                    "namespace",
                    False,
                    f"'{settings.k8s_namespace}': {str(error)[:200]}",
                    "Create the namespace or set MEDAI_K8S_NAMESPACE; give the account access to it.",
                )
            )
            return steps
        steps.append(Step("namespace", True, f"'{settings.k8s_namespace}' exists"))
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    namespace=settings.k8s_namespace, verb="create", group="batch", resource="jobs"
                )
            )
        )
        allowed = client.AuthorizationV1Api(api).create_self_subject_access_review(review).status.allowed
        steps.append(
            Step(
                "permissions",
                bool(allowed),
                "may create Jobs" if allowed else "may not create Jobs",
                "" if allowed else "Bind the account to the Role in deploy/kubernetes/medai-studio.yaml.",
            )
        )
    return steps


def test_connection(session: Session, principal: Principal, settings: Settings) -> list[Step]:
    """Each step of reaching the compute backend, in order, stopping at the first that fails."""
    authorize(session, principal, Area.ORCHESTRATION, Action.VIEW)
    if settings.compute_backend != "kubernetes" and not settings.kubeconfig:
        local = _local()
        node = local.nodes[0]
        return [
            Step("local host", True, f"{node.cpu:g} CPU cores, {node.memory_gb} GiB, {node.gpus} GPU(s); {node.detail}")
        ]
    return _kubernetes_steps(settings)
