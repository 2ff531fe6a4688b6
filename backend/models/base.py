"""Pieces every table module shares."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Aware UTC now; SQLModel's UTCDateTime columns refuse naive datetimes."""
    return datetime.now(UTC)
