"""Tenants, users, memberships, sessions, API keys, recovery codes and the audit trail (source §6.5)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models.base import utcnow


def new_id() -> str:
    return uuid.uuid4().hex


class Tenant(SQLModel, table=True):
    """A hospital, department or research group; every resource belongs to one."""

    __tablename__ = "tenant"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=128)
    status: str = Field(default="active", max_length=16)  # active | suspended
    created_at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(max_length=254, unique=True, index=True)
    display_name: str = Field(max_length=128)
    password_hash: str = Field(max_length=255)
    status: str = Field(default="active", max_length=16)  # active | disabled
    is_platform_admin: bool = Field(default=False)
    must_change_password: bool = Field(default=False)
    mfa_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # envelope-encrypted
    mfa_enabled: bool = Field(default=False)
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = Field(default=None)


class Membership(SQLModel, table=True):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "tenant_id", name="uq_membership_user_tenant"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    role: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class UserSession(SQLModel, table=True):
    """A browser sign-in; only the token's hash is stored."""

    __tablename__ = "user_session"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    tenant_id: str | None = Field(default=None, foreign_key="tenant.id", max_length=32)
    mfa_pending: bool = Field(default=False)
    client_address: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = Field(default=None)


class RecoveryCode(SQLModel, table=True):
    __tablename__ = "mfa_recovery_code"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None)


class ApiKey(SQLModel, table=True):
    """A tenant/app key or a personal key (source §3.4). The secret is shown once and kept as a hash."""

    __tablename__ = "api_key"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    kind: str = Field(max_length=16)  # tenant | personal
    name: str = Field(max_length=128)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    owner_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    prefix: str = Field(max_length=24, unique=True, index=True)
    secret_hash: str = Field(max_length=64)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = Field(default=None)
    last_used_at: datetime | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)


class AuditEvent(SQLModel, table=True):
    """Who did what to which thing, from where, and how it ended. Never updated or deleted."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: str | None = Field(default=None, max_length=32, index=True)
    actor_label: str = Field(default="", max_length=254)
    tenant_id: str | None = Field(default=None, max_length=32, index=True)
    action: str = Field(max_length=64, index=True)
    target_type: str = Field(default="", max_length=64)
    target_id: str = Field(default="", max_length=128)
    outcome: str = Field(max_length=16)  # ok | denied | failed
    client_address: str = Field(default="", max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
