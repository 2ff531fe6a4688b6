"""Objects in MinIO or any S3-compatible store through the minio SDK (production).

One bucket (MEDAI_S3_BUCKET, created when missing); tenants are separated by key prefix.
Uploads of unknown length go up as multipart in PART_SIZE pieces, so memory use stays at
about one part whatever the file size. The SHA-256 is computed on the way up and returned
to the caller, which records it with the asset.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import BinaryIO

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from backend.adapters.objectstore import CHUNK, HashingReader, ObjectInfo, check_key
from backend.errors import ErrorCode, MedAIError

PART_SIZE = 16 * 1024 * 1024
_MISSING = ("NoSuchKey", "NoSuchObject", "NoSuchBucket")


class S3ObjectStore:
    backend = "s3"

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str | None = None,
        secure: bool = True,
    ) -> None:
        self.bucket = bucket
        self._client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region)
        self._bucket_ready = False
        self._lock = threading.Lock()

    def _unreachable(self, error: Exception) -> MedAIError:
        return MedAIError(
            ErrorCode.UPSTREAM_FAILED,
            f"Object storage did not answer: {type(error).__name__}.",
            "Check MEDAI_S3_ENDPOINT and the credentials, and that the server is up.",
        )

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._lock:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket)
            self._bucket_ready = True

    def put(self, key: str, stream: BinaryIO, content_type: str = "application/octet-stream") -> ObjectInfo:
        reader = HashingReader(stream)
        try:
            self._ensure_bucket()
            self._client.put_object(
                self.bucket, check_key(key), reader, length=-1, part_size=PART_SIZE, content_type=content_type
            )
        except (S3Error, HTTPError) as error:
            raise self._unreachable(error) from error
        return ObjectInfo(key, reader.size, reader.sha256, content_type)

    def _missing(self, key: str) -> MedAIError:
        return MedAIError(ErrorCode.NOT_FOUND, f"No stored file '{key}'.", "It may have been deleted; upload it again.")

    def open(self, key: str) -> Iterator[bytes]:
        try:
            response = self._client.get_object(self.bucket, check_key(key))
        except S3Error as error:
            raise (self._missing(key) if error.code in _MISSING else self._unreachable(error)) from error
        except HTTPError as error:
            raise self._unreachable(error) from error

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.stream(CHUNK)
            finally:
                response.close()
                response.release_conn()

        return chunks()

    def stat(self, key: str) -> ObjectInfo:
        try:
            found = self._client.stat_object(self.bucket, check_key(key))
        except S3Error as error:
            raise (self._missing(key) if error.code in _MISSING else self._unreachable(error)) from error
        return ObjectInfo(key, found.size or 0, "", found.content_type or "", found.last_modified)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except MedAIError as error:
            if error.code is ErrorCode.NOT_FOUND:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        try:
            self._client.remove_object(self.bucket, check_key(key))
        except S3Error as error:
            if error.code not in _MISSING:
                raise self._unreachable(error) from error

    def list(self, prefix: str) -> list[ObjectInfo]:
        try:
            found = self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
            return [ObjectInfo(o.object_name, o.size or 0, "", "", o.last_modified) for o in found if o.object_name]
        except S3Error as error:
            if error.code == "NoSuchBucket":
                return []
            raise self._unreachable(error) from error

    def delete_prefix(self, prefix: str) -> int:
        objects = self.list(prefix)
        errors = list(self._client.remove_objects(self.bucket, (DeleteObject(o.key) for o in objects)))
        if errors:
            raise MedAIError(
                ErrorCode.UPSTREAM_FAILED,
                f"{len(errors)} of {len(objects)} files could not be deleted.",
                "Retry; if it persists check the bucket's permissions.",
            )
        return len(objects)

    def presigned_url(self, key: str, expires: timedelta) -> str:
        return self._client.presigned_get_object(self.bucket, check_key(key), expires=expires)

    def ping(self) -> None:
        self._client.bucket_exists(self.bucket)
