"""Assets over REST: multipart dataset and model uploads, the validation report on 422,
presigned downloads from the embedded store, images, lineage and tenant isolation."""

import io
import json
import zipfile

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.api import create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.models import Membership, Tenant, User, UserSession
from backend.models.base import utcnow
from backend.services.identity import users as identity

ROWS = [{"instruction": "高血压患者的饮食建议？", "output": "低盐低脂，多吃蔬菜。"}, {"text": "x"}]


def _person(rt, tenant_slug: str, role: str = "developer") -> str:
    """A signed-in member of a new tenant; returns the session token."""
    with rt.session() as session:
        tenant = Tenant(slug=tenant_slug, name=tenant_slug)
        user = User(email=f"{role}@{tenant_slug}.cn", display_name=role, password_hash="x")
        session.add_all([tenant, user])
        session.flush()
        session.add(Membership(user_id=user.id, tenant_id=tenant.id, role=role))
        token = "tok-" + tenant_slug
        session.add(
            UserSession(
                token_hash=identity.token_hash(token),
                user_id=user.id,
                tenant_id=tenant.id,
                expires_at=utcnow().replace(year=utcnow().year + 1),
            )
        )
    return token


@pytest.fixture
def client(runtime):
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    return TestClient(api)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _upload(client, token, payload: bytes, filename="notes.jsonl", **form):
    files = {"file": (filename, io.BytesIO(payload), "application/octet-stream")}
    return client.post("/api/datasets", headers=_auth(token), files=files, data={"name": "diet", **form})


def test_dataset_upload_report_and_presigned_download(client, runtime):
    token = _person(runtime, "ruijin")
    good = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS[:1]).encode()
    created = _upload(client, token, good)
    assert created.status_code == 201, created.text
    version = created.json()
    assert (version["version"], version["shape"], version["rows"]) == (1, "alpaca", 1)

    bad = _upload(client, token, good + b"\n" + json.dumps(ROWS[1]).encode() + b"\n{broken\n")
    assert bad.status_code == 422
    report = bad.json()["error"]["report"]
    assert report["ok"] is False and {i["line"] for i in report["issues"]} == {2, 3}

    link = client.get(f"/api/datasets/versions/{version['id']}/download", headers=_auth(token)).json()["url"]
    url = httpx.URL(link)
    fetched = client.get(url.path, params=dict(url.params))  # no credentials: the link is enough
    assert fetched.status_code == 200 and fetched.content == good
    tampered = client.get(url.path, params={**dict(url.params), "key": version["id"]})
    assert tampered.status_code == 401

    listing = client.get("/api/datasets", headers=_auth(token)).json()
    assert [(d["name"], d["versions"]) for d in listing] == [("diet", 1)]


def test_model_upload_archive_diff_and_status(client, runtime):
    token = _person(runtime, "ruijin")
    spec = {"model_name": "bp-advisor", "parameters": {"learning_rate": 5e-5}}
    files = [
        ("files", ("config.json", io.BytesIO(b"{}"), "application/json")),
        ("files", ("model.safetensors", io.BytesIO(b"\0" * 32), "application/octet-stream")),
    ]
    first = client.post("/api/models", headers=_auth(token), data={"spec": json.dumps(spec)}, files=files)
    assert first.status_code == 201, first.text
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("model.gguf", b"GGUF")
    spec["parameters"] = {"learning_rate": 1e-4}
    second = client.post(
        "/api/models",
        headers=_auth(token),
        data={"spec": json.dumps(spec)},
        files=[("files", ("bp.zip", io.BytesIO(archive.getvalue()), "application/zip"))],
    )
    assert second.status_code == 201 and second.json()["format"] == "gguf" and second.json()["source"] == "archive"
    diff = client.get(f"/api/models/versions/{first.json()['id']}/diff/{second.json()['id']}", headers=_auth(token))
    assert diff.json() == [{"key": "learning_rate", "before": 5e-5, "after": 1e-4}]
    assert client.post(f"/api/models/versions/{first.json()['id']}/promote", headers=_auth(token)).status_code == 204
    detail = client.get(f"/api/models/{first.json()['model_id']}", headers=_auth(token)).json()
    assert detail["model"]["promoted_version"] == 1 and [v["version"] for v in detail["versions"]] == [2, 1]
    refused = client.post("/api/models", headers=_auth(token), data={"spec": "{"}, files=files[:1])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "DATA_INVALID"


def test_images_and_isolation(client, runtime):
    mine, theirs = _person(runtime, "ruijin"), _person(runtime, "huashan")
    image = client.post(
        "/api/images", headers=_auth(mine), json={"reference": "vllm/vllm-openai:v0.12.0", "purpose": "serving"}
    )
    assert image.status_code == 201 and image.json()["reference"] == "docker.io/vllm/vllm-openai:v0.12.0"
    bad = client.post("/api/images", headers=_auth(mine), json={"reference": "Not Valid", "purpose": "serving"})
    assert bad.status_code == 422 and "registry/repository:tag" in bad.json()["error"]["remedy"]
    assert client.get("/api/images", headers=_auth(theirs)).json() == []
    retire = client.post(f"/api/images/{image.json()['id']}/retire", headers=_auth(theirs))
    assert retire.status_code == 404 and "vllm" not in retire.text
    created = _upload(client, mine, json.dumps(ROWS[0], ensure_ascii=False).encode())
    dataset_id = created.json()["dataset_id"]
    assert client.get(f"/api/datasets/{dataset_id}", headers=_auth(theirs)).status_code == 404
    assert client.get(f"/api/lineage/dataset_version/{created.json()['id']}", headers=_auth(theirs)).json() == []
