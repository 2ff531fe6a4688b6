"""Embeddings with a cache keyed by model and text hash (source §5.2: embedding results are
hot data kept in Redis when configured, in process otherwise). For an asymmetric model (e5) the
key also says whether the text was embedded as a query or as a passage: the vectors differ."""

from __future__ import annotations

import hashlib
import struct

from backend.adapters.cache import Cache
from backend.adapters.embeddings import Embedder

CACHE_TTL_S = 7 * 24 * 3600


def cache_key(embedder: Embedder, text: str, query: bool = False) -> str:
    role = ("q:" if query else "p:") if embedder.asymmetric else ""
    return f"embedding:{embedder.name}:{role}{hashlib.sha256(text.encode()).hexdigest()}"


def _pack(vector: list[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def _unpack(raw: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def embed(cache: Cache, embedder: Embedder, texts: list[str], *, query: bool = False) -> tuple[list[list[float]], int]:
    """Vectors for ``texts`` (search queries when ``query``, passages otherwise) in order, and how
    many had to be computed (the rest came from the cache)."""
    found: dict[int, list[float]] = {}
    for index, text in enumerate(texts):
        raw = cache.get(cache_key(embedder, text, query))
        if raw is not None:
            found[index] = _unpack(raw)
    missing = [i for i in range(len(texts)) if i not in found]
    if missing:
        computed = embedder.embed([texts[i] for i in missing], query=query)
        for index, vector in zip(missing, computed, strict=True):
            found[index] = vector
            cache.set(cache_key(embedder, texts[index], query), _pack(vector), ttl_s=CACHE_TTL_S)
    return [found[i] for i in range(len(texts))], len(missing)
