"""A platform admin acting in a tenant (without a membership there) trains a model: the
controller registers the result in the admin's name, as it does for a member."""

import io
import json

from backend.adapters.compute import RunState
from backend.adapters.objectstore import tenant_prefix
from backend.models import ModelVersion, TrainingJob
from backend.services.assets import datasets, model_registry
from backend.services.training import jobs as training
from tests.unit.identity_world import add_tenant, add_user, sign
from tests.unit.training.test_training_service import ALPACA, RecordingCompute


def test_a_platform_admins_job_registers_its_trained_model(runtime):
    tenant = add_tenant(runtime, "xiangya")
    _, admin = sign(runtime, add_user(runtime, "root@medai.local", platform_admin=True), tenant)
    assert admin.role is None and admin.tenant_id == tenant.id  # acting in the tenant, no membership
    with runtime.session() as session:
        base = model_registry.register_version(
            session,
            runtime.objects,
            admin,
            model_registry.VersionSpec(model_name="base"),
            [("model.safetensors", io.BytesIO(b"w"))],
            "upload",
        )
        data = datasets.import_version(
            session,
            runtime.objects,
            admin,
            name="sft",
            filename="s.jsonl",
            stream=io.BytesIO(ALPACA),
            scratch_dir=runtime.settings.scratch_dir,
        )
        job_id = training.submit_job(session, admin, training.JobRequest("admin-sft", "sft", base.id, (data.id,))).id
    compute = RecordingCompute()
    with runtime.session() as session:
        training.reconcile(session, compute, runtime.objects, str(runtime.settings.data_dir))
    # the worker's outputs, as it leaves them in object storage
    prefix = f"{tenant_prefix(tenant.id)}jobs/{job_id}/"
    runtime.objects.put(prefix + "output/model.safetensors", io.BytesIO(b"trained"))
    result = {"status": "succeeded", "global_step": 8, "metrics": {"train_loss": 1.5}}
    runtime.objects.put(prefix + "result.json", io.BytesIO(json.dumps(result).encode()))
    compute.states[f"{job_id}#1"] = RunState("exited", 0, "")
    with runtime.session() as session:
        training.reconcile(session, compute, runtime.objects, str(runtime.settings.data_dir))
    with runtime.session() as session:
        job = session.get(TrainingJob, job_id)
        assert job.status == "succeeded", job.reason
        trained = session.get(ModelVersion, job.result_model_version_id)
        assert trained.created_by == "root@medai.local" and trained.source == "job"
