"""SQLModel tables, one module per domain. Importing this package registers every table
on ``SQLModel.metadata``, which is what Alembic compares migrations against."""

from backend.models.identity import ApiKey, AuditEvent, Membership, RecoveryCode, Tenant, User, UserSession
from backend.models.platform import PlatformSetting

__all__ = ["ApiKey", "AuditEvent", "Membership", "PlatformSetting", "RecoveryCode", "Tenant", "User", "UserSession"]
