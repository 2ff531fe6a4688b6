"""The dependency panel: pip packages installed into a workbench's environment and, once
installed, recorded in the requirements.txt of its files (so the IDE and a Pod see them)."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from sqlmodel import Session, select

from backend.adapters.compute import Compute
from backend.adapters.compute.ide import pip_command, pip_outcome, start_pip, workbench_folder
from backend.errors import ErrorCode, MedAIError
from backend.models import Workbench, WorkbenchPackage
from backend.models.base import utcnow
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, in_tenant
from backend.services.identity.permissions import Action, Area
from backend.services.space.workbenches import WORKING, _require_role, _visible
from backend.settings import Settings


def check_requirement(text: str) -> str:
    """A PEP 508 requirement by name (``pandas==2.3.1``, ``scikit-learn>=1.5``): no URLs, paths or options."""
    text = text.strip()
    try:
        parsed = Requirement(text)
    except InvalidRequirement:
        parsed = None
    if parsed is None or parsed.url or text.startswith("-") or len(text) > 200:
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"'{text[:80]}' is not a package requirement.",
            "Write a name with an optional version, such as pandas==2.3.1.",
        )
    return str(parsed)


def _workbench(session: Session, tenant_id: str | None, workbench_id: str) -> Workbench:
    return in_tenant(session, Workbench, workbench_id, tenant_id, "workbench", "Reload the workbench list.")


def request_install(session: Session, principal: Principal, workbench_id: str, requirement: str) -> WorkbenchPackage:
    """Queue a pip install into the workbench's environment (owners and editors)."""
    tenant_id = authorize(session, principal, Area.SPACE, Action.UPDATE)
    wb = _workbench(session, tenant_id, workbench_id)
    _require_role(session, principal, wb, WORKING, "workbench.package_install")
    package = WorkbenchPackage(
        tenant_id=wb.tenant_id,
        workbench_id=wb.id,
        requirement=check_requirement(requirement),
        requested_by=principal.label,
    )
    session.add(package)
    session.flush()
    audit.record_by(
        session,
        principal,
        "workbench.package_install",
        "workbench",
        wb.id,
        tenant_id=wb.tenant_id,
        package=package.requirement,
    )
    return package


def list_packages(session: Session, principal: Principal, workbench_id: str) -> list[WorkbenchPackage]:
    tenant_id = authorize(session, principal, Area.SPACE, Action.VIEW)
    wb = _workbench(session, tenant_id, workbench_id)
    _visible(session, principal, wb)
    found = select(WorkbenchPackage).where(WorkbenchPackage.workbench_id == wb.id).order_by(WorkbenchPackage.created_at)
    return list(session.exec(found).all())


def _record(home: Path, requirement: str) -> None:
    """Append to requirements.txt unless the same requirement is there already."""
    path = home / "requirements.txt"
    lines = path.read_text().splitlines() if path.is_file() else []
    if requirement not in (line.strip() for line in lines):
        home.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([*lines, requirement]) + "\n")


def reconcile(session: Session, compute: Compute, settings: Settings) -> None:
    """Start pending installs whose workbench has an environment; finish those pip has ended."""
    active = select(WorkbenchPackage).where(WorkbenchPackage.status.in_(("pending", "installing")))  # type: ignore[attr-defined]
    for package in session.exec(active).all():
        folder = workbench_folder(settings.data_dir, package.workbench_id)
        if package.status == "pending":
            if compute.backend != "local":
                package.status, package.detail = (
                    "failed",
                    "Install it from the IDE's terminal; requirements.txt is installed at each start.",
                )
            elif (folder / "env" / "bin" / "python").exists():
                command = pip_command(
                    folder, package.requirement, settings.workbench_pip_index_url, settings.workbench_pip_find_links
                )
                start_pip(folder, package.id, command)
                package.status = "installing"
            session.add(package)
            continue
        outcome = pip_outcome(folder, package.id)
        if outcome is None:
            continue
        code, tail = outcome
        package.status, package.detail, package.finished_at = (
            ("installed" if code == 0 else "failed"),
            tail[-2000:],
            utcnow(),
        )
        if code == 0:
            _record(folder / "home", package.requirement)
        session.add(package)
