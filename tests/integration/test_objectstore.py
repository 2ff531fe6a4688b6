"""The object store contract on both implementations: the local folder and S3 through the
minio SDK, against an S3-compatible server (moto's server mode) started for this module."""

import hashlib
import io
from datetime import timedelta

import pytest

from backend.adapters.envelope import KeyRing
from backend.adapters.objectstore import ObjectStore, tenant_prefix
from backend.adapters.objectstore.local import LocalObjectStore
from backend.adapters.objectstore.s3 import PART_SIZE, S3ObjectStore
from backend.errors import ErrorCode, MedAIError


class _Chunks(io.RawIOBase):
    """A stream that makes its bytes on demand, so a large upload never exists in memory here."""

    def __init__(self, total: int, seed: bytes = b"medai") -> None:
        self.remaining, self.seed, self.digest = total, seed, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        block = (self.seed * (size // len(self.seed) + 1))[:size]
        self.remaining -= size
        self.digest.update(block)
        return block


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects", KeyRing((b"k" * 32,)), "http://127.0.0.1:3000")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"medai-{request.node.name.split('[')[0].replace('_', '-')[:40]}".rstrip("-")
    return S3ObjectStore(endpoint, "testing", "testing", bucket, region="us-east-1", secure=False)


def test_round_trip_with_checksum_and_listing(store):
    prefix = tenant_prefix("t1")
    payload = "病历摘要 discharge summary\n".encode() * 1000
    info = store.put(prefix + "datasets/notes.jsonl", io.BytesIO(payload), "application/jsonl")
    assert info.size == len(payload) and info.sha256 == hashlib.sha256(payload).hexdigest()
    assert b"".join(store.open(prefix + "datasets/notes.jsonl")) == payload
    assert store.stat(prefix + "datasets/notes.jsonl").size == len(payload)
    store.put(tenant_prefix("t2") + "datasets/other.csv", io.BytesIO(b"a,b\n1,2\n"))
    assert [o.key for o in store.list(prefix)] == [prefix + "datasets/notes.jsonl"]  # tenants do not mix
    assert store.exists(prefix + "datasets/notes.jsonl") and not store.exists(prefix + "nothing")


def test_missing_objects_and_deletes(store):
    with pytest.raises(MedAIError) as caught:
        store.open("tenants/t1/missing.bin")
    assert caught.value.code is ErrorCode.NOT_FOUND
    store.delete("tenants/t1/missing.bin")  # deleting nothing is fine
    for name in ("a", "b", "c"):
        store.put(f"tenants/t3/run/{name}.pt", io.BytesIO(name.encode()))
    store.put("tenants/t3/keep.txt", io.BytesIO(b"keep"))
    assert store.delete_prefix("tenants/t3/run/") == 3
    assert [o.key for o in store.list("tenants/t3/")] == ["tenants/t3/keep.txt"]


def test_large_upload_is_streamed_in_parts(store):
    size = PART_SIZE * 2 + 12345  # three multipart parts on S3
    source = _Chunks(size)
    info = store.put("tenants/t4/model.safetensors", source)
    assert info.size == size and info.sha256 == source.digest.hexdigest()
    echoed = hashlib.sha256()
    for chunk in store.open("tenants/t4/model.safetensors"):
        echoed.update(chunk)
    assert echoed.hexdigest() == info.sha256


def test_presigned_url_names_the_object_and_expires(store):
    store.put("tenants/t5/card.md", io.BytesIO(b"# model card"))
    url = store.presigned_url("tenants/t5/card.md", timedelta(minutes=5))
    assert "card.md" in url
    # moto's server refuses presigned GETs when auth is on, so the S3 URL is checked by shape only
    assert ("X-Amz-Signature=" in url) if store.backend == "s3" else ("signature=" in url)


class _Broken(_Chunks):
    def read(self, size: int = -1) -> bytes:
        if self.remaining < 1000:
            raise OSError("client went away")
        return super().read(min(size if size and size > 0 else 4096, 4096))


def test_an_upload_that_breaks_leaves_nothing(store):
    with pytest.raises(OSError, match="went away"):
        store.put("tenants/t6/half.jsonl", _Broken(PART_SIZE + 50_000))  # breaks after one S3 part
    assert not store.exists("tenants/t6/half.jsonl")
    assert store.list("tenants/t6/") == []


@pytest.mark.parametrize("key", ["../etc/passwd", "tenants//x", "tenants/./x", "/abs", ""])
def test_keys_that_could_escape_are_refused(store, key):
    with pytest.raises(MedAIError) as caught:
        store.put(key, io.BytesIO(b"x"))
    assert caught.value.code is ErrorCode.DATA_INVALID
