import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel

from backend.api import ROUTERS, create_api
from backend.api.dependencies import runtime as runtime_dependency
from backend.errors import ErrorCode, MedAIError
from backend.runtime import build_runtime
from backend.settings import Settings


def client_for(rt) -> TestClient:
    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: rt
    return TestClient(api, raise_server_exceptions=False)


def test_health_reports_every_component_with_its_backend(runtime):
    response = client_for(runtime).get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    by_name = {c["name"]: c for c in body["components"]}
    assert by_name["database"]["backend"] == "SQLite"
    assert by_name["database"]["status"] == "ok"
    assert by_name["cache"]["backend"] == "in-process"
    assert by_name["object_store"]["target"] == str(runtime.settings.object_store_dir)
    assert by_name["controller"]["status"] == "off"  # no lifespan in this client


def test_health_is_503_and_names_the_component_that_is_down(runtime, tmp_path):
    broken = Settings(data_dir=tmp_path / "b", redis_url="redis://127.0.0.1:1/0", _env_file=None)
    rt = build_runtime(broken)
    response = client_for(rt).get("/api/health")
    assert response.status_code == 503
    body = response.json()
    cache = next(c for c in body["components"] if c["name"] == "cache")
    assert (cache["backend"], cache["status"]) == ("Redis", "down")
    assert "onnection" in cache["detail"]
    database = next(c for c in body["components"] if c["name"] == "database")
    assert database["status"] == "down" and "medai db upgrade" in database["detail"]


def test_secrets_never_appear_in_health(tmp_path):
    s = Settings(
        data_dir=tmp_path,
        database_url="mysql+pymysql://medai:db-password@127.0.0.1:1/medai",
        s3_endpoint="127.0.0.1:1",
        s3_secret_key="s3-secret",
        _env_file=None,
    )
    text = client_for(build_runtime(s)).get("/api/health").text
    assert "db-password" not in text and "s3-secret" not in text
    assert "mysql+pymysql://medai:***@127.0.0.1:1/medai" in text


def test_openapi_lists_the_platform_api(runtime):
    schema = client_for(runtime).get("/openapi.json").json()
    assert "/api/health" in schema["paths"]


def test_unknown_api_path_is_a_json_not_found(runtime):
    response = client_for(runtime).post("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert client_for(runtime).get("/v1/nothing").json()["error"]["code"] == "NOT_FOUND"


class Body(BaseModel):
    name: str
    replicas: int


@pytest.fixture
def error_client(runtime) -> TestClient:
    router = APIRouter()

    @router.get("/api/test/medai")
    def medai() -> None:
        raise MedAIError(ErrorCode.RESOURCE_INSUFFICIENT, "2 GPUs requested, 0 free", "Wait or lower the request.")

    @router.get("/api/test/crash")
    def crash() -> None:
        raise ZeroDivisionError("secret internals")

    @router.post("/api/test/validate")
    def validate(body: Body) -> Body:
        return body

    return TestClient(create_api((*ROUTERS, router)), raise_server_exceptions=False)


def test_medai_error_becomes_code_message_remedy(error_client):
    response = error_client.get("/api/test/medai")
    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "RESOURCE_INSUFFICIENT",
            "message": "2 GPUs requested, 0 free",
            "remedy": "Wait or lower the request.",
        }
    }


def test_unexpected_exception_is_500_without_a_trace(error_client):
    response = error_client.get("/api/test/crash")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "INTERNAL"
    assert "incident" in error["message"]
    assert "secret internals" not in response.text and "Traceback" not in response.text


def test_invalid_body_names_the_fields(error_client):
    response = error_client.post("/api/test/validate", json={"name": "x", "replicas": "many"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "DATA_INVALID"
    assert "replicas" in error["message"]
