"""The Operations page's own logic: the dashboard it shows (no GPU said plainly, host cards and
series, cluster GPUs from the store), log search filters, and the forms as typed specs."""

import pytest

from backend.adapters.gpus import GpuInventory
from backend.adapters.logs import LogLine
from backend.adapters.metrics import Point
from backend.errors import MedAIError
from backend.models.base import utcnow
from backend.services.ops import metrics as ops_metrics
from backend.services.ops import views as ops_views
from backend.services.ops import work_orders
from backend.services.ops.views import LogFilter
from backend.services.space import costs as workbench_costs
from state.ops import dashboard_vars, log_row
from state.ops_alerts import ORDER_DEFAULTS, RULE_DEFAULTS, order_spec, order_vars, rule_spec
from tests.unit.ops_world import build_ward

NO_GPU = GpuInventory((), "no NVIDIA driver: NVML Shared Library Not Found", False)


def dashboard(runtime, session, principal, with_cost=False):
    """The dashboard as the page shows it, read the way OpsState reads it."""
    prices = workbench_costs.Prices.of(runtime.settings)
    found = ops_views.dashboard(
        session,
        principal,
        runtime.metrics,
        runtime.collectors,
        (prices.gpu_hour, prices.cpu_hour) if with_cost else None,
    )
    report = (
        workbench_costs.cost_report(session, runtime.settings, principal) if found.may_view_workbench_cost else None
    )
    return dashboard_vars(found, report)


def search(session, runtime, principal, wanted):
    return [log_row(x) for x in ops_views.search_log_page(session, runtime.logs, principal, wanted)]


def order_detail(session, principal, order_id):
    return order_vars(ops_views.work_order_detail(session, principal, order_id))


def test_the_dashboard_says_no_gpu_and_shows_the_host(runtime):
    ward = build_ward(runtime)
    runtime.collectors = ops_metrics.CollectorState(node="n1", read_gpus=lambda: NO_GPU)
    runtime.collect_metrics()
    sum(i * i for i in range(200_000))
    runtime.collect_metrics()
    with runtime.session() as session:
        shown = dashboard(runtime, session, ward.clinician, with_cost=True)
    assert shown.may_view and not shown.gpu_available and "no NVIDIA driver" in shown.gpu_driver
    assert not shown.gpu_series and shown.gpus == []
    assert set(shown.host) >= {"cpu_pct", "mem_pct", "disk_pct"} and shown.points >= 5 and shown.latest_at
    assert {trace["name"] for trace in shown.host_figure["data"]} == {"n1 cpu_pct", "n1 mem_pct", "n1 disk_pct"}
    assert shown.jobs == {"running": "0", "queued": "1", "gpus_in_use": "0"}
    runtime.metrics.write(
        [Point("gpu", {"node": "gpu-node-1", "gpu": "0", "name": "H100"}, {"util_pct": 90}, utcnow())]
    )
    with runtime.session() as session:
        shown = dashboard(runtime, session, ward.clinician)
    assert shown.gpu_series and shown.gpu_figure["data"][0]["name"] == "gpu-node-1 GPU 0 util_pct"


def test_log_search_from_the_page(runtime):
    ward = build_ward(runtime)
    runtime.logs.append([LogLine(utcnow(), ward.tenant_id, "service", ward.deployment_id, "WARNING", "slow replica")])
    with runtime.session() as session:
        found = search(session, runtime, ward.dev, LogFilter("slow", "service", "WARNING", "15m"))
        assert [(x["level"], x["message"]) for x in found] == [("WARNING", "slow replica")]
        assert search(session, runtime, ward.dev, LogFilter("slow", "job", "", "24h")) == []
        with pytest.raises(MedAIError):
            search(session, runtime, ward.dev, LogFilter(since="forever"))


def test_forms_become_specs():
    rule = rule_spec({**RULE_DEFAULTS, "name": "hot", "emails": "a@x.cn, b@x.cn"}, ["inapp", "email"])
    assert (rule.threshold, rule.duration_s, rule.emails, rule.channels) == (
        90.0,
        60,
        ("a@x.cn", "b@x.cn"),
        ("inapp", "email"),
    )
    with pytest.raises(MedAIError, match="numbers"):
        rule_spec({**RULE_DEFAULTS, "threshold": "hot"}, ["inapp"])
    order = order_spec(
        {**ORDER_DEFAULTS, "title": "t", "action": "scale", "deployment_id": "d1", "replicas": "3"}, True
    )
    assert order.action == {"kind": "scale", "deployment_id": "d1", "replicas": 3} and order.emergency
    assert order_spec({**ORDER_DEFAULTS, "title": "t"}, False).action == {}


def test_an_opened_order_shows_comments_and_whom_it_may_be_assigned_to(runtime):
    ward = build_ward(runtime)
    with runtime.session() as session:
        order = work_orders.create_order(
            session, ward.dev, work_orders.OrderSpec("Check GPU fans", description="noisy")
        )
        work_orders.comment(session, ward.clinician, order.id, "Heard it in room 3.")
        shown = order_detail(session, ward.dev, order.id)
        assert shown.order["description"] == "noisy" and [c["body"] for c in shown.comments] == ["Heard it in room 3."]
        assert {m["email"] for m in shown.members} >= {"developer@xiangya.cn", "tenant_admin@xiangya.cn"}
        assert order_detail(session, ward.clinician, order.id).members == []  # clinicians do not list members


def test_the_cost_table_prices_jobs_and_workbenches_and_shows_the_budget(runtime):
    from datetime import timedelta

    from backend.models import TrainingJob, Workbench, WorkbenchUsage
    from backend.services.space import costs as workbench_costs

    ward = build_ward(runtime)
    now = utcnow()
    with runtime.session() as session:
        job = session.get(TrainingJob, ward.job_id)
        job.status, job.started_at, job.finished_at, job.gpus, job.cpu = (
            "succeeded",
            now - timedelta(hours=2),
            now,
            1,
            2,
        )
        session.add(job)
        bench = Workbench(tenant_id=ward.tenant_id, name="cardio-notebook", created_by="x", created_by_id="x", cpu=4)
        session.add(bench)
        session.flush()
        start = max(now - timedelta(hours=3), now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
        session.add(
            WorkbenchUsage(
                tenant_id=ward.tenant_id,
                workbench_id=bench.id,
                cpu=4,
                gpus=0,
                memory_gb=0,
                storage_gb=0,
                started_at=start,
                ended_at=now,
            )
        )
        workbench_costs.set_budget(session, ward.admin, 0.5)
    with runtime.session() as session:
        found = dashboard(runtime, session, ward.admin, with_cost=True)
    prices = workbench_costs.Prices.of(runtime.settings)
    rows = {r["name"]: r for r in found.cost}
    assert rows["xiangya-sft"]["cost"] == f"{2 * prices.gpu_hour + 4 * prices.cpu_hour:.2f}"
    bench_row = rows["cardio-notebook"]
    hours = (now - start).total_seconds() / 3600
    assert bench_row["kind"] == "workbench" and bench_row["cost"] == f"{4 * hours * prices.cpu_hour:.2f}"
    assert found.budget.endswith(" / 0.50") and found.over_budget == (4 * hours * prices.cpu_hour > 0.5)
