"""The controller's pass over workbenches: start JupyterLab for those starting (a fresh token
each start, sealed with the KeyRing), mark them running once JupyterLab answers /api/status with
that token, stop those asked to stop or idle beyond their timeout (a busy kernel, the last
activity of its kernels and terminals, or opening the IDE count as work), record each running
interval for cost, install requested packages and check the tenants' budgets."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import Session, select

from backend.adapters.compute import Compute, why_it_stopped
from backend.adapters.compute.ide import IdeLaunch
from backend.adapters.envelope import KeyRing
from backend.models import User, Workbench, WorkbenchUsage
from backend.models.base import utcnow
from backend.services.identity import audit
from backend.services.space import costs as workbench_costs
from backend.services.space import packages as workbench_packages
from backend.services.space.workbenches import home_folder
from backend.settings import Settings

logger = logging.getLogger(__name__)

START_TIMEOUT = timedelta(minutes=5)  # JupyterLab not answering by then: the start failed
MOVING = ("starting", "running", "stopping")


def _audit(session: Session, wb: Workbench, action: str, **detail: Any) -> None:
    audit.record_by(session, None, action, "workbench", wb.id, tenant_id=wb.tenant_id, **detail)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


def _ask(client: httpx.Client, url: str, token: str) -> Any:
    """A JupyterLab API answer (with the token, not counted as activity), or None."""
    try:
        answer = client.get(
            url, params={"no_track_activity": "1"}, headers={"Authorization": f"token {token}"}, timeout=2.0
        )
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


def jupyter_status(client: httpx.Client, url: str, token: str) -> dict[str, Any] | None:
    """JupyterLab's /api/status (asked with the token), or None when it does not answer."""
    return _ask(client, f"{url}/api/status", token)


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def last_work(client: httpx.Client, url: str, token: str, now: datetime) -> datetime | None:
    """When someone last worked: ``now`` while a kernel is busy, else the latest activity of its
    kernels and terminals (a browser tab left open polls the server, which is not work)."""
    kernels = _ask(client, f"{url}/api/kernels", token) or []
    terminals = _ask(client, f"{url}/api/terminals", token) or []
    if any(k.get("execution_state") == "busy" for k in kernels):
        return now
    stamps = [_stamp(item["last_activity"]) for item in (*kernels, *terminals) if item.get("last_activity")]
    return max(stamps, default=None)


def _open_usage(session: Session, wb: Workbench, now: datetime) -> None:
    session.add(
        WorkbenchUsage(
            tenant_id=wb.tenant_id,
            workbench_id=wb.id,
            cpu=wb.cpu,
            gpus=wb.gpus,
            memory_gb=wb.memory_gb,
            storage_gb=wb.storage_gb,
            started_at=now,
        )
    )


def _close_usage(session: Session, wb: Workbench, now: datetime) -> None:
    found = select(WorkbenchUsage).where(WorkbenchUsage.workbench_id == wb.id, WorkbenchUsage.ended_at.is_(None))  # type: ignore[union-attr]
    for usage in session.exec(found).all():
        usage.ended_at = now
        session.add(usage)


def _launch(session: Session, settings: Settings, wb: Workbench, token: str) -> IdeLaunch:
    owner = session.get(User, wb.created_by_id)
    return IdeLaunch(
        workbench_id=wb.id,
        token=token,
        home=str(home_folder(settings, wb.id)),
        image=wb.image or settings.workbench_image,
        cpu=wb.cpu,
        gpus=wb.gpus,
        memory_gb=wb.memory_gb,
        storage_gb=wb.storage_gb,
        git_name=owner.display_name if owner else wb.created_by,
        git_email=owner.email if owner else "",
    )


def _start(session: Session, compute: Compute, keys: KeyRing, settings: Settings, wb: Workbench, now: datetime) -> None:
    token = secrets.token_urlsafe(32)
    try:
        wb.compute_ref, wb.url = compute.start_ide(_launch(session, settings, wb, token))
    except Exception as error:  # the reason is kept on the workbench
        logger.exception("workbench %s could not start", wb.name)
        wb.status, wb.reason = "failed", f"could not start JupyterLab: {type(error).__name__}: {error}"[:1000]
        return
    wb.token_sealed = keys.seal(token, f"workbench:{wb.id}")
    wb.started_at = wb.last_activity_at = now
    _open_usage(session, wb, now)


def halt(session: Session, compute: Compute, wb: Workbench, now: datetime, status: str, reason: str) -> None:
    """Stop its JupyterLab (files stay), close its usage interval and forget the token."""
    if wb.compute_ref:
        try:
            compute.cancel(wb.compute_ref)
        except Exception:  # still marked stopped: the next start uses a new process and token
            logger.exception("workbench %s did not stop cleanly", wb.name)
    _close_usage(session, wb, now)
    wb.status, wb.reason, wb.compute_ref, wb.url, wb.token_sealed = status, reason[:1000], "", "", None


def _why_it_ended(compute: Compute, wb: Workbench, detail: str) -> str:
    return f"JupyterLab ended: {why_it_stopped(compute.log_tail(wb.compute_ref, 40), detail or 'it exited')[:300]}"


def _follow(
    session: Session, compute: Compute, keys: KeyRing, client: httpx.Client, wb: Workbench, now: datetime
) -> None:
    state = compute.state(wb.compute_ref)
    if state.phase != "running":
        halt(session, compute, wb, now, "failed", _why_it_ended(compute, wb, state.detail))
        _audit(session, wb, "workbench.failed", reason=wb.reason)
        return
    token = keys.open(wb.token_sealed or "", f"workbench:{wb.id}")
    status = jupyter_status(client, wb.url, token)
    if wb.status == "starting":
        if status is not None:
            wb.status, wb.reason = "running", "JupyterLab is running"
            _audit(session, wb, "workbench.running")
        elif now - (_aware(wb.started_at) or now) > START_TIMEOUT:
            halt(session, compute, wb, now, "failed", "JupyterLab did not answer within 5 minutes")
        return
    reported = last_work(client, wb.url, token, now) if status is not None else None
    if reported is not None:
        wb.last_activity_at = max(_aware(wb.last_activity_at) or reported, reported)
    idle = now - (_aware(wb.last_activity_at) or now)
    if wb.idle_timeout_s and idle.total_seconds() > wb.idle_timeout_s:
        minutes = round(idle.total_seconds() / 60, 1)
        halt(session, compute, wb, now, "stopped", f"stopped after {minutes:g} min without activity")
        _audit(session, wb, "workbench.idle_stop", idle_minutes=minutes, timeout_s=wb.idle_timeout_s)


def reconcile(
    session: Session,
    compute: Compute,
    keys: KeyRing,
    settings: Settings,
    now: datetime | None = None,
    client: httpx.Client | None = None,
) -> None:
    """One controller pass over the workbenches of every tenant (``client`` asks JupyterLab's status)."""
    now = now or utcnow()
    moving = session.exec(select(Workbench).where(Workbench.status.in_(MOVING))).all()  # type: ignore[attr-defined]
    with client or httpx.Client() as http:
        for wb in moving:
            if wb.status == "stopping":
                halt(session, compute, wb, now, "stopped", wb.reason or "stopped")
            elif not wb.compute_ref:
                _start(session, compute, keys, settings, wb, now)
            else:
                _follow(session, compute, keys, http, wb, now)
            wb.updated_at = now
            session.add(wb)
    session.flush()
    workbench_packages.reconcile(session, compute, settings)
    workbench_costs.check_budgets(session, workbench_costs.Prices.of(settings), now)
