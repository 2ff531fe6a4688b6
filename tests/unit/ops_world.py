"""A tenant for the operations tests: its owner, a tenant admin, a developer and a clinician,
a registered model version, a model service (not started) and a training job."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from backend.models import TrainingJob
from backend.runtime import Runtime
from backend.services.assets import datasets, model_registry
from backend.services.identity.access import Principal
from backend.services.serving import deployments as serving
from backend.services.training import jobs as training
from tests.unit.identity_world import add_tenant, add_user, sign

ROWS = b'{"instruction": "Diet for hypertension?", "output": "Less salt."}\n{"instruction": "q", "output": "a"}\n'


@dataclass
class Ward:
    tenant_id: str
    owner: Principal
    admin: Principal
    dev: Principal
    clinician: Principal
    deployment_id: str
    job_id: str
    tokens: dict[str, str] = field(default_factory=dict)  # role -> browser session token


def build_ward(rt: Runtime, slug: str = "xiangya") -> Ward:
    tenant = add_tenant(rt, slug)
    signed = {
        role: sign(rt, add_user(rt, f"{role}@{slug}.cn", [(tenant, role)]))
        for role in ("tenant_owner", "tenant_admin", "developer", "clinician")
    }
    people = {role: principal for role, (_, principal) in signed.items()}
    dev = people["developer"]
    with rt.session() as session:
        version = model_registry.register_version(
            session,
            rt.objects,
            dev,
            model_registry.VersionSpec(model_name=f"{slug}-model"),
            [("model.safetensors", io.BytesIO(b"weights"))],
            "upload",
        )
        deployment = serving.deploy(session, dev, serving.DeploySpec(f"{slug}-chat", version.id, replicas=2))
        data = datasets.import_version(
            session,
            rt.objects,
            dev,
            name="notes",
            filename="notes.jsonl",
            stream=io.BytesIO(ROWS),
            scratch_dir=rt.settings.scratch_dir,
        )
        job = training.submit_job(
            session, dev, training.JobRequest(f"{slug}-sft", "sft", version.id, (data.id,), preset="quick-check")
        )
    return Ward(
        tenant.id,
        people["tenant_owner"],
        people["tenant_admin"],
        dev,
        people["clinician"],
        deployment.id,
        job.id,
        {role: token for role, (token, _) in signed.items()},
    )


def fail_job(rt: Runtime, job_id: str, reason: str = "CUDA out of memory") -> None:
    from backend.models.base import utcnow

    with rt.session() as session:
        job = session.get(TrainingJob, job_id)
        job.status, job.reason, job.finished_at = "failed", reason, utcnow()
        session.add(job)
