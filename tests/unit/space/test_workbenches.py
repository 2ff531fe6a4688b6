"""AI space workbenches on the embedded stack: the approval flow, members and who may open the
IDE, the controller's pass (start, running, idle shutdown, a crash) with a stand-in compute
backend and JupyterLab, cost from recorded usage intervals, the budget event, publishing from a
workbench through the registry, and the Kubernetes manifests against the official schema.
(JupyterLab itself runs for real in tests/integration/test_workbench_ide.py.)"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import kubernetes_validate
import pytest
from sqlmodel import select

from backend.adapters.compute import RunState
from backend.adapters.compute.ide import IdeLaunch, workbench_manifests
from backend.errors import ErrorCode, MedAIError
from backend.models import AuditEvent, Workbench, WorkbenchPackage, WorkbenchUsage
from backend.services.assets import model_registry
from backend.services.space import costs as workbench_costs
from backend.services.space import packages as workbench_packages
from backend.services.space import publishing as workbench_publishing
from backend.services.space import runtime as runtime_pass
from backend.services.space import workbenches
from tests.unit.identity_world import add_tenant, add_user, sign

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class FakeCompute:
    """Records what the controller asks; JupyterLab's liveness is ``alive``."""

    backend: str = "local"
    started: list[IdeLaunch] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    alive: bool = True

    def start_ide(self, launch: IdeLaunch) -> tuple[str, str]:
        self.started.append(launch)
        return f"ref-{len(self.started)}", "http://127.0.0.1:9"

    def state(self, ref: str) -> RunState:
        return RunState("running") if self.alive and ref not in self.cancelled else RunState("exited", 1)

    def cancel(self, ref: str) -> None:
        self.cancelled.append(ref)

    def log_tail(self, ref: str, lines: int = 200) -> str:
        return "Traceback ...\nMemoryError: out of memory\n"


def jupyter(compute: FakeCompute, kernel_activity: datetime | None = None, busy: bool = False) -> httpx.Client:
    """A stand-in JupyterLab: answers only with the token of the last start; one kernel when
    ``kernel_activity`` is given (busy or idle), no terminals."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"token {compute.started[-1].token}":
            return httpx.Response(403)
        if request.url.params.get("no_track_activity") != "1":
            return httpx.Response(400)  # the controller's questions must not count as activity
        if request.url.path == "/api/kernels":
            stamp = kernel_activity.isoformat().replace("+00:00", "Z") if kernel_activity else ""
            state = "busy" if busy else "idle"
            return httpx.Response(200, json=[{"last_activity": stamp, "execution_state": state}] if stamp else [])
        if request.url.path == "/api/terminals":
            return httpx.Response(200, json=[])
        return httpx.Response(200, json={"last_activity": "2000-01-01T00:00:00Z", "kernels": 0, "connections": 1})

    return httpx.Client(transport=httpx.MockTransport(answer))


@pytest.fixture
def world(runtime):
    tenant = add_tenant(runtime, "xiangya-space", "Xiangya")
    other = add_tenant(runtime, "other-space", "Other")
    people = {
        "dev": add_user(runtime, "dev@xy.cn", [(tenant, "developer")]),
        "peer": add_user(runtime, "peer@xy.cn", [(tenant, "developer")]),
        "admin": add_user(runtime, "admin@xy.cn", [(tenant, "tenant_admin")]),
        "viewer": add_user(runtime, "viewer@xy.cn", [(tenant, "viewer")]),
        "stranger": add_user(runtime, "stranger@other.cn", [(other, "tenant_owner")]),
    }
    found = {}
    for name, user in people.items():
        found[f"{name}_token"], found[name] = sign(runtime, user)
    return found


def _create(rt, who, name="cardio-lab", **resources):
    with rt.session() as session:
        return workbenches.create(session, rt.settings, who, workbenches.WorkbenchSpec(name, **resources)).id


def _pass(rt, compute, now=NOW, client=None):
    with rt.session() as session:
        runtime_pass.reconcile(session, compute, rt.keys, rt.settings, now, client or httpx.Client())


def _row(rt, workbench_id) -> Workbench:
    with rt.session() as session:
        return session.get(Workbench, workbench_id)


def test_within_limits_starts_at_once_beyond_them_waits_for_another_admins_approval(runtime, world):
    small = _create(runtime, world["dev"], "small-lab", cpu=2, memory_gb=4)
    assert _row(runtime, small).status == "starting"
    assert _row(runtime, small).idle_timeout_s == 60 * runtime.settings.workbench_idle_timeout_min  # the default
    with runtime.session() as session, pytest.raises(MedAIError) as no_reason:
        workbenches.create(session, runtime.settings, world["dev"], workbenches.WorkbenchSpec("gpu-lab", gpus=1))
    assert no_reason.value.code is ErrorCode.DATA_INVALID and "gpus 1 > 0" in no_reason.value.message
    spec = workbenches.WorkbenchSpec("gpu-lab", gpus=1, cpu=8, reason="fine-tune a 7B model on ECG reports")
    with runtime.session() as session:
        big = workbenches.create(session, runtime.settings, world["dev"], spec).id
    assert _row(runtime, big).status == "pending_approval"
    with runtime.session() as session:  # a developer sees no queue; the admin sees the reason and the limits
        with pytest.raises(MedAIError) as refused:
            workbenches.list_approvals(session, world["dev"])
        assert refused.value.code is ErrorCode.FORBIDDEN
        [(request, wb)] = workbenches.list_approvals(session, world["admin"])
        assert (wb.id, request.reason) == (big, "fine-tune a 7B model on ECG reports")
        assert request.exceeds == "cpu 8 > 4, gpus 1 > 0"
    with runtime.session() as session, pytest.raises(MedAIError) as not_admin:
        workbenches.decide(session, world["peer"], big, True)
    assert not_admin.value.code is ErrorCode.FORBIDDEN
    compute = FakeCompute()
    _pass(runtime, compute)  # a pending request never starts
    assert [launch.workbench_id for launch in compute.started] == [small]
    with runtime.session() as session:
        workbenches.decide(session, world["admin"], big, True, "budget agreed")
    assert _row(runtime, big).status == "starting"
    with runtime.session() as session:
        assert workbenches.list_approvals(session, world["admin"]) == []
        [(done, _)] = workbenches.list_approvals(session, world["admin"], "approved")
        assert (done.decided_by, done.decision_note) == ("admin@xy.cn", "budget agreed")
        with pytest.raises(MedAIError) as twice:
            workbenches.decide(session, world["admin"], big, False)
        assert twice.value.code is ErrorCode.CONFLICT
    _pass(runtime, compute)
    assert compute.started[-1].workbench_id == big and compute.started[-1].gpus == 1


def test_a_rejected_request_never_starts_and_nobody_approves_their_own(runtime, world):
    spec = workbenches.WorkbenchSpec("huge-lab", memory_gb=512, reason="whole-genome assembly")
    with runtime.session() as session:
        mine = workbenches.create(session, runtime.settings, world["admin"], spec).id
    with runtime.session() as session, pytest.raises(MedAIError) as own:
        workbenches.decide(session, world["admin"], mine, True)
    assert own.value.code is ErrorCode.FORBIDDEN
    theirs = _create(runtime, world["dev"], "big-lab", memory_gb=64, reason="large cohort")
    with runtime.session() as session:
        workbenches.decide(session, world["admin"], theirs, False, "use the shared cluster")
    row = _row(runtime, theirs)
    assert row.status == "rejected" and "use the shared cluster" in row.reason
    compute = FakeCompute()
    _pass(runtime, compute)
    assert compute.started == []
    with runtime.session() as session, pytest.raises(MedAIError) as start:
        workbenches.start(session, world["dev"], theirs)
    assert start.value.code is ErrorCode.CONFLICT


def test_only_owners_and_editors_open_the_ide_and_the_link_carries_the_token(runtime, world):
    wb = _create(runtime, world["dev"])
    compute = FakeCompute()
    _pass(runtime, compute)
    _pass(runtime, compute, client=jupyter(compute, NOW))
    assert _row(runtime, wb).status == "running"
    token = compute.started[-1].token
    assert token not in (_row(runtime, wb).token_sealed or "")  # stored sealed, not in the clear
    for who in ("peer", "admin", "viewer"):  # not members (the tenant admin neither)
        with runtime.session() as session, pytest.raises(MedAIError) as refused:
            workbenches.open_ide(session, runtime.keys, world[who], wb)
        assert refused.value.code is ErrorCode.FORBIDDEN, who
    with runtime.session() as session, pytest.raises(MedAIError) as other_tenant:
        workbenches.open_ide(session, runtime.keys, world["stranger"], wb)
    assert other_tenant.value.code in (ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND)
    with runtime.session() as session:
        workbenches.add_member(session, world["dev"], wb, "peer@xy.cn", "viewer")
    with runtime.session() as session, pytest.raises(MedAIError) as viewer:
        workbenches.open_ide(session, runtime.keys, world["peer"], wb)
    assert viewer.value.code is ErrorCode.FORBIDDEN and "viewer" in viewer.value.message
    with runtime.session() as session:
        workbenches.add_member(session, world["dev"], wb, "peer@xy.cn", "editor")
    with runtime.session() as session:
        assert workbenches.open_ide(session, runtime.keys, world["peer"], wb) == f"http://127.0.0.1:9/lab?token={token}"
        denied = session.exec(
            select(AuditEvent).where(AuditEvent.action == "workbench.open_ide", AuditEvent.outcome == "denied")
        ).all()
        # peer and the admin as non-members, then peer as a viewer (the tenant's viewer role stops earlier)
        assert len(denied) == 3 and all(token not in json.dumps(e.detail) for e in denied)
        with pytest.raises(MedAIError) as editor_adds:  # only owners manage members
            workbenches.add_member(session, world["peer"], wb, "admin@xy.cn", "owner")
        assert editor_adds.value.code is ErrorCode.FORBIDDEN
    with runtime.session() as session:
        workbenches.remove_member(session, world["dev"], wb, world["peer"].user_id)
        with pytest.raises(MedAIError) as last_owner:
            workbenches.remove_member(session, world["dev"], wb, world["dev"].user_id)
        assert last_owner.value.code is ErrorCode.CONFLICT
    with runtime.session() as session, pytest.raises(MedAIError) as removed:
        workbenches.open_ide(session, runtime.keys, world["peer"], wb)
    assert removed.value.code is ErrorCode.FORBIDDEN
    with runtime.session() as session:  # the list shows members their workbenches and admins all of them
        assert [w.id for w, _ in workbenches.list_workbenches(session, world["peer"])] == []
        assert [(w.id, r) for w, r in workbenches.list_workbenches(session, world["admin"])] == [(wb, "")]
        with pytest.raises(MedAIError) as hidden:
            workbenches.get_workbench(session, world["peer"], wb)
        assert hidden.value.code is ErrorCode.NOT_FOUND


def test_an_idle_workbench_is_stopped_and_its_interval_closed(runtime, world):
    wb = _create(runtime, world["dev"], idle_timeout_min=30)
    compute = FakeCompute()
    _pass(runtime, compute)
    _pass(runtime, compute, client=jupyter(compute, NOW))
    later = NOW + timedelta(minutes=20)
    _pass(runtime, compute, later, jupyter(compute, NOW + timedelta(minutes=15)))  # someone ran a cell at +15
    assert _row(runtime, wb).status == "running" and compute.cancelled == []
    late = NOW + timedelta(minutes=46)
    _pass(runtime, compute, late, jupyter(compute, NOW + timedelta(minutes=15)))
    row = _row(runtime, wb)
    assert row.status == "stopped" and "31 min without activity" in row.reason
    assert compute.cancelled == ["ref-1"] and row.token_sealed is None and row.url == ""
    with runtime.session() as session:
        [usage] = session.exec(select(WorkbenchUsage).where(WorkbenchUsage.workbench_id == wb)).all()
        assert usage.started_at.replace(tzinfo=UTC) == NOW and usage.ended_at.replace(tzinfo=UTC) == late
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "workbench.idle_stop")).one()
        workbenches.start(session, world["dev"], wb)  # and it starts again, with a new token
    _pass(runtime, compute, late)
    assert len(compute.started) == 2 and compute.started[0].token != compute.started[1].token


def test_a_busy_kernel_keeps_the_workbench_running_however_long_ago_it_was_opened(runtime, world):
    wb = _create(runtime, world["dev"], idle_timeout_min=30)
    compute = FakeCompute()
    _pass(runtime, compute)
    _pass(runtime, compute, client=jupyter(compute))
    _pass(runtime, compute, NOW + timedelta(hours=5), jupyter(compute, NOW, busy=True))  # a 5-hour training cell
    assert _row(runtime, wb).status == "running"
    _pass(runtime, compute, NOW + timedelta(hours=5, minutes=31), jupyter(compute, NOW + timedelta(hours=5)))
    assert _row(runtime, wb).status == "stopped"


def test_a_crashed_jupyterlab_marks_the_workbench_failed_with_the_reason(runtime, world):
    wb = _create(runtime, world["dev"])
    compute = FakeCompute()
    _pass(runtime, compute)
    compute.alive = False
    _pass(runtime, compute, NOW + timedelta(minutes=1))
    row = _row(runtime, wb)
    assert row.status == "failed" and "MemoryError: out of memory" in row.reason
    with runtime.session() as session:
        assert session.exec(select(WorkbenchUsage)).one().ended_at is not None


def test_cost_is_resource_hours_times_prices_per_workbench_and_tenant(runtime, world):
    a, b = (
        _create(runtime, world["dev"], "a-lab", cpu=2, memory_gb=4, storage_gb=10),
        _create(runtime, world["peer"], "b-lab"),
    )
    tenant_id = world["dev"].tenant_id
    with runtime.session() as session:
        for workbench_id, gpus, start, end in (
            (a, 0, datetime(2026, 10, 31, 22, tzinfo=UTC), datetime(2026, 11, 1, 2, tzinfo=UTC)),  # 2 h in November
            (a, 1, datetime(2026, 11, 3, 9, tzinfo=UTC), datetime(2026, 11, 3, 12, tzinfo=UTC)),  # 3 h, one GPU
            (b, 0, datetime(2026, 11, 2, 10, tzinfo=UTC), datetime(2026, 11, 2, 11, tzinfo=UTC)),
            (b, 0, datetime(2026, 11, 30, 23, tzinfo=UTC), None),  # still running: counts until "now"
        ):
            session.add(
                WorkbenchUsage(
                    tenant_id=tenant_id, workbench_id=workbench_id, cpu=2, gpus=gpus, memory_gb=4, storage_gb=10,
                    started_at=start, ended_at=end,
                )
            )  # fmt: skip
    prices = workbench_costs.Prices(cpu_hour=1.0, gpu_hour=10.0, memory_gb_hour=0.5, storage_gb_hour=0.1)
    with runtime.session() as session:
        report = workbench_costs.tenant_report(session, tenant_id, prices, "2026-11", datetime(2026, 12, 5, tzinfo=UTC))
    costs = {c.name: c for c in report.workbenches}
    # a: 5 h × (2 CPU × 1 + 4 GiB × 0.5 + 10 GiB × 0.1) + 3 GPU-hours × 10
    assert costs["a-lab"].hours == pytest.approx(5) and costs["a-lab"].gpu_hours == pytest.approx(3)
    assert costs["a-lab"].cost == pytest.approx(5 * 5 + 30)
    assert costs["b-lab"].hours == pytest.approx(2) and costs["b-lab"].cost == pytest.approx(10)
    assert report.total == pytest.approx(65) and report.budget == 0 and not report.over_budget
    with runtime.session() as session:
        october = workbench_costs.tenant_report(
            session, tenant_id, prices, "2026-10", datetime(2026, 12, 5, tzinfo=UTC)
        )
    assert october.total == pytest.approx(2 * 5)
    with runtime.session() as session:  # a developer sees the total, and only their own workbench's row
        mine = workbench_costs.cost_report(session, runtime.settings, world["peer"], "2026-11")
        assert [c.name for c in mine.workbenches] == ["b-lab"]
        with pytest.raises(MedAIError) as bad_month:
            workbench_costs.cost_report(session, runtime.settings, world["peer"], "November")
        assert bad_month.value.code is ErrorCode.DATA_INVALID


def test_crossing_the_monthly_budget_records_one_alert_a_month(runtime, world):
    wb = _create(runtime, world["dev"], cpu=4, memory_gb=8)
    with runtime.session() as session, pytest.raises(MedAIError):
        workbench_costs.set_budget(session, world["dev"], 10)  # developers do not set budgets
    with runtime.session() as session:
        workbench_costs.set_budget(session, world["admin"], 1.0)
    prices = workbench_costs.Prices(1.0, 0, 0, 0)
    with runtime.session() as session:
        session.add(
            WorkbenchUsage(
                tenant_id=world["dev"].tenant_id, workbench_id=wb, cpu=4, gpus=0, memory_gb=8, storage_gb=10,
                started_at=NOW - timedelta(minutes=10), ended_at=None,
            )
        )  # fmt: skip
    with runtime.session() as session:
        assert workbench_costs.check_budgets(session, prices, NOW) == []  # 4 CPU × 1/6 h = 0.67 < 1
    with runtime.session() as session:
        assert workbench_costs.check_budgets(session, prices, NOW + timedelta(minutes=10)) == [world["dev"].tenant_id]
    with runtime.session() as session:
        assert workbench_costs.check_budgets(session, prices, NOW + timedelta(minutes=20)) == []  # once a month
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "workbench.budget_exceeded")).all()
        assert event.tenant_id == world["dev"].tenant_id and event.detail["budget"] == 1.0


def test_packages_are_checked_requirements_and_only_members_install(runtime, world):
    wb = _create(runtime, world["dev"])
    for bad in ("--index-url=http://evil", "pkg @ https://example.com/x.whl", "../../etc", ""):
        with pytest.raises(MedAIError):
            workbench_packages.check_requirement(bad)
    assert workbench_packages.check_requirement(" pandas==2.3.1 ") == "pandas==2.3.1"
    with runtime.session() as session, pytest.raises(MedAIError) as outsider:
        workbench_packages.request_install(session, world["peer"], wb, "pandas")
    assert outsider.value.code is ErrorCode.FORBIDDEN
    with runtime.session() as session:
        workbench_packages.request_install(session, world["dev"], wb, "pandas")
    compute = FakeCompute(backend="kubernetes")
    with runtime.session() as session:  # no local environment on Kubernetes: it says where to install
        workbench_packages.reconcile(session, compute, runtime.settings)
    with runtime.session() as session:
        package = session.exec(select(WorkbenchPackage)).one()
        assert package.status == "failed" and "requirements.txt" in package.detail


def test_a_workbench_folder_is_registered_through_the_model_registry(runtime, world):
    wb = _create(runtime, world["dev"])
    home = workbenches.home_folder(runtime.settings, wb)
    (home / "outputs" / "ecg-model").mkdir(parents=True)
    (home / "outputs" / "ecg-model" / "model.safetensors").write_bytes(b"weights")
    (home / "outputs" / "ecg-model" / "config.json").write_text("{}")
    spec = model_registry.VersionSpec(model_name="ecg-classifier")
    with runtime.session() as session:
        version = workbench_publishing.register_model(
            session, runtime.objects, runtime.settings, world["dev"], wb, "outputs/ecg-model", spec
        )
        assert (version.source, version.format) == ("workbench", "safetensors")
        assert sorted(f["path"] for f in version.files) == ["config.json", "model.safetensors"]
    for folder, code in (("../../", ErrorCode.FORBIDDEN), ("missing", ErrorCode.NOT_FOUND)):
        with runtime.session() as session, pytest.raises(MedAIError) as refused:
            workbench_publishing.register_model(
                session, runtime.objects, runtime.settings, world["dev"], wb, folder, spec
            )
        assert refused.value.code is code
    with runtime.session() as session, pytest.raises(MedAIError) as outsider:
        workbench_publishing.register_model(
            session, runtime.objects, runtime.settings, world["peer"], wb, "outputs/ecg-model", spec
        )
    assert outsider.value.code is ErrorCode.FORBIDDEN
    with runtime.session() as session:
        assert [m.name for m in model_registry.list_models(session, world["dev"])] == ["ecg-classifier"]


@pytest.mark.parametrize("gpus", [0, 2])
def test_workbench_pod_service_secret_and_claim_are_valid_kubernetes(gpus):
    launch = IdeLaunch(
        "wb0123456789abcdef0123456789abcd", "s3cret-token", "", "registry.local/medai/lab:1", 4, gpus, 16, 50,
        "Dr Li", "li@xy.cn", {"pool": "a100"}, [{"key": "gpu", "operator": "Exists"}],
    )  # fmt: skip
    manifests = workbench_manifests(launch, "medai")
    for manifest in manifests.values():
        kubernetes_validate.validate(manifest, "1.37.0", strict=True)
    pod, service = manifests["pod"], manifests["service"]
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"].get("nvidia.com/gpu") == (str(gpus) if gpus else None)
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == manifests["claim"]["metadata"]["name"]
    assert manifests["claim"]["spec"]["resources"]["requests"]["storage"] == f"{50 * 1024}Mi"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert "s3cret-token" not in json.dumps(pod)  # the token reaches the Pod from its Secret only
    token_env = next(e for e in container["env"] if e["name"] == "JUPYTER_TOKEN")
    assert token_env["valueFrom"]["secretKeyRef"]["name"] == manifests["secret"]["metadata"]["name"]
    start = container["command"][-1]
    assert "--LabApp.news_url=None" in start and "--LabApp.extension_manager=readonly" in start
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/status"


def test_rest_routes_create_list_and_refuse_a_non_member_the_ide(runtime, world):
    from fastapi.testclient import TestClient

    from backend.api import create_api
    from backend.api.dependencies import runtime as runtime_dependency

    api = create_api()
    api.dependency_overrides[runtime_dependency] = lambda: runtime
    client = TestClient(api)
    dev, peer = ({"Authorization": f"Bearer {world[f'{name}_token']}"} for name in ("dev", "peer"))
    made = client.post("/api/workbenches", json={"name": "rest-lab", "cpu": 1, "memory_gb": 2}, headers=dev)
    assert made.status_code == 201 and made.json()["status"] == "starting"
    assert [r["workbench"]["name"] for r in client.get("/api/workbenches", headers=dev).json()] == ["rest-lab"]
    assert client.get("/api/workbenches", headers=peer).json() == []
    refused = client.post(f"/api/workbenches/{made.json()['id']}/ide", headers=peer)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    not_yet = client.post(f"/api/workbenches/{made.json()['id']}/ide", headers=dev)
    assert not_yet.status_code == 409
    package = client.post(f"/api/workbenches/{made.json()['id']}/packages", json={"requirement": "rich"}, headers=dev)
    assert package.status_code == 202 and package.json()["status"] == "pending"


def test_a_training_job_and_a_service_are_published_from_a_workbench_through_their_services(runtime, world):
    from backend.services.assets import datasets
    from backend.services.serving import deployments as serving
    from backend.services.training import jobs as training

    wb = _create(runtime, world["dev"])
    home = workbenches.home_folder(runtime.settings, wb)
    (home / "base").mkdir(parents=True)
    (home / "base" / "model.safetensors").write_bytes(b"weights")
    rows = b'{"instruction": "Diet for hypertension?", "output": "Less salt."}\n'
    with runtime.session() as session:
        version = workbench_publishing.register_model(
            session, runtime.objects, runtime.settings, world["dev"], wb, "base", model_registry.VersionSpec("base")
        )
        data = datasets.import_version(
            session, runtime.objects, world["dev"], name="bp notes", filename="bp.jsonl",
            stream=io.BytesIO(rows), scratch_dir=runtime.settings.scratch_dir,
        )  # fmt: skip
        job = workbench_publishing.submit_job(
            session,
            world["dev"],
            wb,
            training.JobRequest("bp-sft", "sft", version.id, (data.id,), preset="quick-check"),
        )
        service = workbench_publishing.publish_service(
            session, world["dev"], wb, serving.DeploySpec("bp-chat", version.id)
        )
    with runtime.session() as session:  # the same rows the R&D and Deploy areas list
        assert [j.id for j in training.list_jobs(session, world["dev"])] == [job.id]
        assert [d.id for d in serving.list_deployments(session, world["dev"])] == [service.id]
        actions = [a.action for a in workbenches.activity(session, world["dev"], wb)]
        assert {"workbench.register_model", "workbench.submit_job", "workbench.publish_service"} <= set(actions)


def test_a_running_workbench_token_survives_a_master_key_rotation(runtime, world):
    from backend.adapters.envelope import KeyRing, generate_master_key, parse_master_key
    from backend.services.identity import secrets

    wb = _create(runtime, world["dev"])
    compute = FakeCompute()
    _pass(runtime, compute)
    rotated = KeyRing((parse_master_key(generate_master_key()), *runtime.keys.keys))
    with runtime.session() as session:
        assert secrets.rewrap_all(session, rotated) == 1
    only_new = KeyRing((rotated.current,))
    with runtime.session() as session:  # the old key is gone; the sealed token still opens
        row = session.get(Workbench, wb)
        assert only_new.open(row.token_sealed, f"workbench:{wb}") == compute.started[-1].token


def test_kubernetes_keeps_the_claim_across_stops_and_reads_the_pod_phase(settings):
    from types import SimpleNamespace
    from unittest.mock import MagicMock

    from kubernetes.client.exceptions import ApiException

    from backend.adapters.compute.kubernetes import KubernetesCompute

    compute = KubernetesCompute(settings)
    core = MagicMock()
    compute._clients = (MagicMock(), core)
    core.create_namespaced_persistent_volume_claim.side_effect = ApiException(status=409)  # from the last start
    launch = IdeLaunch("wb0123456789abcdef0123456789abcd", "tok", "", "img", 1, 0, 2, 5)
    ref, url = compute.start_ide(launch)
    assert (
        ref == "workbench/medai-wb-wb0123456789abcdef01"
        and url == "http://medai-wb-wb0123456789abcdef01.medai.svc:8888"
    )
    assert core.create_namespaced_pod.call_count == core.create_namespaced_secret.call_count == 1
    for phase, expected in (("Pending", "running"), ("Running", "running"), ("Failed", "exited")):
        core.read_namespaced_pod_status.return_value = SimpleNamespace(status=SimpleNamespace(phase=phase, message=""))
        assert compute.state(ref).phase == expected
    compute.cancel(ref)
    assert core.delete_namespaced_pod.called and core.delete_namespaced_secret.called
    assert not core.delete_namespaced_persistent_volume_claim.called  # the files outlive the Pod
