"""The platform's own Kubernetes manifests parse into the official client's models."""

import json
from pathlib import Path
from types import SimpleNamespace

import yaml
from kubernetes import client

ROOT = Path(__file__).resolve().parents[2]
KINDS = {
    "ServiceAccount": "V1ServiceAccount",
    "Role": "V1Role",
    "RoleBinding": "V1RoleBinding",
    "PersistentVolumeClaim": "V1PersistentVolumeClaim",
    "Deployment": "V1Deployment",
    "Service": "V1Service",
}


def _load() -> list:
    api = client.ApiClient()
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "medai-studio.yaml").read_text()))
    # deserialize() reads a REST response's .data, as it does for answers from a cluster
    return [(doc, api.deserialize(SimpleNamespace(data=json.dumps(doc)), KINDS[doc["kind"]])) for doc in documents]


def test_every_document_is_a_known_kind_in_one_namespace():
    loaded = _load()
    assert {doc["kind"] for doc, _ in loaded} == set(KINDS)
    assert {obj.metadata.namespace for _, obj in loaded} == {"medai"}


def test_deployment_probes_the_platform_health_and_matches_its_service():
    objects = {doc["kind"]: obj for doc, obj in _load()}
    deployment, service = objects["Deployment"], objects["Service"]
    container = deployment.spec.template.spec.containers[0]
    assert container.readiness_probe.http_get.path == "/api/health"
    assert container.ports[0].container_port == 3000
    assert deployment.spec.selector.match_labels == deployment.spec.template.metadata.labels
    assert service.spec.selector == deployment.spec.template.metadata.labels
    assert deployment.spec.template.spec.service_account_name == objects["ServiceAccount"].metadata.name
