"""Retrieval scores that mean the same across queries: each engine's raw score is mapped to an
estimated probability that the chunk answers the query, so one threshold works for every query
and both engines can be mixed on one scale.

- Vector side: how far the chunk's cosine stands above the query's cosines to the knowledge
  base's chunks *of the chunk's language* (in standard deviations: ``LanguageSpread``), through
  a logistic curve. Multilingual e5's cosines crowd into 0.78-0.95, and every chunk in the
  query's own language scores higher than a right answer in the other language; measured
  against its own language's background, the right answer stands out in either language. The
  background (a language's mean vector and second moment, from a sample of its chunks) is
  computed once per knowledge base and index; a language with fewer than MIN_SPREAD_SAMPLE
  chunks falls back to raw-cosine curves fitted per model, one for a chunk in the query's
  language and one for the other language.
- Text side: how much of the query a chunk covers (its BM25 score over the score of a chunk
  holding each query word once, ``Bm25Index.ideal``) through another logistic curve.
- Hybrid: ``w * vector + (1 - w) * text`` with the knowledge base's vector weight ``w``.

The curves were fitted on the tuning split of the project's retrieval benchmark
(``python -m bench retrieval_quality --fit`` prints them; bench/data/retrieval). A model with no
fitted curve (a local folder or a remote model) gets GENERIC, which only assumes that cosine 0.5
is a coin toss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from backend.adapters.embeddings import E5, MINILM

DEFAULT_VECTOR_WEIGHT = 0.5  # chosen on the tune split (hit@1 and MRR across the language splits)
MIN_SPREAD_SAMPLE = 8  # chunks of a language needed before its background is trusted


@dataclass(frozen=True)
class Logistic:
    slope: float
    offset: float

    def __call__(self, x: float) -> float:
        z = self.slope * x + self.offset
        return 1.0 / (1.0 + math.exp(-z)) if z >= -60 else 0.0


@dataclass(frozen=True)
class VectorCalibration:
    same: Logistic  # query and chunk in the same language
    cross: Logistic  # in different languages

    def __call__(self, similarity: float, same_language: bool) -> float:
        return (self.same if same_language else self.cross)(similarity)


@dataclass(frozen=True)
class LanguageSpread:
    """The cosines of any query to the chunks of one language, summarised: their mean vector and
    second moment (chunk vectors are unit length, so a query's mean cosine is ``q . mean`` and its
    variance ``q . moment . q - mean**2``)."""

    mean: np.ndarray
    moment: np.ndarray
    count: int

    @classmethod
    def of(cls, vectors: np.ndarray) -> LanguageSpread:
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return cls(unit.mean(axis=0), unit.T @ unit / len(unit), len(unit))

    def background(self, query: np.ndarray) -> tuple[float, float]:
        """The query's mean cosine to this language's chunks and their standard deviation."""
        mean = float(query @ self.mean)
        return mean, math.sqrt(max(float(query @ self.moment @ query) - mean * mean, 1e-6))


STANDOUT = Logistic(2.33, -6.55)  # on standard deviations above the language's background (z 2.8: even)
VECTOR: dict[str, VectorCalibration] = {
    E5: VectorCalibration(Logistic(62.32, -56.39), Logistic(47.78, -43.96)),
    MINILM: VectorCalibration(Logistic(10.0, -5.0), Logistic(10.0, -5.0)),
}
GENERIC = VectorCalibration(Logistic(10.0, -5.0), Logistic(10.0, -5.0))
TEXT = Logistic(7.33, -3.95)  # on coverage (0: no query word, about 1: every query word once)


def vector_probability(
    model: str, similarity: float, same_language: bool, background: tuple[float, float] | None = None
) -> float:
    """How likely a chunk at cosine ``similarity`` answers the query: by how far it stands above
    ``background`` (the mean and deviation of the query's cosines to the chunk's language) when
    known, else by the raw cosine on ``model``'s curves."""
    if background is not None:
        mean, deviation = background
        return STANDOUT((similarity - mean) / deviation)
    return VECTOR.get(model, GENERIC)(similarity, same_language)


def text_probability(coverage: float) -> float:
    """How likely a chunk covering ``coverage`` of the query (BM25 over its ideal) answers it."""
    return TEXT(coverage) if coverage > 0 else 0.0


def fused(vector: float, text: float, vector_weight: float) -> float:
    """The hybrid score: the two calibrated scores mixed by the knowledge base's vector weight."""
    return vector_weight * vector + (1.0 - vector_weight) * text
