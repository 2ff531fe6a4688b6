"""Operations over REST: a tenant key with the logs:read scope queries /api/logs (source §3.4)
and nothing else; metrics and GPU inventory; a work order approved over REST runs its action."""

import pytest
from fastapi.testclient import TestClient

from backend.adapters.gpus import read_gpus
from backend.adapters.logs import LogLine
from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.models.base import utcnow
from backend.services.identity import api_keys
from tests.unit.ops_world import build_ward


@pytest.fixture
def client(runtime):
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    return TestClient(api)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_logs_read_key_searches_logs_and_nothing_more(runtime, client):
    ward = build_ward(runtime)
    now = utcnow()
    runtime.logs.append(
        [
            LogLine(now, ward.tenant_id, "job", ward.job_id, "INFO", "medai.train: step 8/8 loss 1.02"),
            LogLine(now, ward.tenant_id, "job", ward.job_id, "ERROR", "medai.train: training failed: NaN loss"),
            LogLine(now, "other", "job", "j9", "ERROR", "medai.train: training failed elsewhere"),
        ]
    )
    with runtime.session() as session:
        _, key = api_keys.create_api_key(session, ward.owner, kind="tenant", name="elk bridge", scopes=["logs:read"])
    found = client.get("/api/logs", params={"q": "training failed", "level": "warning"}, headers=_auth(key))
    assert found.status_code == 200, found.text
    assert [(x["level"], x["message"]) for x in found.json()] == [("ERROR", "medai.train: training failed: NaN loss")]
    tail = client.get("/api/logs", params={"after_id": found.json()[0]["id"]}, headers=_auth(key))
    assert tail.json() == []
    assert client.get("/api/logs", params={"level": "LOUD"}, headers=_auth(key)).status_code == 422
    refused = client.post("/api/work-orders", json={"title": "x"}, headers=_auth(key))
    assert refused.status_code == 403  # the scope reads operations data; it changes nothing


def test_metrics_gpus_and_an_approved_work_order_over_rest(runtime, client):
    ward = build_ward(runtime)
    runtime.collect_metrics()
    host = client.get(
        "/api/metrics", params={"measurement": "host", "field": "mem_pct"}, headers=_auth(ward.tokens["developer"])
    )
    assert host.status_code == 200 and host.json()[0]["field"] == "mem_pct" and len(host.json()[0]["values"]) == 1
    gpus = client.get("/api/ops/gpus", headers=_auth(ward.tokens["clinician"])).json()
    assert gpus["available"] == read_gpus().available and (gpus["gpus"] != []) == gpus["available"]
    order = client.post(
        "/api/work-orders",
        json={"title": "Scale down", "action": {"kind": "scale", "deployment_id": ward.deployment_id, "replicas": 0}},
        headers=_auth(ward.tokens["developer"]),
    )
    assert order.status_code == 201 and order.json()["status"] == "pending_approval"
    order_id = order.json()["id"]
    refused = client.post(f"/api/work-orders/{order_id}/approve", headers=_auth(ward.tokens["developer"]))
    assert refused.status_code == 403
    done = client.post(f"/api/work-orders/{order_id}/approve", headers=_auth(ward.tokens["tenant_admin"]))
    assert done.status_code == 200 and done.json()["status"] == "executed", done.text
    deployment = client.get(f"/api/deployments/{ward.deployment_id}", headers=_auth(ward.tokens["developer"]))
    assert deployment.json()["deployment"]["replicas"] == 0
