"""Builders shared by the identity tests: tenants, people and their principals, made cheaply.

Every person gets the same password, hashed once per test run (argon2 is deliberately slow);
principals come from real sessions (``open_session`` + ``resolve_session``), as the app makes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from sqlmodel import select

from backend.models import AuditEvent, Membership, Tenant, User
from backend.runtime import Runtime
from backend.services.identity import users as identity
from backend.services.identity.access import Principal

PASSWORD = "correct horse battery"


@cache
def password_hash() -> str:
    return identity.hash_password(PASSWORD)


def add_tenant(rt: Runtime, slug: str, name: str = "", status: str = "active") -> Tenant:
    with rt.session() as session:
        tenant = Tenant(slug=slug, name=name or slug.title(), status=status)
        session.add(tenant)
    return tenant


def add_user(
    rt: Runtime,
    email: str,
    memberships: Sequence[tuple[Tenant, str]] = (),
    *,
    platform_admin: bool = False,
    name: str = "",
) -> User:
    """A person with PASSWORD and the given (tenant, role) memberships, in that order."""
    with rt.session() as session:
        user = User(
            email=email,
            display_name=name or email.split("@")[0],
            password_hash=password_hash(),
            is_platform_admin=platform_admin,
        )
        session.add(user)
        session.flush()
        for tenant, role in memberships:
            session.add(Membership(user_id=user.id, tenant_id=tenant.id, role=role))
            session.flush()  # created_at order decides the tenant a sign-in lands in
    return user


def sign(rt: Runtime, user: User, tenant: Tenant | None = None, address: str = "10.0.0.1") -> tuple[str, Principal]:
    """A browser session for ``user`` (in ``tenant`` when given) and the principal it resolves to."""
    with rt.session() as session:
        token = identity.open_session(session, session.get(User, user.id), address)
    with rt.session() as session:
        principal = identity.resolve_session(session, token)
        if tenant is not None and principal.tenant_id != tenant.id:
            principal = identity.switch_tenant(session, principal, token, tenant.id)
    return token, principal


def events(rt: Runtime, action: str | None = None) -> list[AuditEvent]:
    with rt.session() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(session.exec(query).all())
