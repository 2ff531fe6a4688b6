"""The OpenAI-compatible gateway's decisions: which service a model name means for the
caller, which replicas may take the request (and the standby after them), the request and
token limits per key, tenant and service, and metering (source §3.2, §3.4, §6.2, §6.5).

Forwarding the bytes is the API layer's job (backend/api/gateway.py); everything that needs
the database or the cache is here.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, insert
from sqlmodel import Session, select

from backend.adapters.cache import Cache
from backend.adapters.embeddings import LocalEmbedder
from backend.errors import ErrorCode, MedAIError
from backend.models import Deployment, Replica, UsageRecord
from backend.models.base import utcnow
from backend.services import embeddings, phi, ratelimit
from backend.services.access import Principal, authorize, deny
from backend.services.permissions import Action, Area
from backend.services.ratelimit import Limit

logger = logging.getLogger(__name__)
INVOKE_SCOPE = "models:invoke"  # what an API key needs to call a model (models:read only lists them)
_SERVICE = "gateway_service"
_SERVICE_LIMIT = "the service's requests per minute (set when it is deployed, in the Deploy area)"


@dataclass(frozen=True)
class Route:
    deployment_id: str
    tenant_id: str
    model: str
    urls: tuple[str, ...]  # ready replicas, in the order to try them
    requests_per_minute: int


@dataclass(frozen=True)
class Limits:
    key_requests_per_minute: int
    tenant_requests_per_minute: int
    tenant_tokens_per_minute: int


@dataclass(frozen=True)
class UsageRow:
    model: str
    api_key_id: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    errors: int
    mean_latency_ms: float


def _ready_urls(session: Session, deployment_id: str) -> list[str]:
    urls = list(
        session.exec(select(Replica.url).where(Replica.deployment_id == deployment_id, Replica.status == "ready")).all()
    )
    random.shuffle(urls)  # spread load; the next ones are the retries
    return urls


def routes(session: Session, principal: Principal, model: str) -> list[Route]:
    """The service named ``model`` in the caller's tenant, then its standby (if any)."""
    tenant_id = authorize(session, principal, Area.DEPLOY, Action.VIEW)
    if principal.via_api_key and INVOKE_SCOPE not in (principal.scopes or ()):  # models:read lists, it does not call
        raise deny(session, principal, "deploy.invoke", "scope", tenant_id)
    deployment = session.exec(
        select(Deployment).where(Deployment.tenant_id == tenant_id, Deployment.name == model)
    ).first()
    if deployment is None or deployment.status in ("stopped", "deleting"):
        raise MedAIError(
            ErrorCode.NOT_FOUND,
            "The model does not exist in this tenant or is not running.",
            "List the available models with GET /v1/models.",
        )
    found = [deployment]
    standby = session.get(Deployment, deployment.standby_deployment_id) if deployment.standby_deployment_id else None
    if standby is not None and standby.tenant_id == tenant_id and standby.status != "stopped":
        found.append(standby)
    return [Route(d.id, d.tenant_id, d.name, tuple(_ready_urls(session, d.id)), d.requests_per_minute) for d in found]


def available_models(session: Session, principal: Principal) -> list[Deployment]:
    tenant_id = authorize(session, principal, Area.DEPLOY, Action.VIEW)
    return list(
        session.exec(
            select(Deployment).where(Deployment.tenant_id == tenant_id, Deployment.status.in_(("ready", "starting")))
        ).all()
    )


def _token_key(tenant_id: str, now: float) -> str:
    return f"gateway-tokens:{tenant_id}:{int(now // 60)}"


def admit(cache: Cache, limits: Limits, principal: Principal, routes: list[Route]) -> list[Route]:
    """Count the request against the caller's key, the tenant and the service; refuse with 429
    (and Retry-After) when one is over its limit. A service at its own requests per minute hands
    the request to its standby, within the standby's limit. Returns the routes to try, in order."""
    primary = routes[0]
    who = principal.api_key_id or f"user-{principal.user_id}"
    buckets = [
        (Limit("gateway_key", limits.key_requests_per_minute, 60, "MEDAI_GATEWAY_KEY_REQUESTS_PER_MINUTE"), who),
        (
            Limit("gateway_tenant", limits.tenant_requests_per_minute, 60, "MEDAI_GATEWAY_TENANT_REQUESTS_PER_MINUTE"),
            primary.tenant_id,
        ),
    ]
    if primary.requests_per_minute:
        buckets.append((_service_limit(primary), primary.deployment_id))
    now = time.time()
    tokens_key = _token_key(primary.tenant_id, now)
    try:
        (tokens,) = ratelimit.hit_all(cache, buckets, reads=[tokens_key])  # one round trip
    except ratelimit.OverLimitError as over:
        if over.limit_name != _SERVICE or len(routes) < 2 or not routes[1].urls:
            raise
        admit_standby(cache, routes[1])  # the key and the tenant have counted it already
        routes, tokens = routes[1:], cache.get(tokens_key)
    used = int(tokens or 0)
    if used >= limits.tenant_tokens_per_minute:
        retry = max(1, int(60 - now % 60))
        raise MedAIError(
            ErrorCode.RATE_LIMITED,
            f"The tenant used {used} tokens this minute (limit {limits.tenant_tokens_per_minute}).",
            f"Wait {retry} s, or ask an admin to raise MEDAI_GATEWAY_TENANT_TOKENS_PER_MINUTE.",
            retry_after_s=retry,
        )
    return routes


def admit_standby(cache: Cache, route: Route) -> None:
    """Count a request handed to a standby against the standby's own requests per minute."""
    if route.requests_per_minute:
        ratelimit.hit_all(cache, [(_service_limit(route), route.deployment_id)])


def _service_limit(route: Route) -> Limit:
    return Limit(_SERVICE, route.requests_per_minute, 60, _SERVICE_LIMIT)


def count_tokens(cache: Cache, tenant_id: str, tokens: int) -> None:
    if tokens > 0:
        cache.incr(_token_key(tenant_id, time.time()), tokens, ttl_s=120)


def count_batch_tokens(cache: Cache, rows: list[dict[str, Any]]) -> None:
    """Add a batch of usage rows' tokens to their tenants' counters: one call per tenant."""
    per_tenant: dict[str, int] = {}
    for row in rows:
        per_tenant[row["tenant_id"]] = (
            per_tenant.get(row["tenant_id"], 0) + row["prompt_tokens"] + row["completion_tokens"]
        )
    for tenant_id, tokens in per_tenant.items():
        count_tokens(cache, tenant_id, tokens)


def record_usage(session: Session, row: UsageRecord, prompt_text: str = "") -> None:
    """Meter one request; the prompt reaches the log only masked and cut short."""
    session.add(row)
    _log_usage(row.tenant_id, row.model, row.status, row.latency_ms, prompt_text)


def record_usage_rows(session: Session, rows: list[tuple[dict[str, Any], str]]) -> None:
    """Meter many requests in one statement: each is UsageRecord's fields (``at`` included) and
    the prompt for the debug log."""
    if rows:
        session.execute(insert(UsageRecord), [fields for fields, _ in rows])
    if logs_prompts():
        for fields, prompt_text in rows:
            _log_usage(fields["tenant_id"], fields["model"], fields["status"], fields["latency_ms"], prompt_text)


def logs_prompts() -> bool:
    """Whether metered requests reach the debug log (then their prompts are worth collecting)."""
    return logger.isEnabledFor(logging.DEBUG)


def _log_usage(tenant_id: str, model: str, status: int, latency_ms: float, prompt_text: str) -> None:
    if logs_prompts():  # masking costs time: only for a log that will be written
        masked = phi.mask(prompt_text[:200])
        logger.debug("gateway %s %s status=%s %.1f ms prompt=%r", tenant_id, model, status, latency_ms, masked)


def usage(session: Session, principal: Principal, since: datetime | None = None, model: str = "") -> list[UsageRow]:
    """Requests, tokens, errors and mean latency per model and key, for the caller's tenant."""
    tenant_id = authorize(session, principal, Area.DEPLOY, Action.VIEW)
    since = since or utcnow() - timedelta(days=1)
    query = (
        select(
            UsageRecord.model,
            UsageRecord.api_key_id,
            func.count(),
            func.sum(UsageRecord.prompt_tokens),
            func.sum(UsageRecord.completion_tokens),
            func.sum(case((UsageRecord.status >= 400, 1), else_=0)),
            func.avg(UsageRecord.latency_ms),
        )
        .where(UsageRecord.tenant_id == tenant_id, UsageRecord.at >= since)
        .group_by(UsageRecord.model, UsageRecord.api_key_id)
    )
    if model:
        query = query.where(UsageRecord.model == model)
    return [
        UsageRow(m, k or "", int(n), int(p or 0), int(c or 0), int(e or 0), round(float(lat or 0), 1))
        for m, k, n, p, c, e, lat in session.exec(query).all()
    ]


@dataclass(frozen=True)
class Traffic:
    """One service's gateway traffic per minute (oldest first): requests and median latency."""

    model: str
    minutes: list[datetime]
    requests: list[int]
    latency_p50_ms: list[float]  # 0 for a minute without requests


def traffic(session: Session, principal: Principal, minutes: int = 30) -> list[Traffic]:
    """Per-minute requests and median latency of each of the caller's tenant's services."""
    tenant_id = authorize(session, principal, Area.DEPLOY, Action.VIEW)
    if not 1 <= minutes <= 24 * 60:
        raise MedAIError(ErrorCode.DATA_INVALID, "The window is 1 minute to 1 day.", "Pick a shorter window.")
    start = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    rows = session.exec(
        select(UsageRecord.model, UsageRecord.at, UsageRecord.latency_ms)
        .where(UsageRecord.tenant_id == tenant_id, UsageRecord.at >= start)
        .limit(200_000)
    ).all()
    buckets: dict[str, list[list[float]]] = {}
    for model, at, latency_ms in rows:
        minute = int((at - start).total_seconds() // 60)
        if 0 <= minute < minutes:
            buckets.setdefault(model, [[] for _ in range(minutes)])[minute].append(latency_ms)
    axis = [start + timedelta(minutes=i) for i in range(minutes)]
    return [
        Traffic(model, axis, [len(b) for b in found], [round(statistics.median(b), 1) if b else 0.0 for b in found])
        for model, found in sorted(buckets.items())
    ]


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    prompt_tokens: int
    computed: int  # the rest came from the cache


def embed(
    session: Session,
    principal: Principal,
    cache: Cache,
    limits: Limits,
    embedder: LocalEmbedder,
    model: str,
    inputs: list[str],
) -> EmbeddingResult:
    """Embeddings from the platform's built-in model, cached by text hash, within the key's and
    the tenant's request and token limits (the caller meters the tokens like any request's)."""
    tenant_id = authorize(session, principal, Area.DEPLOY, Action.VIEW)
    admit(cache, limits, principal, [Route("builtin", tenant_id or "", model, (), 0)])
    if model != embedder.name:
        raise MedAIError(
            ErrorCode.NOT_FOUND,
            "This embedding model is not served here.",
            f"Use model '{embedder.name}' (the platform's built-in embedding model).",
        )
    if not inputs or len(inputs) > 2048 or any(not isinstance(text, str) for text in inputs):
        raise MedAIError(ErrorCode.DATA_INVALID, "'input' must be a string or 1-2048 strings.", "Send text to embed.")
    vectors, computed = embeddings.embed(cache, embedder, inputs)
    return EmbeddingResult(vectors, embedder.count_tokens(inputs), computed)
