"""Alerts: rules on metrics (a threshold held for a duration) and on events (a job failed, a
service is unhealthy, a queue's quota is exhausted), silences, history, and notifications
in-app, by e-mail and by webhook (source §6.1 resource alerts, §6.3 key alerts pushed).

The controller's pass (``evaluate``) checks every enabled rule. A metric rule fires once its
condition has held for ``duration_s`` and resolves when it no longer holds; an event rule
fires once per failed job, or while any service or queue is in trouble. A firing or a
resolution is one history row; while a silence covers the rule the row is kept, marked
silenced, and nobody is notified.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, or_, select

from backend.adapters.metrics import MetricsStore
from backend.adapters.notify import Notifier
from backend.errors import ErrorCode, MedAIError
from backend.models import AlertEvent, AlertRule, AlertSilence, Deployment, TrainingJob
from backend.models.base import utcnow
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, in_tenant
from backend.services.identity.permissions import Action, Area
from backend.services.ops.metrics import MEASUREMENTS

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
EVENTS = ("job_failed", "service_unhealthy", "quota_exhausted")
SEVERITIES = ("info", "warning", "critical")
CHANNELS = ("inapp", "email", "webhook")
FRESH_S = 30  # a metric value older than this is no value
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class RuleSpec:
    name: str
    kind: str  # metric | event
    measurement: str = ""
    field: str = ""
    comparison: str = ">"
    threshold: float = 0.0
    duration_s: int = 0
    event: str = ""
    severity: str = "warning"
    channels: tuple[str, ...] = ("inapp",)
    emails: tuple[str, ...] = ()
    webhook_url: str = ""


def _invalid(message: str, remedy: str) -> MedAIError:
    return MedAIError(ErrorCode.DATA_INVALID, message, remedy)


def _check(spec: RuleSpec) -> None:
    if not spec.name.strip() or len(spec.name) > 128:
        raise _invalid("A rule needs a name of 1-128 characters.", "Type a name.")
    if spec.kind == "metric":
        if spec.measurement not in MEASUREMENTS or not spec.field.strip():
            raise _invalid("A metric rule needs a known measurement and a field.", f"Use {', '.join(MEASUREMENTS)}.")
        if spec.comparison not in COMPARISONS:
            raise _invalid(f"Unknown comparison '{spec.comparison}'.", f"Use {' '.join(COMPARISONS)}.")
    elif spec.kind == "event":
        if spec.event not in EVENTS:
            raise _invalid(f"Unknown event '{spec.event}'.", f"Use {', '.join(EVENTS)}.")
    else:
        raise _invalid(f"Unknown rule kind '{spec.kind}'.", "Use metric or event.")
    if not 0 <= spec.duration_s <= 86_400 or spec.severity not in SEVERITIES:
        raise _invalid("Duration must be 0-86400 s and severity info, warning or critical.", "Fix them.")
    if not spec.channels or any(c not in CHANNELS for c in spec.channels):
        raise _invalid("Pick at least one channel: in-app, e-mail or webhook.", f"Use {', '.join(CHANNELS)}.")
    if "email" in spec.channels and (not spec.emails or not all(_EMAIL.match(e) for e in spec.emails)):
        raise _invalid("E-mail alerts need valid recipient addresses.", "Type one or more addresses.")
    if "webhook" in spec.channels and not spec.webhook_url.startswith(("http://", "https://")):
        raise _invalid("Webhook alerts need an http(s) URL.", "Type the URL that receives the alert.")


def _audit(session: Session, principal: Principal | None, rule: AlertRule, action: str, **detail: Any) -> None:
    audit.record_by(session, principal, action, "alert_rule", rule.id, tenant_id=rule.tenant_id, **detail)


def create_rule(session: Session, principal: Principal, spec: RuleSpec) -> AlertRule:
    tenant_id = authorize(session, principal, Area.OPS, Action.CREATE)
    if tenant_id is None:
        raise _invalid("Alert rules belong to a tenant.", "Switch to a tenant first.")
    _check(spec)
    rule = AlertRule(
        tenant_id=tenant_id,
        name=spec.name.strip(),
        kind=spec.kind,
        measurement=spec.measurement if spec.kind == "metric" else "",
        field=spec.field.strip() if spec.kind == "metric" else "",
        comparison=spec.comparison,
        threshold=spec.threshold,
        duration_s=spec.duration_s,
        event=spec.event if spec.kind == "event" else "",
        severity=spec.severity,
        channels=list(dict.fromkeys(spec.channels)),
        emails=list(spec.emails),
        webhook_url=spec.webhook_url.strip(),
        checked_until=utcnow(),
        created_by=principal.label,
        created_by_id=principal.user_id,
    )
    session.add(rule)
    session.flush()
    _audit(session, principal, rule, "alert_rule.create", kind=rule.kind, severity=rule.severity)
    return rule


def list_rules(session: Session, principal: Principal) -> list[AlertRule]:
    tenant_id = authorize(session, principal, Area.OPS, Action.VIEW)
    return list(session.exec(select(AlertRule).where(AlertRule.tenant_id == tenant_id).order_by(AlertRule.name)))


def _rule(session: Session, tenant_id: str | None, rule_id: str) -> AlertRule:
    return in_tenant(session, AlertRule, rule_id, tenant_id, "alert rule", "Reload the rule list.")


def set_enabled(session: Session, principal: Principal, rule_id: str, enabled: bool) -> AlertRule:
    tenant_id = authorize(session, principal, Area.OPS, Action.UPDATE)
    rule = _rule(session, tenant_id, rule_id)
    rule.enabled = enabled
    if not enabled:
        rule.state, rule.pending_since = "ok", None
    session.add(rule)
    _audit(session, principal, rule, "alert_rule.enable" if enabled else "alert_rule.disable")
    return rule


def delete_rule(session: Session, principal: Principal, rule_id: str) -> None:
    tenant_id = authorize(session, principal, Area.OPS, Action.DELETE)
    rule = _rule(session, tenant_id, rule_id)
    _audit(session, principal, rule, "alert_rule.delete", name=rule.name)
    for silence in session.exec(select(AlertSilence).where(AlertSilence.rule_id == rule.id)):
        session.delete(silence)
    session.delete(rule)


def silence(
    session: Session, principal: Principal, rule_id: str | None, minutes: float, reason: str = ""
) -> AlertSilence:
    """No notifications for ``rule_id`` (None: every rule of the tenant) for ``minutes`` from now."""
    tenant_id = authorize(session, principal, Area.OPS, Action.UPDATE)
    assert tenant_id is not None
    if rule_id:
        _rule(session, tenant_id, rule_id)
    if not 0 < minutes <= 60 * 24 * 30:
        raise _invalid("A silence lasts 1 minute to 30 days.", "Pick a shorter silence.")
    now = utcnow()
    row = AlertSilence(
        tenant_id=tenant_id,
        rule_id=rule_id or None,
        reason=reason.strip()[:512],
        starts_at=now,
        ends_at=now + timedelta(minutes=minutes),
        created_by=principal.label,
    )
    session.add(row)
    session.flush()
    audit.record_by(session, principal, "alert_silence.create", "alert_silence", row.id, rule=rule_id, minutes=minutes)
    return row


def list_silences(session: Session, principal: Principal) -> list[AlertSilence]:
    tenant_id = authorize(session, principal, Area.OPS, Action.VIEW)
    query = select(AlertSilence).where(AlertSilence.tenant_id == tenant_id, AlertSilence.ends_at > utcnow())
    return list(session.exec(query.order_by(AlertSilence.ends_at)))


def end_silence(session: Session, principal: Principal, silence_id: str) -> AlertSilence:
    tenant_id = authorize(session, principal, Area.OPS, Action.UPDATE)
    row = in_tenant(session, AlertSilence, silence_id, tenant_id, "silence", "Reload the silences.")
    row.ends_at = utcnow()
    session.add(row)
    audit.record_by(session, principal, "alert_silence.end", "alert_silence", row.id)
    return row


def history(session: Session, principal: Principal, limit: int = 100, firing_only: bool = False) -> list[AlertEvent]:
    tenant_id = authorize(session, principal, Area.OPS, Action.VIEW)
    query = select(AlertEvent).where(AlertEvent.tenant_id == tenant_id)
    if firing_only:
        query = query.where(AlertEvent.status == "firing")
    return list(session.exec(query.order_by(col(AlertEvent.at).desc()).limit(max(1, min(limit, 1000)))))


def acknowledge(session: Session, principal: Principal, event_id: str) -> AlertEvent:
    tenant_id = authorize(session, principal, Area.OPS, Action.UPDATE)
    event = in_tenant(session, AlertEvent, event_id, tenant_id, "alert", "Reload the alert history.")
    event.acknowledged = True
    session.add(event)
    audit.record_by(session, principal, "alert.acknowledge", "alert_event", event.id)
    return event


# the controller's pass -------------------------------------------------------------------


@dataclass
class Finding:
    """What one rule sees now."""

    holds: bool
    message: str = ""
    value: float | None = None
    subjects: list[tuple[str, str, str]] = field(default_factory=list)  # (type, id, message) fired one by one


def _silenced(session: Session, rule: AlertRule, now: datetime) -> bool:
    query = select(AlertSilence.id).where(
        AlertSilence.tenant_id == rule.tenant_id,
        AlertSilence.starts_at <= now,
        AlertSilence.ends_at > now,
        or_(col(AlertSilence.rule_id).is_(None), AlertSilence.rule_id == rule.id),
    )
    return session.exec(query).first() is not None


def _metric(rule: AlertRule, metrics: MetricsStore, now: datetime) -> Finding:
    tags = {"tenant_id": rule.tenant_id} if MEASUREMENTS.get(rule.measurement) else {}
    found = metrics.query(rule.measurement, tags, now - timedelta(seconds=FRESH_S), None, (rule.field,))
    latest = [s.values[-1] for s in found if s.values]
    if not latest:
        return Finding(False, f"no {rule.measurement}.{rule.field} data in the last {FRESH_S} s")
    worst = max(latest) if rule.comparison.startswith(">") else min(latest)
    holds = COMPARISONS[rule.comparison](worst, rule.threshold)
    text = f"{rule.measurement}.{rule.field} = {worst:.4g} ({rule.comparison} {rule.threshold:g})"
    return Finding(holds, text, worst)


def _job_failures(session: Session, rule: AlertRule, now: datetime) -> Finding:
    since = rule.checked_until or rule.created_at
    failed = session.exec(
        select(TrainingJob).where(
            TrainingJob.tenant_id == rule.tenant_id,
            TrainingJob.status == "failed",
            col(TrainingJob.finished_at) > since,
            col(TrainingJob.finished_at) <= now,
        )
    ).all()
    rule.checked_until = now
    subjects = [("job", j.id, f"job {j.name} failed: {j.reason[:300]}") for j in failed]
    return Finding(False, "", float(len(failed)), subjects)


def _unhealthy_services(session: Session, rule: AlertRule) -> Finding:
    failed = session.exec(
        select(Deployment).where(Deployment.tenant_id == rule.tenant_id, Deployment.status == "failed")
    ).all()
    names = ", ".join(f"{d.name} ({d.reason[:120]})" for d in failed)
    return Finding(bool(failed), f"unhealthy services: {names}" if failed else "every service is healthy", len(failed))


def _exhausted_quotas(session: Session, rule: AlertRule) -> Finding:
    waiting = session.exec(
        select(TrainingJob).where(TrainingJob.tenant_id == rule.tenant_id, TrainingJob.status == "queued")
    ).all()
    blocked = [j for j in waiting if "quota" in j.reason.lower()]
    text = "; ".join(f"{j.name}: {j.reason[:120]}" for j in blocked[:5])
    return Finding(
        bool(blocked), f"jobs waiting on quota: {text}" if blocked else "no job waits on quota", len(blocked)
    )


def _finding(session: Session, metrics: MetricsStore, rule: AlertRule, now: datetime) -> Finding:
    if rule.kind == "metric":
        return _metric(rule, metrics, now)
    if rule.event == "job_failed":
        return _job_failures(session, rule, now)
    if rule.event == "service_unhealthy":
        return _unhealthy_services(session, rule)
    return _exhausted_quotas(session, rule)


def _notify(notifier: Notifier, rule: AlertRule, event: AlertEvent) -> dict[str, str]:
    subject = f"[{event.severity.upper()}] {event.status}: {rule.name}"
    body = f"{rule.name} is {event.status} at {event.at.isoformat()}.\n\n{event.message}\n"
    payload = {
        "rule": rule.name,
        "rule_id": rule.id,
        "status": event.status,
        "severity": event.severity,
        "message": event.message,
        "value": event.value,
        "at": event.at.isoformat(),
        "subject": {"type": event.subject_type, "id": event.subject_id},
    }
    deliveries = {"inapp": "shown"}
    if "email" in rule.channels:
        deliveries["email"] = notifier.email(rule.emails, subject, body)
    if "webhook" in rule.channels:
        deliveries["webhook"] = notifier.webhook(rule.webhook_url, payload)
    return deliveries


def _record(
    session: Session,
    notifier: Notifier,
    rule: AlertRule,
    status: str,
    message: str,
    value: float | None,
    now: datetime,
    subject: tuple[str, str] = ("", ""),
) -> AlertEvent:
    event = AlertEvent(
        tenant_id=rule.tenant_id,
        rule_id=rule.id,
        rule_name=rule.name,
        at=now,
        status=status,
        severity=rule.severity,
        message=message,
        value=value,
        subject_type=subject[0] or ("metric" if rule.kind == "metric" else ""),
        subject_id=subject[1],
        silenced=_silenced(session, rule, now),
    )
    event.deliveries = {} if event.silenced else _notify(notifier, rule, event)
    session.add(event)
    _audit(session, None, rule, f"alert.{status}", silenced=event.silenced, severity=rule.severity)
    return event


def _step(session: Session, notifier: Notifier, rule: AlertRule, found: Finding, now: datetime) -> None:
    for kind, subject_id, message in found.subjects:  # one-off events, each fired once
        _record(session, notifier, rule, "firing", message, found.value, now, (kind, subject_id))
    if found.subjects or (rule.kind == "event" and rule.event == "job_failed"):
        return
    if not found.holds:
        if rule.state == "firing":
            _record(session, notifier, rule, "resolved", found.message, found.value, now)
        rule.state, rule.pending_since = "ok", None
        return
    rule.pending_since = rule.pending_since or now
    if rule.state != "firing" and now - rule.pending_since >= timedelta(seconds=rule.duration_s):
        rule.state = "firing"
        _record(session, notifier, rule, "firing", found.message, found.value, now)
    elif rule.state == "ok":
        rule.state = "pending"


def evaluate(session: Session, metrics: MetricsStore, notifier: Notifier, now: datetime | None = None) -> None:
    """One controller pass over every enabled rule of every tenant."""
    now = now or utcnow()
    for rule in session.exec(select(AlertRule).where(AlertRule.enabled == True)).all():  # noqa: E712 (SQL)
        _step(session, notifier, rule, _finding(session, metrics, rule, now), now)
        session.add(rule)
