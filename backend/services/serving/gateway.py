"""The OpenAI-compatible gateway's decisions: which service a model name means for the
caller, which replicas may take the request (and the standby after them), the request and
token limits per key, tenant and service, and metering (source §3.2, §3.4, §6.2, §6.5).

Forwarding the bytes is ``proxy``'s job (behind the router's HTTP framing in
backend/api/gateway.py); everything that needs the database or the cache is here.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, insert
from sqlmodel import Session, select

from backend.adapters.cache import Cache
from backend.adapters.embeddings import BUILTIN_EMBEDDING_MODELS, BuiltinEmbedder, canonical_embedding_name
from backend.errors import ErrorCode, MedAIError
from backend.models import Deployment, Replica, UsageRecord
from backend.models.base import utcnow
from backend.services.assets import phi
from backend.services.identity import platform_assets, ratelimit
from backend.services.identity.access import Principal, authorize, deny, may
from backend.services.identity.permissions import Action, Area
from backend.services.identity.ratelimit import Limit
from backend.services.serving import embeddings

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


def _service(session: Session, tenant_id: str, model: str) -> Deployment | None:
    """The tenant's own service named ``model`` (case-insensitively), else a platform service of
    that name every tenant may call (the starter model)."""
    name = model.strip().lower()
    own = (
        session.exec(select(Deployment).where(Deployment.tenant_id == tenant_id, Deployment.name == name)).first()
        if tenant_id
        else None
    )
    if own is not None:
        return own
    shared = platform_assets.shared_services(session, name)
    return shared[0] if shared else None


def routes(session: Session, principal: Principal, model: str) -> list[Route]:
    """The service named ``model`` for the caller's tenant, then its standby (if any). Limits and
    metering count against the calling tenant, whoever provides the service."""
    tenant_id = authorize(session, principal, Area.SERVING, Action.VIEW) or ""  # "": a platform admin in no tenant
    if principal.via_api_key and INVOKE_SCOPE not in (principal.scopes or ()):  # models:read lists, it does not call
        raise deny(session, principal, "deploy.invoke", "scope", tenant_id)
    deployment = _service(session, tenant_id, model)
    if deployment is None or deployment.status in ("stopped", "deleting"):
        raise MedAIError(
            ErrorCode.NOT_FOUND,
            "The model does not exist in this tenant or is not running.",
            "List the available models with GET /v1/models.",
        )
    found = [deployment]
    standby = session.get(Deployment, deployment.standby_deployment_id) if deployment.standby_deployment_id else None
    if standby is not None and standby.tenant_id == deployment.tenant_id and standby.status != "stopped":
        found.append(standby)
    return [Route(d.id, tenant_id, d.name, tuple(_ready_urls(session, d.id)), d.requests_per_minute) for d in found]


def available_models(session: Session, principal: Principal) -> list[Deployment]:
    """The services the caller's tenant may call: its own running or starting ones, and the
    platform's shared ones (a tenant's own service of the same name hides the platform's)."""
    tenant_id = authorize(session, principal, Area.SERVING, Action.VIEW)
    running = ("ready", "starting", "pending")
    own = list(
        session.exec(select(Deployment).where(Deployment.tenant_id == tenant_id, Deployment.status.in_(running))).all()
    )
    names = {d.name for d in own}
    shared = [d for d in platform_assets.shared_services(session) if d.status in running and d.name not in names]
    return own + shared


def callable_models(session: Session, principal: Principal) -> list[Deployment]:
    """Of ``available_models``, those with a ready replica: what a call would reach right now."""
    found = available_models(session, principal)
    ready = set(
        session.exec(
            select(Replica.deployment_id).where(
                Replica.deployment_id.in_([d.id for d in found]),  # type: ignore[attr-defined]
                Replica.status == "ready",
            )
        ).all()
    )
    return [d for d in found if d.id in ready]


@dataclass(frozen=True)
class ListedModel:
    """One entry of /v1/models (OpenAI's model list, with the ``kind``)."""

    id: str
    created: int  # seconds since the epoch
    owned_by: str
    kind: str  # chat | embedding
    max_model_len: int | None = None  # chat
    dimensions: int | None = None  # embedding


def listed_models(session: Session, principal: Principal, sees_others: bool = False) -> list[ListedModel]:
    """What the caller can call right now of the platform's models: chat services with a ready
    replica (the tenant's own and the platform's shared ones such as ``starter``), then the
    built-in embedding models. Empty for a caller who may not view services but may see other
    models (``sees_others``: published agents); refused, audited, for one who may see neither."""
    if not may(session, principal, Area.SERVING, Action.VIEW):
        if not sees_others:
            available_models(session, principal)  # refused, and the refusal is audited
        return []
    chat = [
        ListedModel(
            d.name,
            int(d.created_at.timestamp()),
            "platform" if d.shared else d.tenant_id,
            "chat",
            max_model_len=d.max_model_len,
        )
        for d in callable_models(session, principal)
    ]
    return chat + [
        ListedModel(m.name, 0, "platform", "embedding", dimensions=m.dimensions)
        for m in BUILTIN_EMBEDDING_MODELS.values()
    ]


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
    tenant_id = authorize(session, principal, Area.SERVING, Action.VIEW)
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
    tenant_id = authorize(session, principal, Area.SERVING, Action.VIEW)
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
    model: str = ""  # the model's canonical name


def embed(
    session: Session,
    principal: Principal,
    cache: Cache,
    limits: Limits,
    embedders: Mapping[str, BuiltinEmbedder],
    model: str,
    inputs: list[str],
) -> EmbeddingResult:
    """Embeddings from one of the platform's built-in models (``embedders``: canonical name ->
    model; the name is matched case-insensitively, with or without its publisher), cached by text
    hash, within the key's and the tenant's request and token limits (the caller meters the tokens
    like any request's). For an asymmetric model (multilingual-e5-small) an input is a passage
    unless it starts with "query: " (or says "passage: "); that prefix is the model's own and
    is not embedded twice."""
    tenant_id = authorize(session, principal, Area.SERVING, Action.VIEW)
    admit(cache, limits, principal, [Route("builtin", tenant_id or "", model, (), 0)])
    name = canonical_embedding_name(model)
    if name is None or name not in embedders:
        raise MedAIError(
            ErrorCode.NOT_FOUND,
            f"The embedding model '{model[:100]}' is not served here.",
            "Use one of the platform's built-in embedding models: "
            + ", ".join(f"'{n}'" for n in BUILTIN_EMBEDDING_MODELS if n in embedders)
            + ".",
        )
    if not inputs or len(inputs) > 2048 or any(not isinstance(text, str) for text in inputs):
        raise MedAIError(ErrorCode.DATA_INVALID, "'input' must be a string or 1-2048 strings.", "Send text to embed.")
    embedder = embedders[name]
    vectors: list[list[float]] = [[] for _ in inputs]
    tokens = computed = 0
    for query, positions in _roles(inputs, embedder.asymmetric).items():
        texts = [_unprefixed(inputs[i]) if embedder.asymmetric else inputs[i] for i in positions]
        found, fresh = embeddings.embed(cache, embedder, texts, query=query)
        for position, vector in zip(positions, found, strict=True):
            vectors[position] = vector
        tokens, computed = tokens + embedder.count_tokens(texts, query=query), computed + fresh
    return EmbeddingResult(vectors, tokens, computed, name)


_QUERY, _PASSAGE = "query: ", "passage: "


def _roles(inputs: list[str], asymmetric: bool) -> dict[bool, list[int]]:
    """Input positions by role (True: query); all passages for a symmetric model."""
    roles: dict[bool, list[int]] = {}
    for position, text in enumerate(inputs):
        roles.setdefault(asymmetric and text.startswith(_QUERY), []).append(position)
    return roles


def _unprefixed(text: str) -> str:
    for prefix in (_QUERY, _PASSAGE):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text
