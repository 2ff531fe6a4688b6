"""Objects as files under one folder (embedded default). Metadata (size, SHA-256, content
type) sits beside each file in ``.meta/``. Writes go to a temporary file that is renamed
into place only when complete, so a failed upload leaves nothing behind; the metadata is
renamed into place first, so a process killed at any moment never leaves a file whose
metadata is half written.

Presigned URLs point at the app's own ``/api/objects/download`` endpoint and carry an
HMAC (key derived from the master key) over the object key and the expiry time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode

from backend.adapters.envelope import KeyRing
from backend.adapters.objectstore import CHUNK, HashingReader, ObjectInfo, check_key
from backend.errors import ErrorCode, MedAIError

META_DIR = ".meta"
DOWNLOAD_PATH = "/api/objects/download"


class LocalObjectStore:
    backend = "local"

    def __init__(self, root: Path, keys: KeyRing, public_url: str) -> None:
        self.root = root
        self._signing_key = hashlib.sha256(b"medai-presign:" + keys.current).digest()
        self._public_url = public_url.rstrip("/")

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / f"{check_key(key)}.json"

    def put(self, key: str, stream: BinaryIO, content_type: str = "application/octet-stream") -> ObjectInfo:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        reader = HashingReader(stream)
        descriptor, temp_name = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
        try:
            with os.fdopen(descriptor, "wb") as out:
                while chunk := reader.read(CHUNK):
                    out.write(chunk)
            info = ObjectInfo(key, reader.size, reader.sha256, content_type, datetime.now(UTC))
            meta = {"size": info.size, "sha256": info.sha256, "content_type": content_type}
            _write_whole(self._meta_path(key), json.dumps(meta).encode())
            Path(temp_name).replace(target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return info

    def _missing(self, key: str) -> MedAIError:
        return MedAIError(ErrorCode.NOT_FOUND, f"No stored file '{key}'.", "It may have been deleted; upload it again.")

    def open(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise self._missing(key)

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        return chunks()

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        if not path.is_file():
            raise self._missing(key)
        meta = _read_meta(self._meta_path(key))
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        content_type = meta.get("content_type", "application/octet-stream")
        return ObjectInfo(key, path.stat().st_size, meta.get("sha256", ""), content_type, modified)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self.root / prefix
        start = base if base.is_dir() or base == self.root else base.parent
        if not start.is_dir():
            return []
        found = []
        for path in sorted(start.rglob("*")):
            relative = path.relative_to(self.root).as_posix()
            if path.is_file() and relative.startswith(prefix) and not self._hidden(relative):
                found.append(self.stat(relative))
        return found

    @staticmethod
    def _hidden(relative: str) -> bool:
        return relative.startswith(META_DIR + "/") or any(part.startswith(".upload-") for part in relative.split("/"))

    def delete_prefix(self, prefix: str) -> int:
        objects = self.list(prefix)
        for info in objects:
            self.delete(info.key)
        return len(objects)

    def _signature(self, key: str, expires: int) -> str:
        return hmac.new(self._signing_key, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def presigned_url(self, key: str, expires: timedelta) -> str:
        until = int(time.time() + expires.total_seconds())
        query = urlencode({"key": check_key(key), "expires": until, "signature": self._signature(key, until)})
        return f"{self._public_url}{DOWNLOAD_PATH}?{query}"

    def verify_presigned(self, key: str, expires: int, signature: str) -> None:
        """Raise UNAUTHENTICATED unless the URL was made by this store and has not expired."""
        if expires < time.time() or not hmac.compare_digest(self._signature(key, expires), signature):
            raise MedAIError(
                ErrorCode.UNAUTHENTICATED,
                "This download link is invalid or has expired.",
                "Ask for a new link from the asset page.",
            )

    def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)


def _write_whole(path: Path, data: bytes) -> None:
    """``data`` at ``path`` all at once: written beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(prefix=".upload-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
        Path(temp_name).replace(path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _read_meta(path: Path) -> dict:
    """The metadata beside a file; empty when missing or unreadable (a store written before
    metadata was renamed into place may hold a truncated one): the file itself stays readable."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}
