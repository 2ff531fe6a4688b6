"""The AI space pages' own logic: the create form as a typed spec, and what the list, the approvals
queue and the detail view show to a developer and to a tenant admin."""

import pytest

from backend.errors import ErrorCode, MedAIError
from backend.services.space import views, workbenches
from state.space import FORM_DEFAULTS, present, workbench_spec
from state.space_detail import present as present_workbench
from tests.unit.identity_world import add_tenant, add_user, sign


def test_the_form_becomes_a_typed_spec_and_a_non_number_is_named():
    spec = workbench_spec({**FORM_DEFAULTS, "name": " ecg-lab ", "gpus": "1", "idle_timeout_min": "15"})
    assert (spec.name, spec.gpus, spec.cpu, spec.idle_timeout_min) == ("ecg-lab", 1, 2.0, 15.0)
    assert workbench_spec({**FORM_DEFAULTS, "name": "x"}).idle_timeout_min is None  # the platform's default
    with pytest.raises(MedAIError) as raised:
        workbench_spec({**FORM_DEFAULTS, "name": "x", "memory_gb": "lots"})
    assert raised.value.code is ErrorCode.DATA_INVALID and "memory_gb" in raised.value.message


def test_a_developer_sees_their_workbench_and_an_admin_the_queue(runtime):
    tenant = add_tenant(runtime, "xiangya-ui")
    _, dev = sign(runtime, add_user(runtime, "dev@xy.cn", [(tenant, "developer")]))
    _, admin = sign(runtime, add_user(runtime, "admin@xy.cn", [(tenant, "tenant_admin")]))
    with runtime.session() as session:
        small = workbenches.create(session, runtime.settings, dev, workbenches.WorkbenchSpec("ecg-lab", cpu=1))
        big = workbenches.WorkbenchSpec("gpu-lab", gpus=2, reason="fine-tuning")
        workbenches.create(session, runtime.settings, dev, big)
    with runtime.session() as session:
        mine = present(views.overview(session, dev, runtime.settings))
        assert mine.may_create and not mine.may_approve and mine.approvals == []
        assert [(w["name"], w["status"], w["role"]) for w in mine.workbenches] == [
            ("ecg-lab", "starting", "owner"),
            ("gpu-lab", "pending_approval", "owner"),
        ]
        assert mine.cost["total"] == "0.00" and "4 CPU" in mine.limits
        queue = present(views.overview(session, admin, runtime.settings))
        assert [(a["name"], a["reason"], a["exceeds"]) for a in queue.approvals] == [
            ("gpu-lab", "fine-tuning", "gpus 2 > 0")
        ]
        view = present_workbench(views.workbench_detail(session, dev, runtime.settings, small.id))
        assert view.role == "owner" and view.workbench["resources"].startswith("1 CPU")
        assert [m["email"] for m in view.members] == ["dev@xy.cn"]
        assert [a["action"] for a in view.activity] == ["create"]
