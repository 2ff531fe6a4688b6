"""Job attempts as Kubernetes Jobs (batch/v1) through the official client.

One Job per attempt: GPUs as ``nvidia.com/gpu`` limits, the pool's node selector and
tolerations, the ``kueue.x-k8s.io/queue-name`` label when Kueue admits the pool's work
(the Job is then created suspended and Kueue unsuspends it), several GPUs through torchrun.
The worker gets its spec in an environment variable and reaches object storage and the
metrics store with the credentials of the ``medai-worker-env`` Secret.

No kube-apiserver runs on the development machines: manifests are checked against the
official OpenAPI schema (kubernetes-validate) in the tests; the API calls are not exercised.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from backend.adapters.compute import Launch, RunState, ServerLaunch
from backend.adapters.compute.ide import IDE_PORT, IdeLaunch, workbench_manifests
from backend.contracts.serving import ServeSpec, vllm_args
from backend.settings import Settings

WORKER_SECRET = "medai-worker-env"  # noqa: S105 (the name of a Kubernetes Secret, not a secret)
MANAGED_BY = "medai-studio"


def job_name(launch: Launch) -> str:
    return f"medai-train-{launch.job_id[:20]}-{launch.attempt}"


def job_manifest(launch: Launch, namespace: str, image: str) -> dict[str, Any]:
    """The batch/v1 Job for one attempt, as a plain dict (validated in tests)."""
    name = job_name(launch)
    limits: dict[str, str] = {"cpu": f"{launch.cpu:g}", "memory": f"{int(launch.memory_gb * 1024)}Mi"}
    if launch.gpus:
        limits["nvidia.com/gpu"] = str(launch.gpus)
    command = (
        ["torchrun", "--standalone", f"--nproc_per_node={launch.gpus}", "-m", "backend.workers.train", "-"]
        if launch.gpus > 1
        else ["python", "-m", "backend.workers.train", "-"]
    )
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "medai/job-id": launch.job_id,
        "medai/attempt": str(launch.attempt),
    }
    if launch.kueue_queue:
        labels["kueue.x-k8s.io/queue-name"] = launch.kueue_queue
    node_selector = dict(launch.node_selector)
    if launch.gpu_type and launch.gpus:
        node_selector.setdefault("nvidia.com/gpu.product", launch.gpu_type)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "train",
                "image": image,
                "command": command,
                "env": [
                    {"name": "MEDAI_TRAIN_SPEC", "value": launch.spec_json},
                    {"name": "MEDAI_DATA_DIR", "value": "/workspace"},
                    {"name": "HF_HUB_OFFLINE", "value": "1"},
                ],
                "envFrom": [{"secretRef": {"name": WORKER_SECRET}}],
                "resources": {"limits": limits, "requests": dict(limits)},
                "volumeMounts": [
                    {"name": "workspace", "mountPath": "/workspace"},
                    {"name": "shm", "mountPath": "/dev/shm"},  # noqa: S108 (shared memory for data loaders)
                ],
            }
        ],
        "volumes": [
            {"name": "workspace", "emptyDir": {}},
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}},
        ],
    }
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if launch.tolerations:
        pod_spec["tolerations"] = list(launch.tolerations)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,  # retries are the platform's decision, from the last checkpoint
            "ttlSecondsAfterFinished": 86400,
            "suspend": bool(launch.kueue_queue),
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


class KubernetesCompute:
    backend = "kubernetes"

    def __init__(self, settings: Settings) -> None:
        self._kubeconfig = settings.kubeconfig
        self._namespace = settings.k8s_namespace
        self._image = settings.training_image
        self._vllm_images = {True: settings.vllm_image, False: settings.vllm_cpu_image}  # by: has GPUs
        self._start_timeout_s = settings.replica_start_timeout_s
        self._clients: tuple[Any, Any] | None = None

    def _api(self) -> tuple[Any, Any]:
        """(BatchV1Api, CoreV1Api), configured on first use so the app starts even when the cluster is away."""
        if self._clients is None:
            from kubernetes import client, config

            if self._kubeconfig:
                config.load_kube_config(config_file=self._kubeconfig)
            else:
                config.load_incluster_config()
            self._clients = (client.BatchV1Api(), client.CoreV1Api())
        return self._clients

    @property
    def _batch(self) -> Any:
        return self._api()[0]

    @property
    def _core(self) -> Any:
        return self._api()[1]

    def start(self, launch: Launch) -> str:
        manifest = job_manifest(launch, self._namespace, self._image)
        self._batch.create_namespaced_job(self._namespace, manifest)
        return manifest["metadata"]["name"]

    def state(self, ref: str) -> RunState:
        from kubernetes.client.exceptions import ApiException

        if ref.startswith("deployment/"):
            return self._server_state(ref.removeprefix("deployment/"))
        if ref.startswith("workbench/"):
            return self._ide_state(ref.removeprefix("workbench/"))
        try:
            job = self._batch.read_namespaced_job_status(ref, self._namespace)
        except ApiException as error:
            if error.status == 404:
                return RunState("missing")
            raise
        status = job.status
        if status.succeeded:
            return RunState("exited", 0)
        if status.failed:
            reason = next((c.message for c in (status.conditions or []) if c.type == "Failed"), "")
            return RunState("exited", 1, reason or "the pod failed")
        if job.spec.suspend:
            return RunState("running", detail="waiting for Kueue to admit it")
        return RunState("running")

    def _server_state(self, name: str) -> RunState:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            found = client.AppsV1Api().read_namespaced_deployment_status(name, self._namespace)
        except ApiException as error:
            if error.status == 404:
                return RunState("missing")
            raise
        ready = found.status.ready_replicas or 0
        return RunState("running", detail="ready" if ready else "waiting for the pod to become ready")

    def cancel(self, ref: str) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        if ref.startswith("workbench/"):  # the claim stays: the workbench's files outlive its Pod
            name = ref.removeprefix("workbench/")
            core = self._core
            for delete in (core.delete_namespaced_pod, core.delete_namespaced_service, core.delete_namespaced_secret):
                try:
                    delete(name, self._namespace)
                except ApiException as error:
                    if error.status != 404:
                        raise
            return
        if ref.startswith("deployment/"):
            name = ref.removeprefix("deployment/")
            for delete in (client.AppsV1Api().delete_namespaced_deployment, self._core.delete_namespaced_service):
                try:
                    delete(name, self._namespace)
                except ApiException as error:
                    if error.status != 404:
                        raise
            return
        try:
            self._batch.delete_namespaced_job(ref, self._namespace, propagation_policy="Foreground")
        except ApiException as error:
            if error.status != 404:
                raise

    def start_server(self, launch: ServerLaunch) -> tuple[str, str]:
        from kubernetes import client

        image = self._vllm_images[launch.gpus > 0]
        deployment, service = server_manifests(launch, self._namespace, image, self._image, self._start_timeout_s)
        client.AppsV1Api().create_namespaced_deployment(self._namespace, deployment)
        self._core.create_namespaced_service(self._namespace, service)
        name = deployment["metadata"]["name"]
        return f"deployment/{name}", f"http://{name}.{self._namespace}.svc:8000"

    def start_ide(self, launch: IdeLaunch) -> tuple[str, str]:
        """The workbench's claim (made once), its token Secret, Pod and Service."""
        from kubernetes.client.exceptions import ApiException

        manifests = workbench_manifests(launch, self._namespace)
        try:
            self._core.create_namespaced_persistent_volume_claim(self._namespace, manifests["claim"])
        except ApiException as error:
            if error.status != 409:  # it exists from an earlier start: keep its files
                raise
        self._core.create_namespaced_secret(self._namespace, manifests["secret"])
        self._core.create_namespaced_pod(self._namespace, manifests["pod"])
        self._core.create_namespaced_service(self._namespace, manifests["service"])
        name = manifests["pod"]["metadata"]["name"]
        return f"workbench/{name}", f"http://{name}.{self._namespace}.svc:{IDE_PORT}"

    def _ide_state(self, name: str) -> RunState:
        from kubernetes.client.exceptions import ApiException

        try:
            pod = self._core.read_namespaced_pod_status(name, self._namespace)
        except ApiException as error:
            if error.status == 404:
                return RunState("missing")
            raise
        phase = pod.status.phase or "Pending"
        if phase in ("Succeeded", "Failed"):
            return RunState("exited", 0 if phase == "Succeeded" else 1, pod.status.message or phase.lower())
        return RunState("running", detail="" if phase == "Running" else "waiting for the pod to be scheduled")

    def log_tail(self, ref: str, lines: int = 200) -> str:
        return self._pod_log(ref, with_fetch=True, tail_lines=lines)

    def read_log(self, ref: str, offset: int) -> tuple[str, int]:
        """The pod's log after character ``offset`` (the API has no byte offsets: it reads the whole log)."""
        whole = self._whole_log(ref)
        end = whole.rfind("\n", offset) + 1
        return (whole[offset:end], end) if end > offset else ("", offset)

    def _whole_log(self, ref: str) -> str:
        return self._pod_log(ref, with_fetch=False)  # read at offsets: one container's log only

    def _pod_log(self, ref: str, with_fetch: bool, **options: Any) -> str:
        """The log of the newest pod behind ``ref``: a model service's vLLM container, or (``with_fetch``)
        its model fetch while vLLM has not started; "" while nothing has started."""
        from kubernetes.client.exceptions import ApiException

        containers: tuple[str | None, ...] = (None,)
        if ref.startswith("workbench/"):
            pod = ref.removeprefix("workbench/")
        else:
            selector = f"job-name={ref}"
            if ref.startswith("deployment/"):
                selector = f"app.kubernetes.io/name={ref.removeprefix('deployment/')}"
                containers = ("vllm", "fetch-model") if with_fetch else ("vllm",)
            pods = self._core.list_namespaced_pod(self._namespace, label_selector=selector).items
            if not pods:
                return ""
            pod = max(pods, key=lambda p: p.metadata.creation_timestamp).metadata.name
        for container in containers:
            named = {"container": container} if container else {}
            try:
                return self._core.read_namespaced_pod_log(pod, self._namespace, **named, **options)
            except ApiException as error:
                if error.status != 400:  # 400: that container has not started yet
                    raise
        return ""


def service_name(launch: ServerLaunch) -> str:
    return f"medai-svc-{launch.deployment_id[:20]}-{launch.ordinal}"


def server_manifests(
    launch: ServerLaunch, namespace: str, vllm_image: str, platform_image: str, start_timeout_s: float
) -> list[dict[str, Any]]:
    """An apps/v1 Deployment (one pod: an init container fetches the model from object storage,
    the vllm-openai container serves it) and the Service in front of it. The startup probe gives
    vLLM the platform's start window and a minute more (the controller replaces a replica that
    overruns it, with the reason); liveness checks begin only once it has answered."""
    name = service_name(launch)
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "medai/deployment-id": launch.deployment_id,
        "medai/replica": str(launch.ordinal),
        "app.kubernetes.io/name": name,
    }
    limits: dict[str, str] = {"cpu": f"{launch.cpu:g}", "memory": f"{int(launch.memory_gb * 1024)}Mi"}
    if launch.gpus:
        limits["nvidia.com/gpu"] = str(launch.gpus)
    probe = {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10, "failureThreshold": 3}
    spec = json.loads(launch.spec_json)
    spec.update(host="0.0.0.0", port=8000, workdir="/models")  # noqa: S104 (inside the pod)
    pod: dict[str, Any] = {
        "initContainers": [
            {
                "name": "fetch-model",
                "image": platform_image,
                "command": ["python", "-m", "backend.workers.serve", "--fetch-only", "-"],
                "env": [{"name": "MEDAI_SERVE_SPEC", "value": json.dumps(spec)}],
                "envFrom": [{"secretRef": {"name": WORKER_SECRET}}],
                "volumeMounts": [{"name": "models", "mountPath": "/models"}],
            }
        ],
        "containers": [
            {
                "name": "vllm",
                "image": vllm_image,
                "args": vllm_args(ServeSpec(**spec), Path("/models/model")),
                "ports": [{"name": "http", "containerPort": 8000}],
                "resources": {"limits": limits, "requests": dict(limits)},
                "startupProbe": {**probe, "failureThreshold": math.ceil(start_timeout_s / 10) + 6},
                "readinessProbe": {**probe, "periodSeconds": 5},
                "livenessProbe": probe,
                "volumeMounts": [{"name": "models", "mountPath": "/models"}, {"name": "shm", "mountPath": "/dev/shm"}],  # noqa: S108
            }
        ],
        "volumes": [
            {"name": "models", "emptyDir": {}},
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
        ],
    }  # fmt: skip
    if launch.node_selector:
        pod["nodeSelector"] = dict(launch.node_selector)
    if launch.tolerations:
        pod["tolerations"] = list(launch.tolerations)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 8000, "targetPort": 8000}],
        },
    }
    return [deployment, service]
