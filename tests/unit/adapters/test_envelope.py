import base64
import os
import stat

import pytest
from sqlmodel import select

from backend.adapters.envelope import KeyRing, generate_master_key, key_id, load_key_ring, parse_master_key
from backend.errors import ErrorCode, MedAIError
from backend.models import AuditEvent, User
from backend.services.identity.secrets import rewrap_all
from backend.settings import Settings


def ring(*keys: bytes) -> KeyRing:
    return KeyRing(keys)


def test_round_trip_and_no_plaintext_in_the_sealed_form():
    keys = ring(os.urandom(32))
    sealed = keys.seal("JBSWY3DPEHPK3PXP", context="user:1")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert keys.open(sealed, context="user:1") == "JBSWY3DPEHPK3PXP"
    assert keys.seal("same") != keys.seal("same")  # a fresh data key and nonce each time


def test_tampering_or_another_context_is_refused():
    keys = ring(os.urandom(32))
    sealed = keys.seal("secret", context="user:1")
    with pytest.raises(MedAIError) as caught:
        keys.open(sealed, context="user:2")
    assert caught.value.code is ErrorCode.DATA_INVALID
    head, tail = sealed.rsplit(".", 1)
    flipped = head + "." + ("A" if tail[0] != "A" else "B") + tail[1:]
    with pytest.raises(MedAIError):
        keys.open(flipped, context="user:1")


def test_an_unknown_master_key_names_the_fix():
    sealed = ring(os.urandom(32)).seal("x")
    with pytest.raises(MedAIError) as caught:
        ring(os.urandom(32)).open(sealed)
    assert "MEDAI_OLD_MASTER_KEYS" in caught.value.remedy


def test_rotation_rewraps_every_secret_so_the_old_key_can_go(runtime):
    old, new = os.urandom(32), os.urandom(32)
    with runtime.session() as session:
        for n in range(3):
            user = User(email=f"u{n}@h.cn", display_name=f"u{n}", password_hash="x")
            user.mfa_secret = ring(old).seal(f"totp-{n}", context=user.id)
            session.add(user)
        session.add(User(email="nomfa@h.cn", display_name="n", password_hash="x"))

    with runtime.session() as session:
        assert rewrap_all(session, ring(new, old)) == 3
    with runtime.session() as session:
        assert rewrap_all(session, ring(new, old)) == 0  # idempotent
        users = session.exec(select(User).where(User.mfa_secret.is_not(None))).all()
        opened = sorted(ring(new).open(u.mfa_secret, context=u.id) for u in users)
    assert opened == ["totp-0", "totp-1", "totp-2"]
    assert all(u.mfa_secret.split(".")[1] == key_id(new) for u in users)


def test_embedded_key_file_is_private_and_stable(settings):
    first = load_key_ring(settings)
    path = settings.data_dir / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_ring(settings).current == first.current


def test_configured_keys_win_and_bad_ones_are_refused(tmp_path):
    new, old = generate_master_key(), generate_master_key()
    s = Settings(data_dir=tmp_path, master_key=new, old_master_keys=f"{old}, ", _env_file=None)
    keys = load_key_ring(s)
    assert keys.keys == (parse_master_key(new), parse_master_key(old))
    assert not (tmp_path / "master.key").exists()
    with pytest.raises(MedAIError) as caught:
        load_key_ring(Settings(data_dir=tmp_path, master_key=base64.b64encode(b"short").decode(), _env_file=None))
    assert caught.value.code is ErrorCode.CONFIG_INVALID


def test_cli_rotate_records_an_audit_row(process_env):
    from typer.testing import CliRunner

    from backend import db
    from backend.cli import app
    from backend.runtime import get_runtime

    old, new = generate_master_key(), generate_master_key()
    process_env.setenv("MEDAI_MASTER_KEY", new)
    process_env.setenv("MEDAI_OLD_MASTER_KEYS", old)
    rt = get_runtime()
    db.upgrade(rt.engine)
    with rt.session() as session:
        user = User(email="a@h.cn", display_name="a", password_hash="x")
        user.mfa_secret = ring(parse_master_key(old)).seal("s", context=user.id)
        session.add(user)
    result = CliRunner().invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 secrets" in result.output
    with rt.session() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "keys.rotate")).one()
    assert event.detail == {"rewrapped": 1} and event.outcome == "ok"
