"""What the pages make of the starter model and the samples: the Playground picks ``starter`` when
it is the only choice and says while it is starting; Deploy lists the platform's services with
start/stop for platform admins only and hints at ``starter`` while the tenant has no service of its
own; Assets shows the platform model read-only; R&D and Deploy offer it as a base model and a model
to deploy; the one-click samples are offered while the tenant lacks them."""

import io
import json

import pytest

from backend.errors import ErrorCode, MedAIError
from backend.models import Agent, Deployment, Replica
from backend.services import samples
from backend.services.assets import model_registry
from backend.services.assets import views as asset_views
from backend.services.identity.permissions import Role
from backend.services.serving import deployments as serving
from backend.services.serving import starter_model
from backend.services.serving import views as serving_views
from backend.services.serving.playground import service_choices
from backend.services.training.views import job_choices
from components.i18n import TEXT
from state.asset_detail import model_page
from state.assets import Filters, assets_view
from state.playground import STARTER, pick_service
from state.samples import agent_work, dataset_work, offers, sample_offers, toast_key
from state.serving import PlatformServiceRow, ServiceRow, scale_platform_service, shown_overview, shows_starter_hint
from tests.unit.identity_world import add_tenant, add_user, sign

MODEL = "smollm2-135m-instruct"


def _converted_folder(folder):
    """A stand-in for the converted model: what registration reads (no weights are loaded here)."""
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    return folder


@pytest.fixture
def world(runtime, tmp_path):
    with runtime.session() as session:
        version = starter_model.register(session, runtime.objects, _converted_folder(tmp_path / "smol"), "b" * 64)
        deployment = starter_model.ensure_service(session, version)
        ids = (version.id, deployment.id)
    ruijin = add_tenant(runtime, "ruijin")
    dev = add_user(runtime, "dev@ruijin.cn", [(ruijin, Role.DEVELOPER)])
    admin = add_user(runtime, "root@medai.cn", [(ruijin, Role.DEVELOPER)], platform_admin=True)
    return {
        "version_id": ids[0],
        "deployment_id": ids[1],
        "dev": sign(runtime, dev, ruijin)[1],
        "admin": sign(runtime, admin, ruijin)[1],
    }


def _ready(runtime, deployment_id: str) -> None:
    with runtime.session() as session:
        deployment = session.get(Deployment, deployment_id)
        deployment.status = "ready"
        session.add(deployment)
        session.add(
            Replica(deployment_id=deployment_id, model_version_id="x", ordinal=0, url="http://r", status="ready")
        )


def test_the_playground_prefers_what_was_asked_then_the_tenants_own_then_starter():
    assert pick_service([STARTER], "") == STARTER  # the only choice is preselected
    assert pick_service(["bp-chat", STARTER], "") == "bp-chat"
    assert pick_service(["bp-chat", STARTER], "", wanted=STARTER) == STARTER
    assert pick_service(["bp-chat", STARTER], STARTER) == STARTER  # a choice made stays
    assert pick_service([STARTER], "gone") == STARTER
    assert pick_service([], "gone") == ""


def test_the_playground_says_the_starter_is_starting_then_offers_it(runtime, world):
    with runtime.session() as session:
        starting = service_choices(session, world["dev"])
    assert (starting.services, starting.starter_status) == ([], "pending")
    _ready(runtime, world["deployment_id"])
    with runtime.session() as session:
        ready = service_choices(session, world["dev"])
    assert (ready.services, ready.starter_status) == ([STARTER], "")
    with runtime.session() as session:
        starter_model.scale_platform_service(session, world["admin"], world["deployment_id"], 0)
    with runtime.session() as session:  # stopped: nothing to wait for, the page says what to do
        stopped = service_choices(session, world["dev"])
    assert (stopped.services, stopped.starter_status) == ([], "")


def test_while_the_first_start_converts_the_starter_the_playground_says_it_is_starting(runtime):
    tenant = add_tenant(runtime, "fresh")
    who = sign(runtime, add_user(runtime, "dev@fresh.cn", [(tenant, Role.DEVELOPER)]), tenant)[1]
    runtime.starter_preparing = True  # no service yet: the package is being converted
    with runtime.session() as session:
        assert service_choices(session, who, runtime.starter_preparing).starter_status == "pending"
    runtime.starter_preparing = False  # it failed or is off: nothing to wait for
    with runtime.session() as session:
        assert service_choices(session, who, runtime.starter_preparing).starter_status == ""


def test_deploy_lists_the_platform_service_read_only_for_a_tenant(runtime, world):
    with runtime.session() as session:
        shown = shown_overview(serving_views.overview(session, world["dev"]))
    assert not shown.may_manage_platform and shown.services == []
    (row,) = shown.platform_services
    assert (row.name, row.model, row.status) == (STARTER, f"{MODEL} v1", "pending")
    assert shows_starter_hint(shown.services, shown.platform_services)
    assert [m["name"] for m in shown.models] == [MODEL]  # the new-service form offers the platform model
    assert [v["id"] for v in shown.versions] == [world["version_id"]]
    with pytest.raises(MedAIError) as refused, runtime.session() as session:
        scale_platform_service(world["deployment_id"], 0)(runtime, session, world["dev"])
    assert refused.value.code is ErrorCode.FORBIDDEN


def test_a_platform_admin_stops_and_starts_it_from_the_deploy_page(runtime, world):
    with runtime.session() as session:
        assert shown_overview(serving_views.overview(session, world["admin"])).may_manage_platform
        assert scale_platform_service(world["deployment_id"], 0)(runtime, session, world["admin"]) == STARTER
    with runtime.session() as session:
        (row,) = shown_overview(serving_views.overview(session, world["admin"])).platform_services
        assert row.status == "stopped"
        assert not shows_starter_hint([], [row])  # a stopped one answers nobody: no hint
        scale_platform_service(world["deployment_id"], 1)(runtime, session, world["admin"])
    with runtime.session() as session:
        assert session.get(Deployment, world["deployment_id"]).status == "starting"


def test_the_starter_hint_goes_once_the_tenant_has_its_own_service(runtime, world):
    platform = [PlatformServiceRow(name=STARTER, status="ready")]
    assert shows_starter_hint([], platform)
    assert not shows_starter_hint([ServiceRow(name="mine")], platform)
    assert not shows_starter_hint([], [])
    with runtime.session() as session:
        serving.deploy(session, world["dev"], serving.DeploySpec("my-smol", world["version_id"]))
    with runtime.session() as session:
        shown = shown_overview(serving_views.overview(session, world["dev"]))
    assert not shows_starter_hint(shown.services, shown.platform_services)


def test_assets_show_the_platform_model_with_its_badge_and_read_only(runtime, world):
    with runtime.session() as session:
        view = assets_view(asset_views.assets_overview(session, world["dev"], **Filters().arguments()))
        (row,) = view.models
        assert (row["name"], row["platform"]) == (MODEL, "yes")
        page = model_page(asset_views.model_page(session, world["dev"], row["id"]))
    assert page.provided_by_platform and not page.may_update and not page.may_delete
    assert page.details[world["version_id"]]["model_card"].startswith("# SmolLM2-135M-Instruct")


def test_research_offers_the_starter_model_as_a_base_model(runtime, world):
    with runtime.session() as session:
        found = job_choices(session, world["dev"])
    assert found.platform_models == [MODEL]
    assert [m["id"] for m in found.models] == [world["version_id"]] and found.models[0]["label"].startswith(MODEL)


def test_research_preselects_the_tenants_own_model_before_the_platforms(runtime, world):
    """The first choice is what the form preselects: a model the tenant made comes before the starter,
    even when its name sorts after it."""
    files = [("config.json", io.BytesIO(b'{"model_type": "llama"}')), ("model.safetensors", io.BytesIO(b"\0" * 64))]
    with runtime.session() as session:
        spec = model_registry.VersionSpec(model_name="zz-own-model")
        own = model_registry.register_version(session, runtime.objects, world["dev"], spec, files, "upload")
        own_id = own.id
    with runtime.session() as session:
        found = job_choices(session, world["dev"])
    assert [m["id"] for m in found.models] == [own_id, world["version_id"]]
    assert found.platform_models == [MODEL]


def test_sample_datasets_are_offered_until_imported(runtime, world):
    with runtime.session() as session:
        before = sample_offers()(runtime, session, world["dev"])
    assert (before.sft, before.preference) == (True, True)
    with runtime.session() as session:
        made = dataset_work("sft")(runtime, session, world["dev"])
    assert (made.name, made.created, made.rows) == ("sample-medical-sft", True, 200)
    assert TEXT[toast_key(made)][0].format(name=made.name, rows=made.rows, docs=0) == (
        "Sample dataset sample-medical-sft imported (200 rows)."
    )
    with runtime.session() as session:
        after = sample_offers()(runtime, session, world["dev"])
        again = dataset_work("sft")(runtime, session, world["dev"])
    assert (after.sft, after.preference) == (False, True)
    assert toast_key(again) == "samples.dataset_exists"


def test_a_role_that_may_not_import_is_offered_nothing():
    cannot = samples.SampleState(exists=False, id="", may_create=False)
    there = samples.SampleState(exists=True, id="d1", may_create=True)
    status = samples.SamplesStatus(cannot, there, cannot, cannot)
    assert (offers(status).sft, offers(status).preference) == (False, False)


def test_every_sample_toast_has_its_text_in_both_languages():
    for kind in ("dataset", "knowledge_base", "agent"):
        for outcome in (True, False):
            key = toast_key(samples.SampleAsset(kind, "id", "name", outcome))
            for text in TEXT[key]:
                assert "name" in text.format(name="name", rows=1, docs=2)


def test_the_sample_agent_is_made_once_from_its_template(runtime, world):
    with runtime.session() as session:
        made = agent_work("zh")(runtime, session, world["dev"])
        again = agent_work("en")(runtime, session, world["dev"])
    assert (made.kind, made.name, toast_key(made)) == ("agent", samples.AGENT_SLUG, "samples.agent_created")
    assert (again.id, toast_key(again)) == (made.id, "samples.agent_exists")
    with runtime.session() as session:  # named in the language of the person who made it
        assert session.get(Agent, made.id).name == "医学知识问答（带引用）"
