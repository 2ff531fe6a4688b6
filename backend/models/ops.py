"""Operations: alert rules, silences and alert history; work orders (工单) with approvals
and comments (source §6.3 feedback, §6.4 maintenance, §6.5.3 approved operations)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from backend.models.base import utcnow
from backend.models.identity import new_id


class AlertRule(SQLModel, table=True):
    """A metric threshold held for a duration, or an event (job failed, service unhealthy, quota exhausted)."""

    __tablename__ = "alert_rule"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    name: str = Field(max_length=128)
    kind: str = Field(max_length=16)  # metric | event
    measurement: str = Field(default="", max_length=32)  # host | gpu | gateway | engine | train | jobs
    field: str = Field(default="", max_length=64)
    comparison: str = Field(default=">", max_length=2)  # > >= < <=
    threshold: float = Field(default=0.0)
    duration_s: int = Field(default=0)
    event: str = Field(default="", max_length=32)  # job_failed | service_unhealthy | quota_exhausted
    severity: str = Field(default="warning", max_length=16)  # info | warning | critical
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # inapp email webhook
    emails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    webhook_url: str = Field(default="", max_length=512)
    enabled: bool = Field(default=True)
    state: str = Field(default="ok", max_length=16)  # ok | pending | firing
    pending_since: datetime | None = Field(default=None)
    checked_until: datetime | None = Field(default=None)  # event rules: events after this are new
    created_by: str = Field(max_length=254)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class AlertSilence(SQLModel, table=True):
    """No notifications for one rule (or every rule of the tenant) between two times."""

    __tablename__ = "alert_silence"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    rule_id: str | None = Field(default=None, max_length=32)  # None: every rule
    reason: str = Field(default="", max_length=512)
    starts_at: datetime = Field(default_factory=utcnow)
    ends_at: datetime
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)


class AlertEvent(SQLModel, table=True):
    """Alert history: each firing and resolution, whether it was silenced, and how each channel went."""

    __tablename__ = "alert_event"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    rule_id: str = Field(max_length=32, index=True)
    rule_name: str = Field(max_length=128)
    at: datetime = Field(default_factory=utcnow, index=True)
    status: str = Field(max_length=16)  # firing | resolved
    severity: str = Field(max_length=16)
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    value: float | None = Field(default=None)
    subject_type: str = Field(default="", max_length=32)  # job | deployment | queue | metric
    subject_id: str = Field(default="", max_length=64)
    silenced: bool = Field(default=False)
    deliveries: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    acknowledged: bool = Field(default=False)


class WorkOrder(SQLModel, table=True):
    """A ticket: type, priority, status workflow, assignee, links; optionally an operations
    action on production that runs once a tenant admin approves it (or at once, flagged, in
    an emergency)."""

    __tablename__ = "work_order"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    title: str = Field(max_length=200)
    type: str = Field(max_length=16)  # incident | change | request | maintenance
    priority: str = Field(max_length=8)  # low | medium | high | urgent
    status: str = Field(default="open", max_length=24, index=True)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    assignee_id: str | None = Field(default=None, max_length=32)
    assignee: str = Field(default="", max_length=254)
    links: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    action: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    emergency: bool = Field(default=False)
    approved_by: str = Field(default="", max_length=254)
    approved_at: datetime | None = Field(default=None)
    executed_at: datetime | None = Field(default=None)
    outcome: str = Field(default="", max_length=1000)
    created_by: str = Field(max_length=254)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class WorkOrderComment(SQLModel, table=True):
    __tablename__ = "work_order_comment"

    id: int | None = Field(default=None, primary_key=True)
    work_order_id: str = Field(foreign_key="work_order.id", index=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    author: str = Field(max_length=254)
    author_id: str = Field(max_length=32)
    body: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = Field(default_factory=utcnow)
