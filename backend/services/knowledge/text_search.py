"""Full-text search: BM25 over jieba tokens, so Chinese text (written without spaces) is
searchable word by word, alongside English.

Tokens are computed once when a chunk is stored (``index_terms``) and kept with it; an index is
built from those tokens per knowledge base and kept in memory (``TextIndexCache``) until the
knowledge base's ``index_version`` changes. Searching sums precomputed per-posting weights
with numpy, so a query costs about the length of its terms' postings, not the corpus.

Medical vocabulary (``backend/vocabulary``, see its README): a user dictionary for jieba (so
二甲双胍 stays one word), stop words (dropped from index and query terms) and synonym groups
across zh and en, applied at query time only (``MedicalVocabulary.expand``): each other member
of a group the query names is added with EXPANSION_WEIGHT in all, shared by its words. Greek
letters and digits are kept ("β2受体激动剂" gives β2, β, 受体, 激动剂 …). The vocabulary has its own
jieba Tokenizer; jieba's global default tokenizer is never changed.

Stored terms begin with TERMS_FORMAT, a fingerprint of the tokeniser and its vocabulary files:
chunks stored under another one (before the vocabulary, or before a vocabulary edit) are
re-tokenised from their text when the in-memory index is built (``stored_terms``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VOCABULARY_DIR = Path(__file__).resolve().parents[2] / "vocabulary"
TOKENIZER_VERSION = "2"  # bump when tokenize() changes in a way that old stored terms no longer match
EXPANSION_WEIGHT = 0.5  # an expansion member's weight in the query, shared by its words (originals weigh 1)
_WORD = re.compile(r"[0-9A-Za-z\u00c0-\u024f\u0370-\u03ff\u3400-\u9fff\uf900-\ufaff]")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_GREEK = re.compile(r"([\u0370-\u03ff]+[0-9a-z]*)")  # β2, α1, γ: kept whole (jieba would drop the letter)
_EDGE = " \t\r\n._-+#&%/'"  # trimmed from token ends ("h." -> "h")
_LATIN_WORD = re.compile(r"[0-9a-z\u00c0-\u024f\u0370-\u03ff]+")
_PHRASE_GAP = r"[\s._\-/']*"


def _entries(name: str) -> list[str]:
    """The non-empty, non-comment lines of a vocabulary file."""
    lines = (VOCABULARY_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True)
class QueryTerms:
    """A query's BM25 terms with their weights, and the synonyms it was expanded with (as written)."""

    weights: dict[str, float]
    expanded: tuple[str, ...]


@dataclass(frozen=True)
class _Member:
    name: str  # as written in synonyms.tsv
    words: tuple[str, ...]  # its BM25 terms
    han: str  # lower-cased, when it holds Chinese: matched as a query token
    phrase: re.Pattern[str] | None  # otherwise: matched as a whole-word phrase, case-insensitively


class MedicalVocabulary:
    """A jieba Tokenizer with the medical dictionary, stop words and synonym groups."""

    def __init__(self, folder: Path = VOCABULARY_DIR) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        groups = [[m.strip() for m in line.split("\t") if m.strip()] for line in _entries("synonyms.tsv")]
        for entry in _entries("medical_terms.txt"):
            word, _, freq = entry.partition(" ")
            self._jieba.add_word(word.lower(), int(freq) if freq.strip().isdigit() else None)
        for member in (m for group in groups for m in group):
            if _HAN.search(member) and " " not in member:
                self._jieba.add_word(member.lower())
        self.stop_words = frozenset(w.lower() for w in _entries("stopwords.txt"))
        self._groups = [[self._member(m) for m in group] for group in groups if len(group) > 1]
        digest = hashlib.sha1(TOKENIZER_VERSION.encode(), usedforsecurity=False)
        for name in ("medical_terms.txt", "stopwords.txt", "synonyms.tsv"):
            digest.update((folder / name).read_bytes())
        self.terms_format = "§" + digest.hexdigest()[:10]

    def _member(self, name: str) -> _Member:
        lowered = name.lower()
        if _HAN.search(lowered):
            return _Member(name, tuple(self._tokens(lowered, search=False)), lowered, None)
        words = _LATIN_WORD.findall(lowered)
        terms = tuple(w for w in self._tokens(lowered, search=False) if len(w) > 1 or w.isdigit())  # not "h", "l"
        pattern = re.compile(r"(?<![0-9a-z])" + _PHRASE_GAP.join(map(re.escape, words)) + r"(?![0-9a-z])")
        return _Member(name, terms, "", pattern)

    def _tokens(self, lowered: str, search: bool) -> list[str]:
        found: list[str] = []
        for n, piece in enumerate(_GREEK.split(lowered)):
            if n % 2:  # a Greek run with what follows it: "β2", and the letters alone too
                letters = piece.rstrip("0123456789abcdefghijklmnopqrstuvwxyz")
                words: Iterable[str] = (piece, letters) if search and letters != piece else (piece,)
            else:
                words = self._jieba.cut_for_search(piece) if search else self._jieba.cut(piece)
            found.extend(w.strip(_EDGE) for w in words)
        return [w for w in found if w and _WORD.search(w) and w not in self.stop_words]

    def tokenize(self, text: str) -> list[str]:
        """Lower-cased words without stop words; Chinese by jieba's search mode (long words also yield parts)."""
        return self._tokens(text.lower(), search=True)

    def expand(self, query: str) -> QueryTerms:
        """The query's terms (weight 1) and the other members of every synonym group it names."""
        terms = self.tokenize(query)
        present, lowered = set(terms), query.lower()
        weights = dict.fromkeys(terms, 1.0)
        expanded: list[str] = []
        for group in self._groups:
            named = [self._names(m, present, lowered) for m in group]
            if not any(named):
                continue
            for member, here in zip(group, named, strict=True):
                if here or not member.words:
                    continue
                expanded.append(member.name)
                share = EXPANSION_WEIGHT / len(member.words)
                for word in member.words:
                    weights[word] = max(weights.get(word, 0.0), share)
        return QueryTerms(weights, tuple(dict.fromkeys(expanded)))

    @staticmethod
    def _names(member: _Member, present: set[str], lowered: str) -> bool:
        if member.phrase is not None:
            return member.phrase.search(lowered) is not None
        return member.han in present or (len(member.han) >= 4 and member.han in lowered)


_vocabulary_lock = threading.Lock()


@functools.cache
def _loaded_vocabulary() -> MedicalVocabulary:
    return MedicalVocabulary()


def medical_vocabulary() -> MedicalVocabulary:
    """The vocabulary from ``backend/vocabulary``, loaded once (about a second, for jieba's dictionary)."""
    with _vocabulary_lock:  # one load, even when two threads ask first
        return _loaded_vocabulary()


def tokenize(text: str) -> list[str]:
    """Lower-cased words without stop words; Chinese is segmented by jieba's search mode with the medical
    dictionary (long words also yield their parts); Greek letters and digits are kept."""
    return medical_vocabulary().tokenize(text)


def expand_query(query: str) -> QueryTerms:
    """The query's BM25 terms, with synonyms and abbreviations added (see MedicalVocabulary.expand)."""
    return medical_vocabulary().expand(query)


def index_terms(text: str) -> str:
    """What a chunk stores as its ``terms``: the current TERMS_FORMAT, then its tokens, space-joined."""
    vocabulary = medical_vocabulary()
    return " ".join([vocabulary.terms_format, *vocabulary.tokenize(text)])


def is_current(terms: str) -> bool:
    """Whether stored ``terms`` were made by the current tokeniser and vocabulary."""
    marker = medical_vocabulary().terms_format
    return terms == marker or terms.startswith(marker + " ")


def stored_terms(terms: str, text: str) -> list[str]:
    """A chunk's BM25 terms: the stored ones when current, else its text tokenised again."""
    if is_current(terms):
        return terms.split()[1:]
    return tokenize(text)


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

    def search(
        self, query_terms: Sequence[str] | Mapping[str, float], k: int, where: dict[str, Any] | None = None
    ) -> list[TextHit]:
        """The ``k`` best chunks (score > 0) whose metadata matches every item of ``where``; terms given
        as a mapping weigh their value (an expansion term less than an original one)."""
        weighted = query_terms if isinstance(query_terms, Mapping) else dict.fromkeys(query_terms, 1.0)
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for word, weight in weighted.items():
            found = self._postings.get(word)
            if found is not None:
                scores[found[0]] += found[1] if weight == 1.0 else found[1] * np.float32(weight)
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
