"""SQLModel tables, one module per domain. Importing this package registers every table
on ``SQLModel.metadata``, which is what Alembic compares migrations against."""

from backend.models.platform import PlatformSetting

__all__ = ["PlatformSetting"]
