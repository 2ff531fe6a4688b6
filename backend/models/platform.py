"""Platform-wide configuration that admins change at run time (source §5: MySQL keeps configuration)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from backend.models.base import utcnow


class PlatformSetting(SQLModel, table=True):
    """One key of run-time configuration, e.g. ``ui.default_language``."""

    __tablename__ = "platform_setting"

    key: str = Field(primary_key=True, max_length=128)
    value: Any = Field(sa_column=Column(JSON, nullable=False))
    description: str = Field(default="", max_length=512)
    updated_at: datetime = Field(default_factory=utcnow, nullable=False)
    updated_by: str = Field(default="system", max_length=128)
