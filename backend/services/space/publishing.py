"""From a workbench to the platform: register one of its folders as a model version, submit a
training job, publish a model service. Each goes through the service the other areas use
(model_registry, training, serving), with the workbench's owners and editors allowed to."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from backend.adapters.objectstore import ObjectStore
from backend.errors import ErrorCode, MedAIError
from backend.models import Deployment, ModelVersion, TrainingJob, Workbench
from backend.services.assets import model_registry
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, in_tenant
from backend.services.identity.permissions import Action, Area
from backend.services.serving import deployments as serving
from backend.services.space.workbenches import WORKING, _require_role, home_folder
from backend.services.training import jobs as training
from backend.settings import Settings


def _member_workbench(session: Session, principal: Principal, workbench_id: str, action: str) -> Workbench:
    tenant_id = authorize(session, principal, Area.SPACE, Action.UPDATE)
    wb = in_tenant(session, Workbench, workbench_id, tenant_id, "workbench", "Reload the workbench list.")
    _require_role(session, principal, wb, WORKING, action)
    return wb


def _folder_inside(home: Path, relative: str) -> Path:
    folder = (home / relative.strip().lstrip("/")).resolve()
    if not folder.is_relative_to(home.resolve()):
        raise MedAIError(ErrorCode.FORBIDDEN, "That folder is outside the workbench.", "Pick a folder of its files.")
    if not folder.is_dir():
        raise MedAIError(ErrorCode.NOT_FOUND, f"No folder '{relative}' in the workbench.", "Check the path in the IDE.")
    return folder


def register_model(
    session: Session,
    objects: ObjectStore,
    settings: Settings,
    principal: Principal,
    workbench_id: str,
    folder: str,
    spec: model_registry.VersionSpec,
) -> ModelVersion:
    """Register a folder of the workbench (relative to its files) as the next version of a model."""
    wb = _member_workbench(session, principal, workbench_id, "workbench.register_model")
    home = home_folder(settings, wb.id)
    path = _folder_inside(home, folder)
    version = model_registry.register_version(
        session, objects, principal, spec, model_registry.folder_files(path, [home]), "workbench"
    )
    audit.record_by(
        session, principal, "workbench.register_model", "workbench", wb.id, folder=folder, model_version=version.id
    )
    return version


def submit_job(session: Session, principal: Principal, workbench_id: str, request: training.JobRequest) -> TrainingJob:
    wb = _member_workbench(session, principal, workbench_id, "workbench.submit_job")
    job = training.submit_job(session, principal, request)
    audit.record_by(session, principal, "workbench.submit_job", "workbench", wb.id, job=job.id)
    return job


def publish_service(session: Session, principal: Principal, workbench_id: str, spec: serving.DeploySpec) -> Deployment:
    wb = _member_workbench(session, principal, workbench_id, "workbench.publish_service")
    deployment = serving.deploy(session, principal, spec)
    audit.record_by(session, principal, "workbench.publish_service", "workbench", wb.id, deployment=deployment.id)
    return deployment
