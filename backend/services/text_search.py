"""Full-text search: BM25 over jieba tokens, so Chinese text (written without spaces) is
searchable word by word, alongside English.

Tokens are computed once when a chunk is stored (``tokenize``) and kept with it; an index is
built from those tokens per knowledge base and kept in memory (``TextIndexCache``) until the
knowledge base's ``index_version`` changes. Searching sums precomputed per-posting weights
with numpy, so a query costs about the length of its terms' postings, not the corpus.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_WORD = re.compile(r"[0-9A-Za-z\u00c0-\u024f\u3400-\u9fff\uf900-\ufaff]")
_lock = threading.Lock()
_ready = False


def _jieba() -> Any:
    global _ready
    import jieba

    with _lock:
        if not _ready:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _ready = True
    return jieba


def tokenize(text: str) -> list[str]:
    """Lower-cased words; Chinese is segmented by jieba's search mode (long words also yield their parts)."""
    return [t for t in (w.strip() for w in _jieba().lcut_for_search(text.lower())) if t and _WORD.search(t)]


@dataclass(frozen=True)
class TextHit:
    id: str
    score: float


class Bm25Index:
    """Okapi BM25 (k1, b) with Lucene's always-positive idf."""

    def __init__(
        self,
        ids: Sequence[str],
        terms: Sequence[Sequence[str]],
        metadatas: Sequence[dict[str, Any]] | None = None,
        k1: float = 1.5,
        b: float = 0.75,
    ) -> None:
        self.ids = list(ids)
        self.metadatas = list(metadatas) if metadatas is not None else [{} for _ in self.ids]
        lengths = np.array([len(t) for t in terms], dtype=np.float32)
        average = float(lengths.mean()) if len(lengths) and lengths.mean() > 0 else 1.0
        norms = k1 * (1 - b + b * lengths / average)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for index, words in enumerate(terms):
            for word, count in Counter(words).items():
                docs, counts = postings.setdefault(word, ([], []))
                docs.append(index)
                counts.append(count)
        total = len(self.ids)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for word, (docs, counts) in postings.items():
            where = np.array(docs, dtype=np.int32)
            tf = np.array(counts, dtype=np.float32)
            idf = math.log(1 + (total - len(docs) + 0.5) / (len(docs) + 0.5))
            self._postings[word] = (where, (idf * tf * (k1 + 1) / (tf + norms[where])).astype(np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query_terms: Sequence[str], k: int, where: dict[str, Any] | None = None) -> list[TextHit]:
        """The ``k`` best chunks (score > 0) whose metadata matches every item of ``where``."""
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for word in set(query_terms):
            found = self._postings.get(word)
            if found is not None:
                scores[found[0]] += found[1]
        candidates = np.flatnonzero(scores)
        if where:
            candidates = np.array(
                [i for i in candidates if all(self.metadatas[i].get(key) == value for key, value in where.items())],
                dtype=np.int64,
            )
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        ordered = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [TextHit(self.ids[i], float(scores[i])) for i in ordered]


class TextIndexCache:
    """One BM25 index per knowledge base, rebuilt when its version moves on."""

    def __init__(self) -> None:
        self._indexes: dict[str, tuple[int, Bm25Index]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, version: int, build: Callable[[], Bm25Index]) -> Bm25Index:
        with self._lock:
            found = self._indexes.get(key)
        if found is not None and found[0] == version:
            return found[1]
        index = build()
        with self._lock:
            self._indexes[key] = (version, index)
        return index

    def forget(self, key: str) -> None:
        with self._lock:
            self._indexes.pop(key, None)
