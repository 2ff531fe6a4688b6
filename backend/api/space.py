"""/api/workbenches (AI space): workbenches, approvals, members, the IDE link, packages, cost and
budget, and publishing from a workbench (model version, training job, model service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from backend.api.assets import ModelVersionOut
from backend.api.auth import CurrentPrincipal, RuntimeDep
from backend.api.dependencies import SessionDep
from backend.api.serving import DeploymentOut, NewDeployment
from backend.api.training import JobOut, NewJob
from backend.errors import ErrorCode, MedAIError
from backend.services.assets import model_registry
from backend.services.serving import deployments as serving
from backend.services.space import costs as workbench_costs
from backend.services.space import packages as workbench_packages
from backend.services.space import publishing, workbenches
from backend.services.training import jobs as training

router = APIRouter(prefix="/api", tags=["space"])


class NewWorkbench(BaseModel):
    name: str
    description: str = ""
    image: str = ""
    cpu: float = 2.0
    gpus: int = 0
    memory_gb: float = 4.0
    storage_gb: float = 10.0
    idle_timeout_min: float | None = Field(None, description="Minutes idle before it stops (default: the setting)")
    reason: str = Field("", description="Why, when the request goes beyond the self-service limits")


class WorkbenchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str
    image: str
    cpu: float
    gpus: int
    memory_gb: float
    storage_gb: float
    idle_timeout_s: int
    status: str
    reason: str
    last_activity_at: datetime | None
    started_at: datetime | None
    created_by: str
    created_at: datetime


class WorkbenchRow(BaseModel):
    workbench: WorkbenchOut
    role: str  # the caller's role in it ("" for a tenant admin who is not a member)


class MemberOut(BaseModel):
    user_id: str
    email: str
    name: str
    role: str


class WorkbenchDetail(BaseModel):
    workbench: WorkbenchOut
    role: str
    members: list[MemberOut]


class Decision(BaseModel):
    approve: bool
    note: str = ""


class ApprovalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    workbench_id: str
    requested_by: str
    reason: str
    exceeds: str
    status: str
    decided_by: str
    decision_note: str
    created_at: datetime


class ApprovalRow(BaseModel):
    approval: ApprovalOut
    workbench: WorkbenchOut


class NewMember(BaseModel):
    email: str
    role: str = "editor"


class IdeLink(BaseModel):
    url: str


class NewPackage(BaseModel):
    requirement: str


class PackageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    requirement: str
    status: str
    detail: str
    requested_by: str
    created_at: datetime
    finished_at: datetime | None


class Budget(BaseModel):
    monthly_budget: float


class FolderModel(BaseModel):
    folder: str = Field(description="A folder of the workbench's files, relative to its root")
    spec: dict[str, Any] = Field(default_factory=dict, description="model_name, framework, base_model, …")


def _out(wb: Any) -> WorkbenchOut:
    return WorkbenchOut.model_validate(wb)


@router.get("/workbenches", response_model=list[WorkbenchRow])
def get_workbenches(principal: CurrentPrincipal, session: SessionDep) -> Any:
    """The caller's workbenches (every one of the tenant for tenant admins)."""
    return [WorkbenchRow(workbench=_out(w), role=r) for w, r in workbenches.list_workbenches(session, principal)]


@router.post("/workbenches", response_model=WorkbenchOut, status_code=201)
def post_workbench(body: NewWorkbench, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    """Create a workbench; beyond the self-service limits it waits for a tenant admin's approval."""
    spec = workbenches.WorkbenchSpec(**body.model_dump())
    return _out(workbenches.create(session, rt.settings, principal, spec))


@router.get("/workbenches/{workbench_id}", response_model=WorkbenchDetail)
def get_workbench(workbench_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    wb, role, members = workbenches.get_workbench(session, principal, workbench_id)
    return WorkbenchDetail(workbench=_out(wb), role=role, members=[MemberOut(**vars(m)) for m in members])


@router.get("/workbenches/{workbench_id}/activity", response_model=list[workbenches.ActivityRow])
def get_activity(workbench_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return workbenches.activity(session, principal, workbench_id)


@router.post("/workbenches/{workbench_id}/start", response_model=WorkbenchOut)
def post_start(workbench_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return _out(workbenches.start(session, principal, workbench_id))


@router.post("/workbenches/{workbench_id}/stop", response_model=WorkbenchOut)
def post_stop(workbench_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return _out(workbenches.stop(session, principal, workbench_id))


@router.post("/workbenches/{workbench_id}/decision", response_model=WorkbenchOut)
def post_decision(workbench_id: str, body: Decision, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """Approve or reject the workbench's pending request (tenant admins)."""
    return _out(workbenches.decide(session, principal, workbench_id, body.approve, body.note))


@router.get("/workbench-approvals", response_model=list[ApprovalRow])
def get_approvals(principal: CurrentPrincipal, session: SessionDep, status: str = "pending") -> Any:
    """The tenant's approvals queue (tenant admins)."""
    return [
        ApprovalRow(approval=ApprovalOut.model_validate(a), workbench=_out(w))
        for a, w in workbenches.list_approvals(session, principal, status)
    ]


@router.post("/workbenches/{workbench_id}/members", response_model=MemberOut)
def post_member(workbench_id: str, body: NewMember, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return MemberOut(**vars(workbenches.add_member(session, principal, workbench_id, body.email, body.role)))


@router.delete("/workbenches/{workbench_id}/members/{user_id}", status_code=204)
def delete_member(workbench_id: str, user_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    workbenches.remove_member(session, principal, workbench_id, user_id)


@router.post("/workbenches/{workbench_id}/ide", response_model=IdeLink)
def post_ide(workbench_id: str, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep) -> Any:
    """The link (with its token) that opens the workbench's JupyterLab; owners and editors only."""
    return IdeLink(url=workbenches.open_ide(session, rt.keys, principal, workbench_id))


@router.get("/workbenches/{workbench_id}/packages", response_model=list[PackageOut])
def get_packages(workbench_id: str, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return [PackageOut.model_validate(p) for p in workbench_packages.list_packages(session, principal, workbench_id)]


@router.post("/workbenches/{workbench_id}/packages", response_model=PackageOut, status_code=202)
def post_package(workbench_id: str, body: NewPackage, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """Install a pip package into the workbench's environment (then recorded in its requirements.txt)."""
    package = workbench_packages.request_install(session, principal, workbench_id, body.requirement)
    return PackageOut.model_validate(package)


@router.get("/workbench-costs", response_model=workbench_costs.CostReport)
def get_costs(principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep, month: str = "") -> Any:
    """Resource-hours × prices per workbench and for the tenant in a month (YYYY-MM), and the budget."""
    return workbench_costs.cost_report(session, rt.settings, principal, month)


@router.put("/workbench-budget", response_model=Budget)
def put_budget(body: Budget, principal: CurrentPrincipal, session: SessionDep) -> Any:
    return Budget(monthly_budget=workbench_costs.set_budget(session, principal, body.monthly_budget).monthly_budget)


@router.post("/workbenches/{workbench_id}/models", response_model=ModelVersionOut, status_code=201)
def post_model(
    workbench_id: str, body: FolderModel, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> Any:
    """Register a folder of the workbench as the next version of a model (the model registry's path)."""
    try:
        spec = model_registry.VersionSpec(
            **{**body.spec, "dataset_version_ids": tuple(body.spec.get("dataset_version_ids", ()))}
        )
    except TypeError as error:
        raise MedAIError(ErrorCode.DATA_INVALID, f"The model description is invalid: {error}.", "Fix it.") from None
    version = publishing.register_model(session, rt.objects, rt.settings, principal, workbench_id, body.folder, spec)
    return ModelVersionOut.model_validate(version)


@router.post("/workbenches/{workbench_id}/jobs", response_model=JobOut, status_code=201)
def post_job(workbench_id: str, body: NewJob, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """Submit a training job from the workbench (the training service's path)."""
    request = training.JobRequest(
        **{
            **body.model_dump(),
            "dataset_version_ids": tuple(body.dataset_version_ids),
            "eval_dataset_version_ids": tuple(body.eval_dataset_version_ids),
        }
    )
    return JobOut.model_validate(publishing.submit_job(session, principal, workbench_id, request))


@router.post("/workbenches/{workbench_id}/deployments", response_model=DeploymentOut, status_code=201)
def post_deployment(workbench_id: str, body: NewDeployment, principal: CurrentPrincipal, session: SessionDep) -> Any:
    """Publish a model service from the workbench (the serving service's path)."""
    spec = serving.DeploySpec(**body.model_dump())
    return DeploymentOut.model_validate(publishing.publish_service(session, principal, workbench_id, spec))
