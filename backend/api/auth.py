"""Who is calling the REST API: a Bearer API key, a Bearer session token, or (for reads
only, so a forged cross-site form cannot write) the browser's session cookie.

Every authenticated request counts against MEDAI_API_RATE_LIMIT, per key or per client
address, before the database is touched; over it the answer is 429 with Retry-After.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from backend.api.dependencies import runtime
from backend.errors import ErrorCode, MedAIError
from backend.runtime import Runtime
from backend.services.identity import api_keys, key_cache, ratelimit
from backend.services.identity import users as identity
from backend.services.identity.access import Principal

SESSION_COOKIE = "medai_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def bearer_token(request: Request) -> str:
    """The Bearer token, or the session cookie on a read; empty when neither is there."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method in _SAFE_METHODS:
        return request.cookies.get(SESSION_COOKIE, "")
    return ""


def _rate_bucket(token: str, address: str) -> str:
    return f"key:{token.split('_')[1]}" if api_keys.is_api_key(token) else f"address:{address or 'unknown'}"


async def current_principal(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Principal:
    """Rate limit and a cached key are answered on the event loop; the database is read on a worker thread."""
    token = bearer_token(request)
    if not token:
        raise MedAIError(
            ErrorCode.UNAUTHENTICATED,
            "This endpoint needs credentials.",
            "Send `Authorization: Bearer <API key>`; create keys on your account page.",
        )
    address = client_address(request)
    bucket = (rt.api_limit, _rate_bucket(token, address))
    if not api_keys.is_api_key(token):
        ratelimit.hit(rt.cache, *bucket)
        return await run_in_threadpool(_session_principal, rt, token, address)
    # a key seen in the last seconds (services/identity/key_cache.py), read as the request is counted: one round trip
    cached = key_cache.cached_principal(*ratelimit.hit_all(rt.cache, [bucket], reads=key_cache.lookup_keys(token)))
    if cached is not None:
        return dataclasses.replace(cached, client_address=address)
    return await run_in_threadpool(_key_principal, rt, token, address)


def _session_principal(rt: Runtime, token: str, address: str) -> Principal:
    with rt.session() as session:
        return dataclasses.replace(identity.resolve_session(session, token), client_address=address)


def _key_principal(rt: Runtime, token: str, address: str) -> Principal:
    read_at = key_cache.epoch(rt.cache)  # before the database, so a change committed meanwhile is not hidden
    with rt.session() as session:
        principal, expires_at = api_keys.resolve_api_key(session, token, address)
    key_cache.remember(rt.cache, token, principal, read_at, expires_at)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
RuntimeDep = Annotated[Runtime, Depends(runtime)]
