"""The embedded object store's own parts: presigned links made and checked by the app."""

import io
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from backend.adapters.envelope import KeyRing
from backend.adapters.objectstore import build_object_store
from backend.adapters.objectstore.local import DOWNLOAD_PATH, LocalObjectStore
from backend.errors import ErrorCode, MedAIError
from backend.settings import Settings


@pytest.fixture
def store(tmp_path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path, KeyRing((b"m" * 32,)), "http://127.0.0.1:3000/")


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def test_presigned_link_is_accepted_until_it_expires_and_only_for_its_object(store):
    store.put("tenants/a/card.md", io.BytesIO(b"# card"))
    url = store.presigned_url("tenants/a/card.md", timedelta(minutes=5))
    assert url.startswith("http://127.0.0.1:3000" + DOWNLOAD_PATH + "?")
    q = _query(url)
    store.verify_presigned(q["key"], int(q["expires"]), q["signature"])
    for key, expires, signature in (
        ("tenants/b/card.md", int(q["expires"]), q["signature"]),  # another object
        (q["key"], int(q["expires"]) + 3600, q["signature"]),  # a longer life
        (q["key"], int(time.time()) - 1, store._signature(q["key"], int(time.time()) - 1)),  # expired
    ):
        with pytest.raises(MedAIError) as caught:
            store.verify_presigned(key, expires, signature)
        assert caught.value.code is ErrorCode.UNAUTHENTICATED


def test_a_link_from_another_master_key_is_refused(tmp_path, store):
    other = LocalObjectStore(tmp_path, KeyRing((b"x" * 32,)), "http://127.0.0.1:3000")
    q = _query(other.presigned_url("tenants/a/card.md", timedelta(minutes=5)))
    with pytest.raises(MedAIError):
        store.verify_presigned(q["key"], int(q["expires"]), q["signature"])


def test_metadata_files_stay_out_of_listings(store):
    store.put("tenants/a/x.bin", io.BytesIO(b"1"))
    assert [o.key for o in store.list("")] == ["tenants/a/x.bin"]


def test_settings_choose_the_implementation(settings):
    ring = KeyRing((b"m" * 32,))
    assert build_object_store(settings, ring).backend == "local"
    s3 = Settings(
        data_dir=settings.data_dir, s3_endpoint="127.0.0.1:9", s3_access_key="a", s3_secret_key="b", _env_file=None
    )
    assert build_object_store(s3, ring).backend == "s3"


def test_a_truncated_metadata_file_does_not_break_listing(store):
    """A writer killed mid-write (before metadata was renamed into place) left an empty one."""
    store.put("tenants/a/checkpoints/4/model.safetensors", io.BytesIO(b"weights"))
    store._meta_path("tenants/a/checkpoints/4/model.safetensors").write_text("")
    (found,) = store.list("tenants/a/checkpoints/")
    assert found.key.endswith("model.safetensors") and found.size == 7 and found.sha256 == ""


def test_a_write_stopped_at_any_point_leaves_no_object_and_no_temporary_file(store, monkeypatch):
    class Stopped(BaseException):  # like a SIGKILL's effect on this process: nothing after it runs
        pass

    original = type(store.root).replace
    calls = []

    def stop_at_second_rename(self, target):
        calls.append(target)
        if len(calls) == 2:  # the metadata is in place; the data's rename never happens
            raise Stopped
        return original(self, target)

    monkeypatch.setattr(type(store.root), "replace", stop_at_second_rename)
    with pytest.raises(Stopped):
        store.put("tenants/a/x.bin", io.BytesIO(b"1"))
    monkeypatch.undo()
    assert store.list("") == [] and not store.exists("tenants/a/x.bin")
    assert not [p for p in store.root.rglob(".upload-*")]
    assert store.put("tenants/a/x.bin", io.BytesIO(b"12")).size == store.stat("tenants/a/x.bin").size == 2
