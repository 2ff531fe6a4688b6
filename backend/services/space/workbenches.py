"""Workbenches (source §4.1 AI space): create within the tenant's self-service limits or ask a
tenant admin's approval with a reason, start and stop, members with roles, and opening the IDE,
which only the workbench's owners and editors may do. The controller's pass that starts and
stops JupyterLab and stops idle workbenches is in ``workbench_runtime``; cost in ``workbench_costs``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from backend.adapters.compute.ide import workbench_folder
from backend.adapters.envelope import KeyRing
from backend.errors import ErrorCode, MedAIError
from backend.models import AuditEvent, Membership, User, Workbench, WorkbenchApproval, WorkbenchMember
from backend.models.base import utcnow
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, in_tenant, may
from backend.services.identity.permissions import Action, Area
from backend.settings import Settings

ROLES = ("owner", "editor", "viewer")
WORKING = ("owner", "editor")  # may start, stop, open the IDE, install and publish
STATUSES = ("pending_approval", "rejected", "starting", "running", "stopping", "stopped", "failed")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class WorkbenchSpec:
    name: str
    description: str = ""
    image: str = ""
    cpu: float = 2.0
    gpus: int = 0
    memory_gb: float = 4.0
    storage_gb: float = 10.0
    idle_timeout_min: float | None = None  # None: MEDAI_WORKBENCH_IDLE_TIMEOUT_MIN
    reason: str = ""  # why, when the request goes beyond the self-service limits


@dataclass(frozen=True)
class Limits:
    cpu: float
    gpus: int
    memory_gb: float
    storage_gb: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.workbench_self_service_cpu,
            settings.workbench_self_service_gpus,
            settings.workbench_self_service_memory_gb,
            settings.workbench_self_service_storage_gb,
        )


@dataclass(frozen=True)
class MemberView:
    user_id: str
    email: str
    name: str
    role: str


@dataclass(frozen=True)
class ActivityRow:
    at: datetime
    action: str
    actor: str
    outcome: str
    detail: dict[str, Any]


def _audit(session: Session, principal: Principal | None, wb: Workbench, action: str, **detail: Any) -> None:
    audit.record_by(session, principal, action, "workbench", wb.id, tenant_id=wb.tenant_id, **detail)


def home_folder(settings: Settings, workbench_id: str) -> Path:
    """The workbench's persistent files (JupyterLab's root)."""
    return workbench_folder(settings.data_dir, workbench_id) / "home"


def beyond_limits(spec: WorkbenchSpec, limits: Limits) -> list[str]:
    """Which self-service limits the request goes beyond (empty: no approval needed)."""
    over = []
    for label, wanted, limit in (
        ("cpu", spec.cpu, limits.cpu),
        ("gpus", spec.gpus, limits.gpus),
        ("memory_gb", spec.memory_gb, limits.memory_gb),
        ("storage_gb", spec.storage_gb, limits.storage_gb),
    ):
        if wanted > limit:
            over.append(f"{label} {wanted:g} > {limit:g}")
    return over


def _check(spec: WorkbenchSpec) -> None:
    if not _NAME.match(spec.name):
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"'{spec.name}' is not a valid workbench name.",
            "Use 1-63 lowercase letters, digits or '-', starting with a letter or digit.",
        )
    if not (
        0 < spec.cpu <= 256 and 0 <= spec.gpus <= 16 and 0 < spec.memory_gb <= 2048 and 0 < spec.storage_gb <= 10240
    ):
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            "CPU, GPUs, memory or storage are out of range.",
            "Ask for 0-256 CPU cores, 0-16 GPUs, up to 2048 GiB memory and 10240 GiB storage.",
        )
    if spec.idle_timeout_min is not None and not 0 <= spec.idle_timeout_min <= 7 * 24 * 60:
        raise MedAIError(ErrorCode.DATA_INVALID, "The idle timeout must be 0-10080 minutes.", "0 means never.")
    if len(spec.description) > 1000 or len(spec.reason) > 1000 or len(spec.image) > 255:
        raise MedAIError(ErrorCode.DATA_INVALID, "Description, reason or image is too long.", "Shorten it.")


def create(session: Session, settings: Settings, principal: Principal, spec: WorkbenchSpec) -> Workbench:
    """A new workbench, its creator its owner. Within the limits it starts at once; beyond them it
    waits in the approvals queue with the requester's reason."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.CREATE)
    assert tenant_id is not None
    _check(spec)
    found = select(Workbench).where(Workbench.tenant_id == tenant_id, Workbench.name == spec.name)
    if session.exec(found).first():
        raise MedAIError(ErrorCode.CONFLICT, f"A workbench '{spec.name}' exists.", "Choose another name.")
    over = beyond_limits(spec, Limits.of(settings))
    if over and not spec.reason.strip():
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"This request goes beyond the self-service limits ({', '.join(over)}).",
            "Say why you need it: a tenant admin reads the reason before approving.",
        )
    wb = Workbench(
        tenant_id=tenant_id,
        name=spec.name,
        description=spec.description.strip(),
        image=spec.image.strip() or settings.workbench_image,
        cpu=spec.cpu,
        gpus=spec.gpus,
        memory_gb=spec.memory_gb,
        storage_gb=spec.storage_gb,
        idle_timeout_s=int(
            60 * (settings.workbench_idle_timeout_min if spec.idle_timeout_min is None else spec.idle_timeout_min)
        ),
        status="pending_approval" if over else "starting",
        reason="waiting for a tenant admin's approval" if over else "starting JupyterLab",
        created_by=principal.label,
        created_by_id=principal.user_id,
    )
    session.add(wb)
    session.flush()
    session.add(
        WorkbenchMember(
            tenant_id=tenant_id, workbench_id=wb.id, user_id=principal.user_id, role="owner", added_by=principal.label
        )
    )
    if over:
        session.add(
            WorkbenchApproval(
                tenant_id=tenant_id,
                workbench_id=wb.id,
                requested_by=principal.label,
                requested_by_id=principal.user_id,
                reason=spec.reason.strip(),
                exceeds=", ".join(over),
            )
        )
    _audit(session, principal, wb, "workbench.create", cpu=wb.cpu, gpus=wb.gpus, approval_needed=bool(over))
    return wb


def _workbench(session: Session, tenant_id: str | None, workbench_id: str) -> Workbench:
    return in_tenant(session, Workbench, workbench_id, tenant_id, "workbench", "Reload the workbench list.")


def member_role(session: Session, workbench_id: str, user_id: str) -> str | None:
    found = select(WorkbenchMember).where(
        WorkbenchMember.workbench_id == workbench_id, WorkbenchMember.user_id == user_id
    )
    member = session.exec(found).first()
    return member.role if member else None


def _require_role(session: Session, principal: Principal, wb: Workbench, roles: tuple[str, ...], action: str) -> str:
    """The principal's role in the workbench when it is one of ``roles``; FORBIDDEN (audited) otherwise."""
    role = member_role(session, wb.id, principal.user_id)
    if role in roles:
        return role
    _audit(session, principal, wb, action, outcome="denied", why="not a member" if role is None else f"role {role}")
    session.commit()  # the refusal stays recorded when the caller rolls back
    if role is None:
        raise MedAIError(
            ErrorCode.FORBIDDEN,
            "Only members of this workbench may do this.",
            "Ask the workbench's owner to add you as an editor.",
        )
    raise MedAIError(ErrorCode.FORBIDDEN, f"A {role} of this workbench cannot do this.", "Ask its owner for editor.")


def _visible(session: Session, principal: Principal, wb: Workbench) -> None:
    """Members see a workbench; so do tenant admins (who approve and watch cost)."""
    if member_role(session, wb.id, principal.user_id) is None and not may(
        session, principal, Area.SPACE, Action.APPROVE
    ):
        raise MedAIError(ErrorCode.NOT_FOUND, "No such workbench in this tenant.", "Reload the workbench list.")


def list_workbenches(session: Session, principal: Principal) -> list[tuple[Workbench, str]]:
    """The workbenches the principal is a member of (every one of the tenant for its admins), with its role."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.VIEW)
    roles = {
        m.workbench_id: m.role
        for m in session.exec(
            select(WorkbenchMember).where(
                WorkbenchMember.tenant_id == tenant_id, WorkbenchMember.user_id == principal.user_id
            )
        ).all()
    }
    everything = may(session, principal, Area.SPACE, Action.APPROVE)
    rows = session.exec(select(Workbench).where(Workbench.tenant_id == tenant_id).order_by(Workbench.name)).all()
    return [(wb, roles.get(wb.id, "")) for wb in rows if everything or wb.id in roles]


def get_workbench(session: Session, principal: Principal, workbench_id: str) -> tuple[Workbench, str, list[MemberView]]:
    """One workbench, the principal's role in it and its members."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.VIEW)
    wb = _workbench(session, tenant_id, workbench_id)
    _visible(session, principal, wb)
    members = session.exec(
        select(WorkbenchMember, User)
        .join(User, User.id == WorkbenchMember.user_id)
        .where(WorkbenchMember.workbench_id == wb.id)
        .order_by(WorkbenchMember.added_at)
    ).all()
    views = [MemberView(u.id, u.email, u.display_name, m.role) for m, u in members]
    return wb, member_role(session, wb.id, principal.user_id) or "", views


def activity(session: Session, principal: Principal, workbench_id: str, limit: int = 50) -> list[ActivityRow]:
    """What happened to the workbench, newest first (from the audit trail)."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.VIEW)
    wb = _workbench(session, tenant_id, workbench_id)
    _visible(session, principal, wb)
    rows = session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.tenant_id == wb.tenant_id, AuditEvent.target_type == "workbench", AuditEvent.target_id == wb.id
        )
        .order_by(AuditEvent.at.desc())  # type: ignore[union-attr]
        .limit(limit)
    ).all()
    return [ActivityRow(r.at, r.action, r.actor_label, r.outcome, r.detail) for r in rows]


# approvals ------------------------------------------------------------------------------------


def list_approvals(
    session: Session, principal: Principal, status: str = "pending"
) -> list[tuple[WorkbenchApproval, Workbench]]:
    """The approvals queue of the tenant (tenant admins)."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.APPROVE)
    query = (
        select(WorkbenchApproval, Workbench)
        .join(Workbench, Workbench.id == WorkbenchApproval.workbench_id)
        .where(WorkbenchApproval.tenant_id == tenant_id)
        .order_by(WorkbenchApproval.created_at)
    )
    if status:
        query = query.where(WorkbenchApproval.status == status)
    return [(a, w) for a, w in session.exec(query).all()]


def decide(session: Session, principal: Principal, workbench_id: str, approve: bool, note: str = "") -> Workbench:
    """Approve (the workbench starts) or reject a pending request; nobody decides their own."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.APPROVE)
    wb = _workbench(session, tenant_id, workbench_id)
    request = session.exec(
        select(WorkbenchApproval).where(WorkbenchApproval.workbench_id == wb.id, WorkbenchApproval.status == "pending")
    ).first()
    if request is None or wb.status != "pending_approval":
        raise MedAIError(ErrorCode.CONFLICT, "This workbench has no pending request.", "Reload the approvals queue.")
    if request.requested_by_id == principal.user_id and not principal.is_platform_admin:
        raise MedAIError(
            ErrorCode.FORBIDDEN, "A request cannot be approved by the person who made it.", "Ask another tenant admin."
        )
    request.status = "approved" if approve else "rejected"
    request.decided_by, request.decision_note, request.decided_at = principal.label, note.strip()[:1000], utcnow()
    wb.status = "starting" if approve else "rejected"
    wb.reason = f"{request.status} by {principal.label}" + (
        f": {request.decision_note}" if request.decision_note else ""
    )
    wb.updated_at = utcnow()
    session.add(request)
    session.add(wb)
    _audit(session, principal, wb, f"workbench.{request.status}", note=request.decision_note)
    return wb


# start, stop, members, IDE ---------------------------------------------------------------------


def start(session: Session, principal: Principal, workbench_id: str) -> Workbench:
    tenant_id = authorize(session, principal, Area.SPACE, Action.UPDATE)
    wb = _workbench(session, tenant_id, workbench_id)
    _require_role(session, principal, wb, WORKING, "workbench.start")
    if wb.status not in ("stopped", "failed"):
        raise MedAIError(ErrorCode.CONFLICT, f"The workbench is {wb.status}.", "Start a stopped workbench.")
    wb.status, wb.reason, wb.updated_at = "starting", "starting JupyterLab", utcnow()
    session.add(wb)
    _audit(session, principal, wb, "workbench.start")
    return wb


def stop(session: Session, principal: Principal, workbench_id: str) -> Workbench:
    tenant_id = authorize(session, principal, Area.SPACE, Action.UPDATE)
    wb = _workbench(session, tenant_id, workbench_id)
    _require_role(session, principal, wb, WORKING, "workbench.stop")
    if wb.status not in ("starting", "running"):
        raise MedAIError(ErrorCode.CONFLICT, f"The workbench is {wb.status}.", "Only a running workbench stops.")
    wb.status, wb.reason, wb.updated_at = "stopping", f"stopped by {principal.label}", utcnow()
    session.add(wb)
    _audit(session, principal, wb, "workbench.stop")
    return wb


def add_member(session: Session, principal: Principal, workbench_id: str, email: str, role: str) -> MemberView:
    """Add a member of the tenant to the workbench, or change their role (owners only)."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.UPDATE)
    wb = _workbench(session, tenant_id, workbench_id)
    _require_role(session, principal, wb, ("owner",), "workbench.member_add")
    if role not in ROLES:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown role '{role}'.", "Use owner, editor or viewer.")
    user = session.exec(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(User.email == email.strip().lower(), Membership.tenant_id == wb.tenant_id)
    ).first()
    if user is None:
        raise MedAIError(ErrorCode.NOT_FOUND, "Nobody with that e-mail belongs to this tenant.", "Invite them first.")
    found = select(WorkbenchMember).where(WorkbenchMember.workbench_id == wb.id, WorkbenchMember.user_id == user.id)
    member = session.exec(found).first() or WorkbenchMember(
        tenant_id=wb.tenant_id, workbench_id=wb.id, user_id=user.id, role=role, added_by=principal.label
    )
    member.role = role
    session.add(member)
    _audit(session, principal, wb, "workbench.member_add", user=user.id, role=role)
    return MemberView(user.id, user.email, user.display_name, role)


def remove_member(session: Session, principal: Principal, workbench_id: str, user_id: str) -> None:
    tenant_id = authorize(session, principal, Area.SPACE, Action.UPDATE)
    wb = _workbench(session, tenant_id, workbench_id)
    _require_role(session, principal, wb, ("owner",), "workbench.member_remove")
    members = session.exec(select(WorkbenchMember).where(WorkbenchMember.workbench_id == wb.id)).all()
    member = next((m for m in members if m.user_id == user_id), None)
    if member is None:
        raise MedAIError(ErrorCode.NOT_FOUND, "That person is not a member of this workbench.", "Reload the members.")
    if member.role == "owner" and sum(1 for m in members if m.role == "owner") == 1:
        raise MedAIError(ErrorCode.CONFLICT, "A workbench keeps at least one owner.", "Make someone else owner first.")
    session.delete(member)
    _audit(session, principal, wb, "workbench.member_remove", user=user_id)


def open_ide(session: Session, keys: KeyRing, principal: Principal, workbench_id: str) -> str:
    """The link that opens the workbench's JupyterLab (with its token), for its owners and editors
    whose tenant role may change things in the AI space (the IDE runs code)."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.UPDATE)
    wb = _workbench(session, tenant_id, workbench_id)
    _require_role(session, principal, wb, WORKING, "workbench.open_ide")
    if wb.status != "running" or not wb.token_sealed:
        raise MedAIError(ErrorCode.CONFLICT, f"The workbench is {wb.status}.", "Start it and wait until it runs.")
    token = keys.open(wb.token_sealed, f"workbench:{wb.id}")
    wb.last_activity_at = utcnow()
    session.add(wb)
    _audit(session, principal, wb, "workbench.open_ide")
    return f"{wb.url}/lab?token={token}"
