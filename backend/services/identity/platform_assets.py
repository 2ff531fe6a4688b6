"""What the platform itself provides to every tenant: models (read-only in each tenant's Assets,
usable as a base model for training and as a model to deploy) and shared model services that
every tenant may call through the gateway, metered and limited per calling tenant.

They belong to one hidden tenant whose status is ``platform``: nobody is a member of it, it is
not listed among tenants, and only platform admins act in it (the access gate refuses everyone
else, as for a suspended tenant). Tenants cannot change or delete what it owns.
"""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session, select

from backend.errors import ErrorCode, MedAIError
from backend.models import Deployment, ModelVersion, Tenant
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize
from backend.services.identity.permissions import Action, Area

PLATFORM_STATUS = "platform"
PLATFORM_SLUG = "medai-platform"
PLATFORM_NAME = "MedAI platform"
SYSTEM_LABEL = "MedAI platform"


def platform_tenant_id(session: Session) -> str | None:
    return session.exec(select(Tenant.id).where(Tenant.status == PLATFORM_STATUS)).first()


def ensure_platform_tenant(session: Session) -> str:
    """The platform's own tenant, made on first use."""
    found = platform_tenant_id(session)
    if found is not None:
        return found
    tenant = Tenant(slug=PLATFORM_SLUG, name=PLATFORM_NAME, status=PLATFORM_STATUS)
    session.add(tenant)
    session.flush()
    audit.record(session, action="platform.tenant_created", outcome="ok", actor_label=SYSTEM_LABEL, tenant_id=tenant.id)
    return tenant.id


def system_principal(tenant_id: str) -> Principal:
    """The platform acting on its own (first start, the starter model), in its own tenant."""
    return Principal(user_id="", label=SYSTEM_LABEL, is_platform_admin=True, tenant_id=tenant_id)


def is_platform_owned(session: Session, tenant_id: str) -> bool:
    return tenant_id == platform_tenant_id(session)


def usable_model_version(session: Session, tenant_id: str, version_id: str) -> ModelVersion:
    """A model version ``tenant_id`` may train from or deploy: its own, or one the platform
    provides. NOT_FOUND otherwise (another tenant's looks like a missing one)."""
    version = session.get(ModelVersion, version_id)
    if version is None or (version.tenant_id != tenant_id and not is_platform_owned(session, version.tenant_id)):
        raise MedAIError(ErrorCode.NOT_FOUND, "No such model version in this tenant.", "Pick it from the model list.")
    return version


def read_only(what: str) -> MedAIError:
    return MedAIError(
        ErrorCode.FORBIDDEN,
        f"The {what} is provided by the platform and cannot be changed by a tenant.",
        "Train or deploy your own copy of it instead; a platform admin manages the original.",
        http_status=403,
    )


def shared_services(session: Session, name: str = "") -> list[Deployment]:
    """The platform's services every tenant may call (by name when given, case-insensitively)."""
    query = select(Deployment).where(Deployment.shared.is_(True)).order_by(Deployment.name)  # type: ignore[attr-defined]
    found = list(session.exec(query).all())
    return [d for d in found if d.name == name.lower()] if name else found


def list_platform_services(session: Session, principal: Principal) -> list[Deployment]:
    """The platform's services the caller's tenant may call, for its Deploy page and the API."""
    authorize(session, principal, Area.SERVING, Action.VIEW)
    return shared_services(session)


def as_platform(session: Session, principal: Principal, action: Action) -> Principal:
    """A platform admin acting on the platform's own things (scale or stop the starter service):
    the same principal, in the platform's tenant. Anyone else is refused, audited."""
    authorize(session, principal, Area.PLATFORM, action)
    tenant_id = platform_tenant_id(session)
    if tenant_id is None:
        raise MedAIError(ErrorCode.NOT_FOUND, "The platform provides nothing yet.", "Start the platform once.")
    return replace(principal, tenant_id=tenant_id, role=None)
