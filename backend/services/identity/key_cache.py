"""Resolved API keys kept for a short time, so the gateway does not read four tables per request.

An entry remembers the principal a key acts as and the credentials epoch it was read at. Any change
to who may do what (a key revoked, a member's role changed or removed, a user disabled, a tenant
suspended) marks its database session; when that session commits, the runtime bumps the epoch in
the shared cache (Redis when configured), and every entry read before is ignored from then on, in
every process. The epoch is read before the database, so a change that commits in between is never
hidden. Entries never outlive the key's expiry.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from sqlmodel import Session

from backend.adapters.cache import Cache
from backend.models.base import utcnow
from backend.services.identity.access import Principal
from backend.services.identity.users import token_hash

EPOCH_KEY = "auth:epoch"
TTL_S = 30.0
_CHANGED = "medai.credentials_changed"


def _entry_key(token: str) -> str:
    return "auth:key:" + token_hash(token)  # the key itself is never a cache key


def epoch(cache: Cache) -> int:
    raw = cache.get(EPOCH_KEY)
    return int(raw) if raw else 0


def lookup(cache: Cache, token: str) -> Principal | None:
    return cached_principal(*(cache.get(key) for key in lookup_keys(token)))


def lookup_keys(token: str) -> tuple[str, str]:
    """What ``cached_principal`` is read from, for a caller that reads them with other keys at once."""
    return _entry_key(token), EPOCH_KEY


def cached_principal(raw: bytes | None, raw_epoch: bytes | None) -> Principal | None:
    """The principal a key entry holds, unless credentials changed since it was read."""
    if raw is None:
        return None
    entry = json.loads(raw)
    if entry["epoch"] != int(raw_epoch or 0):
        return None
    fields = entry["principal"]
    return Principal(**{**fields, "scopes": frozenset(fields["scopes"]) if fields["scopes"] is not None else None})


def remember(cache: Cache, token: str, resolved: Principal, read_at: int, expires_at: datetime | None) -> None:
    """Keep ``resolved`` for this key, as of credentials epoch ``read_at`` (read before the database)."""
    ttl = TTL_S if expires_at is None else min(TTL_S, (expires_at - utcnow()).total_seconds())
    if ttl <= 0:
        return
    fields = dataclasses.asdict(resolved)
    fields["scopes"] = sorted(resolved.scopes) if resolved.scopes is not None else None
    cache.set(_entry_key(token), json.dumps({"epoch": read_at, "principal": fields}).encode(), ttl_s=ttl)


def mark_changed(session: Session) -> None:
    """This session changes credentials or roles: cached keys are dropped once it commits."""
    session.info[_CHANGED] = True


def changed(session: Session) -> bool:
    return bool(session.info.get(_CHANGED))


def forget_all(cache: Cache) -> None:
    cache.incr(EPOCH_KEY)
