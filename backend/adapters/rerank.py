"""The rerank stage of knowledge retrieval: a model that reads the query with each candidate
passage and scores how well the passage answers it (a cross-encoder), better than either
retriever alone but too slow to run over a whole knowledge base.

Production: a rerank server over HTTP (``MEDAI_RERANK_URL``; the ``/rerank`` shape of Hugging
Face's text-embeddings-inference and similar servers). Off when nothing is configured.

No registry package ships a multilingual cross-encoder's weights for offline use, so there is
no local implementation: the stage is either a configured server or absent."""

from __future__ import annotations

import math
import threading
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from backend.errors import ErrorCode, MedAIError
from backend.settings import Settings


class Reranker(Protocol):
    name: str

    def rerank(self, query: str, texts: list[str]) -> list[float]:
        """One relevance score per text, in the order given, each in 0..1 (higher is better)."""
        ...


class HttpReranker:
    """A rerank server: ``POST {base_url}/rerank`` with ``{"query", "texts", "truncate": true}``
    (text-embeddings-inference), plus ``"model"`` when one is named. Its answer may be TEI's list
    of ``{"index", "score"}`` or the Cohere/Jina ``{"results": [{"index", "relevance_score"}]}``,
    in any order; scores come back in input order. When any score of a query lies outside 0..1
    the server sent raw logits, and all of that query's scores go through a sigmoid.

    More texts than ``max_batch`` are sent in several requests (TEI refuses a batch larger than
    its ``--max-client-batch-size``, 32 by default). One HTTP client per instance, made on first
    use and shared by threads (connections are kept alive between queries)."""

    def __init__(
        self, base_url: str, *, api_key: str = "", model: str = "", timeout_s: float = 10.0, max_batch: int = 32
    ) -> None:
        base = base_url.strip().rstrip("/")
        self.base_url = base
        self.endpoint = base if base.endswith("/rerank") else f"{base}/rerank"
        self.model = model.strip()
        self.name = self.model or _host(base)
        self.timeout_s = timeout_s
        self.max_batch = max(1, max_batch)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return f"HttpReranker({self.endpoint!r}, name={self.name!r})"

    def rerank(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        raw: list[float] = []
        for start in range(0, len(texts), self.max_batch):
            raw.extend(self._call(query, texts[start : start + self.max_batch]))
        if all(0.0 <= score <= 1.0 for score in raw):
            return raw
        return [_sigmoid(score) for score in raw]

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout_s, headers=self._headers)
            return self._client

    def _call(self, query: str, texts: list[str]) -> list[float]:
        body: dict[str, Any] = {"query": query, "texts": texts, "truncate": True}
        if self.model:
            body["model"] = self.model
        try:
            response = self._http().post(self.endpoint, json=body)
        except httpx.TimeoutException:
            raise _failed(
                f"The rerank server {self.base_url} did not answer within {self.timeout_s:g} s.",
                "Check the server's load, raise MEDAI_RERANK_TIMEOUT_S, or clear MEDAI_RERANK_URL to search "
                "without reranking.",
            ) from None
        except httpx.HTTPError as error:
            raise _failed(
                f"The rerank server {self.base_url} could not be reached ({type(error).__name__}).",
                "Check MEDAI_RERANK_URL and that the rerank server is running, or clear MEDAI_RERANK_URL to "
                "search without reranking.",
            ) from None
        if response.status_code != 200:
            key_hint = " and MEDAI_RERANK_KEY" if response.status_code in (401, 403) else ""
            raise _failed(
                f"The rerank server {self.base_url} answered HTTP {response.status_code}"
                f"{_detail(response)} for {len(texts)} texts.",
                f"Check MEDAI_RERANK_URL{key_hint}, MEDAI_RERANK_MODEL and MEDAI_RERANK_MAX_BATCH against the "
                "server's settings.",
            )
        try:
            return _scores_in_order(response.json(), len(texts))
        except ValueError as error:
            raise _failed(
                f"The rerank server {self.base_url} sent an answer that is not a rerank result ({error}).",
                "Check that MEDAI_RERANK_URL points at a /rerank API of text-embeddings-inference or a "
                "Cohere/Jina-compatible server.",
            ) from None


def build_reranker(settings: Settings) -> Reranker | None:
    """The configured rerank stage, or None when ``MEDAI_RERANK_URL`` is empty (no reranking)."""
    if not settings.rerank_url.strip():
        return None
    return HttpReranker(
        settings.rerank_url,
        api_key=settings.rerank_key.get_secret_value(),
        model=settings.rerank_model,
        timeout_s=settings.rerank_timeout_s,
        max_batch=settings.rerank_max_batch,
    )


def _scores_in_order(payload: object, count: int) -> list[float]:
    """The scores of a TEI or Cohere/Jina answer, by input index; ValueError when malformed."""
    if isinstance(payload, dict) and isinstance(payload.get("results"), list):
        items, key = payload["results"], "relevance_score"
    elif isinstance(payload, list):
        items, key = payload, "score"
    else:
        raise ValueError("neither a list of ranks nor an object with 'results'")
    scores: list[float | None] = [None] * count
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a rank is not an object")
        index = item.get("index")
        score = item.get(key, item.get("score"))
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise ValueError(f"index {index!r} is not one of the {count} texts")
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise ValueError(f"the score of text {index} is not a number")
        if scores[index] is not None:
            raise ValueError(f"text {index} is scored twice")
        scores[index] = float(score)
    missing = sum(score is None for score in scores)
    if missing:
        raise ValueError(f"{missing} of {count} texts have no score")
    return [score for score in scores if score is not None]


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or url  # never the user:password of a URL


def _detail(response: httpx.Response) -> str:
    """A short reason from the server's error body (TEI: {"error": ...}), if it gave one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("error") or body.get("message") or body.get("detail") if isinstance(body, dict) else None
    if isinstance(message, dict):
        message = message.get("message")
    return f" ({str(message)[:200]})" if message else ""


def _failed(message: str, remedy: str) -> MedAIError:
    return MedAIError(ErrorCode.UPSTREAM_FAILED, message, remedy, http_status=503)
