"""Work orders: the status workflow, comments and links; an operations action waits for a
tenant admin's approval and then runs through the serving service; the emergency path runs
at once, flagged, with audit rows for both."""

import pytest
from sqlmodel import select

from backend.errors import MedAIError
from backend.models import AuditEvent, Deployment, Tenant
from backend.services.ops import work_orders
from tests.unit.ops_world import build_ward


@pytest.fixture
def ward(runtime):
    return build_ward(runtime)


def _audit(runtime, order_id):
    with runtime.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.target_id == order_id).order_by(AuditEvent.id))
        return [(a.action, a.actor_label, a.outcome) for a in rows]


def _replicas(runtime, deployment_id):
    with runtime.session() as session:
        return session.get(Deployment, deployment_id).replicas


def test_scaling_waits_for_an_admins_approval_then_runs(runtime, ward):
    spec = work_orders.OrderSpec(
        "Scale chat down overnight",
        "change",
        "high",
        action={"kind": "scale", "deployment_id": ward.deployment_id, "replicas": 1},
        links=({"kind": "deployment", "id": ward.deployment_id},),
    )
    with runtime.session() as session:
        order = work_orders.create_order(session, ward.dev, spec)
        order_id = order.id
        assert order.status == "pending_approval" and order.action["deployment"] == "xiangya-chat"
    assert _replicas(runtime, ward.deployment_id) == 2  # nothing ran yet
    with runtime.session() as session, pytest.raises(MedAIError, match="role"):
        work_orders.approve(session, ward.dev, order_id)  # developers do not approve
    with runtime.session() as session:
        work_orders.comment(session, ward.dev, order_id, "Traffic is low after 22:00.")
        order = work_orders.approve(session, ward.admin, order_id)
        assert (order.status, order.approved_by) == ("executed", "tenant_admin@xiangya.cn")
    assert _replicas(runtime, ward.deployment_id) == 1
    actions = _audit(runtime, order_id)
    assert ("work_order.approve", "tenant_admin@xiangya.cn", "ok") in actions
    assert ("work_order.execute", "tenant_admin@xiangya.cn", "ok") in actions
    with runtime.session() as session:
        scaled = session.exec(select(AuditEvent).where(AuditEvent.action == "deployment.scale")).one()
        assert scaled.actor_label == "tenant_admin@xiangya.cn"  # the serving service did it, as the approver
        _, comments = work_orders.get_order(session, ward.clinician, order_id)
        assert [c.body for c in comments] == ["Traffic is low after 22:00."]


def test_no_one_approves_their_own_request_and_rejection_runs_nothing(runtime, ward):
    spec = work_orders.OrderSpec("Stop chat", action={"kind": "stop", "deployment_id": ward.deployment_id})
    with runtime.session() as session:
        order_id = work_orders.create_order(session, ward.admin, spec).id
    with runtime.session() as session, pytest.raises(MedAIError, match="your own"):
        work_orders.approve(session, ward.admin, order_id)
    with runtime.session() as session:
        assert work_orders.reject(session, ward.owner, order_id, "peak hours").status == "rejected"
        with pytest.raises(MedAIError, match="rejected"):
            work_orders.approve(session, ward.owner, order_id)
    assert _replicas(runtime, ward.deployment_id) == 2
    assert ("work_order.reject", "tenant_owner@xiangya.cn", "ok") in _audit(runtime, order_id)


def test_the_emergency_path_runs_at_once_flagged_and_audited(runtime, ward):
    spec = work_orders.OrderSpec(
        "Chat leaks PHI: stop it now",
        "incident",
        "urgent",
        action={"kind": "stop", "deployment_id": ward.deployment_id},
        emergency=True,
    )
    with runtime.session() as session:
        order = work_orders.create_order(session, ward.dev, spec)
        order_id = order.id
        assert (order.status, order.emergency, order.approved_by) == ("executed", True, "")
    with runtime.session() as session:
        assert session.get(Deployment, ward.deployment_id).status == "stopped"
    assert ("work_order.emergency", "developer@xiangya.cn", "ok") in _audit(runtime, order_id)


def test_status_workflow_assignee_and_links(runtime, ward):
    with runtime.session() as session:
        order = work_orders.create_order(
            session,
            ward.clinician,
            work_orders.OrderSpec("Model answers slowly", links=({"kind": "job", "id": ward.job_id},)),
        )
        order_id = order.id
        assert order.status == "open" and order.links == [{"kind": "job", "id": ward.job_id}]
        work_orders.assign(session, ward.admin, order_id, ward.dev.user_id)
        work_orders.set_status(session, ward.dev, order_id, "in_progress")
        work_orders.set_status(session, ward.dev, order_id, "resolved")
        with pytest.raises(MedAIError, match="cannot become"):
            work_orders.set_status(session, ward.dev, order_id, "executed")
        with pytest.raises(MedAIError, match="No such job"):
            work_orders.create_order(
                session, ward.dev, work_orders.OrderSpec("x", links=({"kind": "job", "id": "nope"},))
            )
        with pytest.raises(MedAIError, match="emergency"):
            work_orders.create_order(session, ward.dev, work_orders.OrderSpec("x", emergency=True))
    with runtime.session() as session:
        order, _ = work_orders.get_order(session, ward.dev, order_id)
        assert (order.status, order.assignee) == ("resolved", "developer@xiangya.cn")


def _approved(runtime, requester, approver, action):
    with runtime.session() as session:
        order_id = work_orders.create_order(session, requester, work_orders.OrderSpec("ops", action=action)).id
    with runtime.session() as session:
        return work_orders.approve(session, approver, order_id)


def test_deleting_a_service_waits_for_approval_and_the_controller_removes_it(runtime, ward):
    from backend.services.serving import deployments as serving

    order = _approved(runtime, ward.dev, ward.admin, {"kind": "delete", "deployment_id": ward.deployment_id})
    assert order.status == "executed" and order.outcome.startswith("delete xiangya-chat done by")
    with runtime.session() as session:
        assert session.get(Deployment, ward.deployment_id).status == "deleting"
    with runtime.session() as session:
        serving.reconcile(session, runtime.compute)
    with runtime.session() as session:
        assert session.get(Deployment, ward.deployment_id) is None
        removed = session.exec(select(AuditEvent).where(AuditEvent.action == "deployment.removed")).one()
    assert removed.target_id == ward.deployment_id


def test_draining_a_node_needs_a_platform_admins_approval(runtime, ward):
    from backend.services.orchestration import pools as orchestration
    from backend.services.training import jobs as training
    from tests.unit.identity_world import add_user, sign

    with runtime.session() as session:
        node = training.local_pool(session).nodes[0]["name"]
    drain = {"kind": "drain", "pool": "local", "node": node}
    refused = _approved(runtime, ward.dev, ward.admin, drain)  # a tenant admin cannot drain the platform's node
    assert refused.status == "failed" and "FORBIDDEN" in refused.outcome
    with runtime.session() as session:
        tenant = session.get(Tenant, ward.tenant_id)
    root = sign(runtime, add_user(runtime, "root@medai.local", platform_admin=True), tenant)[1]  # acting there
    with runtime.session() as session:
        order_id = work_orders.create_order(session, ward.dev, work_orders.OrderSpec("drain", action=drain)).id
        order = work_orders.approve(session, root, order_id)
        assert order.status == "executed", order.outcome
        (pool,) = [p for p in orchestration.list_pools(session, ward.dev) if p.name == "local"]
    assert pool.nodes[0].draining
    with runtime.session() as session, pytest.raises(MedAIError, match="No such node"):
        work_orders.create_order(
            session, ward.dev, work_orders.OrderSpec("x", action={"kind": "drain", "pool": "local", "node": "nope"})
        )
