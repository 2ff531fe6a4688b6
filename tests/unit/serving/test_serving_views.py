"""What the serving pages read: the model versions labelled in one query (the tenant's own models
first), each service's ready replicas on its current version, one service in full with its
model's versions, and a replica's log tail (the same for the page and the API: NOT_FOUND when no
such replica runs)."""

import json

import pytest

from backend.errors import ErrorCode, MedAIError
from backend.models import Replica
from backend.services.identity.permissions import Role
from backend.services.serving import deployments as serving
from backend.services.serving import starter_model, views
from tests.unit.identity_world import add_tenant, add_user, sign


class _Logs:
    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def log_tail(self, ref: str, lines: int = 200) -> str:
        self.asked.append((ref, lines))
        return f"log of {ref}"


@pytest.fixture
def world(runtime, tmp_path):
    folder = tmp_path / "smol"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    with runtime.session() as session:
        version = starter_model.register(session, runtime.objects, folder, "c" * 64)
        starter_model.ensure_service(session, version)
        version_id = version.id
    tenant = add_tenant(runtime, "ruijin")
    dev = sign(runtime, add_user(runtime, "dev@ruijin.cn", [(tenant, Role.DEVELOPER)]), tenant)[1]
    with runtime.session() as session:
        deployment = serving.deploy(session, dev, serving.DeploySpec("bp-chat", version_id, replicas=2))
        deployment_id = deployment.id
    with runtime.session() as session:
        for ordinal, (status, on) in enumerate([("ready", version_id), ("ready", "older"), ("starting", version_id)]):
            session.add(
                Replica(
                    deployment_id=deployment_id,
                    model_version_id=on,
                    ordinal=ordinal,
                    status=status,
                    compute_ref=f"ref-{ordinal}",
                )
            )
    return {"dev": dev, "version_id": version_id, "deployment_id": deployment_id}


def test_the_overview_counts_ready_replicas_on_the_current_version(runtime, world):
    with runtime.session() as session:
        found = views.overview(session, world["dev"])
    (summary,) = found.services.services
    assert (summary.service.name, summary.ready, summary.usage.requests) == ("bp-chat", 1, 0)
    assert [p.name for p in found.services.platform_services] == [starter_model.SERVICE_NAME]
    label = found.services.labels[world["version_id"]]
    assert label.provided_by_platform and label.label.endswith(" v1")
    assert [v.id for v in found.deployable] == [world["version_id"]]


def test_one_service_in_full(runtime, world):
    with runtime.session() as session:
        found = views.service_detail(session, world["dev"], world["deployment_id"], "http://medai.test/")
    assert found.base_url == "http://medai.test/v1" and found.service.replicas == 2
    assert [r.ordinal for r in found.replicas] == [0, 1, 2]
    assert [v.id for v in found.versions] == [world["version_id"]]


def test_the_replica_log_is_one_use_case_for_the_page_and_the_api(runtime, world):
    logs = _Logs()
    with runtime.session() as session:
        assert serving.replica_log(session, world["dev"], logs, world["deployment_id"], 1) == "log of ref-1"
        with pytest.raises(MedAIError) as missing:
            serving.replica_log(session, world["dev"], logs, world["deployment_id"], 7)
    assert missing.value.code is ErrorCode.NOT_FOUND
    assert logs.asked == [("ref-1", serving.LOG_LINES)]
