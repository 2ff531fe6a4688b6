"""Envelope encryption of stored secrets (source §5.3): each secret gets its own data key
(AES-256-GCM); the data key is wrapped by a master key that lives outside the database.
The master keys come from settings (MEDAI_MASTER_KEY) or, embedded, from a key file
created on first use; a KMS adapter can take this module's place in production.

A sealed value is a compact string ``v1.<key id>.<wrapped key>.<ciphertext>`` (base64url
parts), so it fits a TEXT column. Rotation re-wraps data keys under the newest master key
without touching the ciphertext.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.errors import ErrorCode, MedAIError
from backend.settings import Settings

VERSION = "v1"
_NONCE = 12


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def _open(key: bytes, sealed: bytes, context: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], context)


def key_id(master_key: bytes) -> str:
    return hashlib.sha256(master_key).hexdigest()[:8]


@dataclass(frozen=True)
class KeyRing:
    """The current master key first, then older ones still accepted for reading."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys or any(len(k) != 32 for k in self.keys):
            raise MedAIError(
                ErrorCode.CONFIG_INVALID,
                "Master keys must be 32 bytes (base64 of 32 random bytes).",
                "Set MEDAI_MASTER_KEY to the output of `medai keys generate`.",
            )

    @property
    def current(self) -> bytes:
        return self.keys[0]

    def _by_id(self, wanted: str) -> bytes:
        for key in self.keys:
            if key_id(key) == wanted:
                return key
        raise MedAIError(
            ErrorCode.CONFIG_INVALID,
            f"A stored secret was sealed with master key {wanted}, which is not configured.",
            "Add the old key to MEDAI_OLD_MASTER_KEYS, then run `medai keys rotate`.",
        )

    def seal(self, plaintext: str, context: str = "") -> str:
        data_key = AESGCM.generate_key(bit_length=256)
        ciphertext = _seal(data_key, plaintext.encode(), context.encode())
        wrapped = _seal(self.current, data_key, b"data-key")
        return ".".join((VERSION, key_id(self.current), _b64(wrapped), _b64(ciphertext)))

    def open(self, sealed: str, context: str = "") -> str:
        try:
            version, kid, wrapped, ciphertext = sealed.split(".")
        except ValueError:
            raise MedAIError(ErrorCode.DATA_INVALID, "A stored secret is not in sealed form.") from None
        if version != VERSION:
            raise MedAIError(ErrorCode.DATA_INVALID, f"Unknown sealed-secret version {version}.")
        try:
            data_key = _open(self._by_id(kid), _unb64(wrapped), b"data-key")
            return _open(data_key, _unb64(ciphertext), context.encode()).decode()
        except InvalidTag:
            raise MedAIError(
                ErrorCode.DATA_INVALID,
                "A stored secret failed its integrity check (wrong key or tampered data).",
                "Re-enter the secret; if many fail, check MEDAI_MASTER_KEY.",
            ) from None

    def rewrap(self, sealed: str) -> str:
        """The same secret with its data key wrapped by the current master key."""
        version, kid, wrapped, ciphertext = sealed.split(".")
        if kid == key_id(self.current):
            return sealed
        data_key = _open(self._by_id(kid), _unb64(wrapped), b"data-key")
        return ".".join((version, key_id(self.current), _b64(_seal(self.current, data_key, b"data-key")), ciphertext))


def generate_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def parse_master_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise MedAIError(
            ErrorCode.CONFIG_INVALID,
            "A master key is not base64 of 32 bytes.",
            "Generate one with `medai keys generate`.",
        )
    return raw


def load_key_ring(settings: Settings) -> KeyRing:
    """MEDAI_MASTER_KEY (+ MEDAI_OLD_MASTER_KEYS), or the embedded key file, made once with mode 0600."""
    if settings.master_key.get_secret_value():
        current = parse_master_key(settings.master_key.get_secret_value())
    else:
        path = settings.data_dir / "master.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(generate_master_key())
        current = parse_master_key(path.read_text())
    old = [parse_master_key(k) for k in settings.old_master_keys.get_secret_value().split(",") if k.strip()]
    return KeyRing((current, *old))
