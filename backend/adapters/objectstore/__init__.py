"""Files (datasets, checkpoints, model weights) in a local folder (embedded) or MinIO/S3.

Uploads are streamed: neither implementation ever holds a whole file in memory, and both
compute the SHA-256 while the bytes pass. Keys are plain ``/``-separated paths; services
put every tenant's objects under ``tenants/<tenant id>/`` (``tenant_prefix``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol

from backend.adapters.envelope import KeyRing
from backend.errors import ErrorCode, MedAIError
from backend.settings import Settings

CHUNK = 1024 * 1024
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/ ()\u4e00-\u9fff]{0,1023}$")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str  # hex; empty when the store did not record it
    content_type: str
    modified_at: datetime | None = None


class ObjectStore(Protocol):
    backend: str

    def put(self, key: str, stream: BinaryIO, content_type: str = "application/octet-stream") -> ObjectInfo:
        """Store ``stream`` (read in chunks until EOF) under ``key``, replacing what was there."""
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; NOT_FOUND when missing."""
        ...

    def stat(self, key: str) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove one object; removing a missing one is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix``; returns how many."""
        ...

    def list(self, prefix: str) -> list[ObjectInfo]: ...

    def presigned_url(self, key: str, expires: timedelta) -> str:
        """A URL that downloads the object without other credentials until it expires."""
        ...

    def ping(self) -> None: ...


def tenant_prefix(tenant_id: str) -> str:
    return f"tenants/{tenant_id}/"


def check_key(key: str) -> str:
    """Refuse keys that could escape their prefix or confuse a store."""
    parts = key.split("/")
    if not _KEY.match(key) or any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in (".", ".."):
        raise MedAIError(
            ErrorCode.DATA_INVALID,
            f"'{key[:80]}' is not a valid object name.",
            "Use letters, digits, '.', '-', '_' and '/' between non-empty parts.",
        )
    return key


class HashingReader:
    """Wraps a stream: counts and hashes every byte read through it (used for uploads)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size if size and size > 0 else CHUNK)
        self._hash.update(data)
        self.size += len(data)
        return data

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def build_object_store(settings: Settings, keys: KeyRing) -> ObjectStore:
    if settings.object_store_backend == "s3":
        from backend.adapters.objectstore.s3 import S3ObjectStore

        return S3ObjectStore(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            region=settings.s3_region or None,
            secure=settings.s3_secure,
        )
    from backend.adapters.objectstore.local import LocalObjectStore

    assert settings.object_store_dir is not None
    return LocalObjectStore(settings.object_store_dir, keys, settings.public_url)
