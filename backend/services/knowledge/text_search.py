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

A knowledge base's own vocabulary (``KbVocabulary``, edited on its page) sits on top of the
platform's without a jieba Tokenizer of its own (that costs a second and tens of MB per base):
its dictionary words, and the Chinese members of its synonym groups, are found in the
lower-cased text (Chinese ones as substrings, Latin ones as whole words, several words as a
phrase) and added as extra tokens, so a word of that base is one BM25 term in index and query.
Its synonym groups join the platform's at query time, with the same rule and weight. The
stored fingerprint then also holds the base vocabulary's digest (``§<platform>+<base>``): chunks
stored under another vocabulary read as stale. Every function takes the vocabulary as an
optional last argument; None (or an empty one) is the platform vocabulary alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")
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


def _token_of(word: str) -> str:
    """A knowledge base's word as one stored token: lower-cased, inner spaces as "_"."""
    return "_".join(word.lower().split())


def _phrase(words: Sequence[str]) -> str:
    """A regex for Latin ``words`` in a row, as whole words, allowing the usual gaps between them."""
    return _PHRASE_GAP.join(map(re.escape, words))


@dataclass(frozen=True)
class KbVocabulary:
    """A knowledge base's own dictionary words and synonym groups (as written), on top of the platform's."""

    terms: tuple[str, ...] = ()
    synonyms: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def of(cls, kb: Any) -> KbVocabulary:
        """From a knowledge base's ``vocabulary_terms`` and ``vocabulary_synonyms`` (a KnowledgeBase row)."""
        terms = tuple(str(t).strip() for t in getattr(kb, "vocabulary_terms", None) or () if str(t).strip())
        groups = (
            tuple(str(m).strip() for m in group if str(m).strip())
            for group in getattr(kb, "vocabulary_synonyms", None) or ()
        )
        return cls(terms, tuple(g for g in groups if len(g) > 1))

    def __bool__(self) -> bool:
        return bool(self.terms or self.synonyms)

    def words(self) -> tuple[str, ...]:
        """What is found in text and added as a token: the dictionary words and the Chinese synonym
        members (as the platform adds its Chinese synonyms to jieba's dictionary), lower-cased."""
        found = [*self.terms, *(m for group in self.synonyms for m in group if _HAN.search(m))]
        return tuple(dict.fromkeys(" ".join(w.lower().split()) for w in found))

    @functools.cached_property
    def digest(self) -> str:
        """Eight hex digits over what changes stored tokens (``words``), in any order; "" for none."""
        words = sorted(self.words())
        if not words:
            return ""
        payload = json.dumps(words, ensure_ascii=False).encode()
        return hashlib.sha1(payload, usedforsecurity=False).hexdigest()[:8]


@dataclass(frozen=True)
class _KbMatcher:
    """A knowledge base's vocabulary, compiled: its words to find in text and its synonym groups."""

    han: tuple[tuple[str, str], ...]  # (lower-cased word, its token): found as substrings
    latin: re.Pattern[str] | None  # every Latin word, as a whole-word phrase, longest first
    latin_tokens: dict[str, str]  # a Latin word's parts joined by one space -> its token
    groups: tuple[tuple[_Member, ...], ...]

    def missing(self, lowered: str, tokens: Sequence[str]) -> list[str]:
        """The base's words in ``lowered`` that ``tokens`` lacks, once per occurrence."""
        wanted: Counter[str] = Counter()
        for word, token in self.han:
            found = lowered.count(word)
            if found:
                wanted[token] += found
        if self.latin is not None:
            for match in self.latin.finditer(lowered):
                token = self.latin_tokens.get(" ".join(_LATIN_WORD.findall(match.group())))
                if token:
                    wanted[token] += 1
        if not wanted:
            return []
        have = Counter(t for t in tokens if t in wanted)  # jieba found some already (a word it knows)
        return [token for token, count in wanted.items() for _ in range(count - have[token])]


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
        self._matchers: dict[KbVocabulary, _KbMatcher] = {}
        self._matchers_lock = threading.Lock()

    def _member(self, name: str) -> _Member:
        lowered = name.lower()
        if _HAN.search(lowered):
            return _Member(name, tuple(self._tokens(lowered, search=False)), lowered, None)
        words = _LATIN_WORD.findall(lowered)
        terms = tuple(w for w in self._tokens(lowered, search=False) if len(w) > 1 or w.isdigit())  # not "h", "l"
        pattern = re.compile(r"(?<![0-9a-z])" + _phrase(words) + r"(?![0-9a-z])")
        return _Member(name, terms, "", pattern)

    def _kb_member(self, name: str) -> _Member:
        """A member of a knowledge base's group: a Chinese one is one of its words (one token)."""
        if _HAN.search(name):
            token = _token_of(name)
            return _Member(name, (token,), token, None)
        return self._member(name)

    def _compile(self, kb: KbVocabulary) -> _KbMatcher:
        han: list[tuple[str, str]] = []
        latin: dict[str, str] = {}
        for word in kb.words():
            if _HAN.search(word):
                han.append((word, _token_of(word)))
            elif parts := _LATIN_WORD.findall(word):
                latin.setdefault(" ".join(parts), _token_of(word))
        pattern = None
        if latin:
            phrases = sorted((_phrase(key.split(" ")) for key in latin), key=len, reverse=True)
            pattern = re.compile(r"(?<![0-9a-z])(?:" + "|".join(phrases) + r")(?![0-9a-z])")
        groups = tuple(tuple(self._kb_member(m) for m in group) for group in kb.synonyms if len(group) > 1)
        return _KbMatcher(tuple(han), pattern, latin, groups)

    def _matcher(self, kb: KbVocabulary) -> _KbMatcher:
        with self._matchers_lock:
            found = self._matchers.get(kb)
        if found is None:
            found = self._compile(kb)
            with self._matchers_lock:
                if len(self._matchers) >= 256:  # a few per knowledge base in use; never unbounded
                    self._matchers.clear()
                self._matchers[kb] = found
        return found

    def terms_format_of(self, kb: KbVocabulary | None = None) -> str:
        """The fingerprint stored terms begin with: the platform's, and the base vocabulary's digest."""
        return f"{self.terms_format}+{kb.digest}" if kb and kb.digest else self.terms_format

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

    def tokenize(self, text: str, kb: KbVocabulary | None = None) -> list[str]:
        """Lower-cased words without stop words; Chinese by jieba's search mode (long words also yield
        parts); with ``kb``, each of its words found in the text as one more token."""
        lowered = text.lower()
        tokens = self._tokens(lowered, search=True)
        if kb:
            tokens.extend(self._matcher(kb).missing(lowered, tokens))
        return tokens

    def expand(self, query: str, kb: KbVocabulary | None = None) -> QueryTerms:
        """The query's terms (weight 1) and the other members of every synonym group it names (the
        platform's and, with ``kb``, the knowledge base's)."""
        terms = self.tokenize(query, kb)
        present, lowered = set(terms), query.lower()
        weights = dict.fromkeys(terms, 1.0)
        expanded: list[str] = []
        groups = [*self._groups, *self._matcher(kb).groups] if kb else self._groups
        for group in groups:
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


def tokenize(text: str, vocabulary: KbVocabulary | None = None) -> list[str]:
    """Lower-cased words without stop words; Chinese is segmented by jieba's search mode with the medical
    dictionary (long words also yield their parts); Greek letters and digits are kept. With a knowledge
    base's ``vocabulary``, each of its words in the text is one more token."""
    return medical_vocabulary().tokenize(text, vocabulary)


def expand_query(query: str, vocabulary: KbVocabulary | None = None) -> QueryTerms:
    """The query's BM25 terms, with synonyms and abbreviations added (see MedicalVocabulary.expand)."""
    return medical_vocabulary().expand(query, vocabulary)


def terms_format(vocabulary: KbVocabulary | None = None) -> str:
    """The fingerprint that stored terms made now (with ``vocabulary``) begin with."""
    return medical_vocabulary().terms_format_of(vocabulary)


def index_terms(text: str, vocabulary: KbVocabulary | None = None) -> str:
    """What a chunk stores as its ``terms``: the current fingerprint, then its tokens, space-joined."""
    return " ".join([terms_format(vocabulary), *tokenize(text, vocabulary)])


def is_current(terms: str, vocabulary: KbVocabulary | None = None) -> bool:
    """Whether stored ``terms`` were made by the current tokeniser and vocabularies."""
    marker = terms_format(vocabulary)
    return terms == marker or terms.startswith(marker + " ")


def stored_terms(terms: str, text: str, vocabulary: KbVocabulary | None = None) -> list[str]:
    """A chunk's BM25 terms: the stored ones when current, else its text tokenised again."""
    if is_current(terms, vocabulary):
        return terms.split()[1:]
    return tokenize(text, vocabulary)


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
        self._positions: dict[str, int] | None = None  # made on first use
        self._distinct: dict[str, frozenset[Any]] = {}
        self._idf: dict[str, float] = {}
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for word, (docs, counts) in postings.items():
            where = np.array(docs, dtype=np.int32)
            tf = np.array(counts, dtype=np.float32)
            idf = self._idf[word] = math.log(1 + (total - len(docs) + 0.5) / (len(docs) + 0.5))
            self._postings[word] = (where, (idf * tf * (k1 + 1) / (tf + norms[where])).astype(np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    def distinct(self, key: str) -> frozenset[Any]:
        """The values the chunks' metadata ``key`` takes (computed once per index)."""
        if key not in self._distinct:
            self._distinct[key] = frozenset(m[key] for m in self.metadatas if key in m)
        return self._distinct[key]

    def position(self, chunk_id: str) -> int | None:
        """Where ``chunk_id`` sits in this index (None: not indexed)."""
        if self._positions is None:
            self._positions = {item: n for n, item in enumerate(self.ids)}
        return self._positions.get(chunk_id)

    def scores(self, query_terms: Mapping[str, float]) -> np.ndarray:
        """Every chunk's BM25 score for the weighted terms, in index order."""
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for word, weight in query_terms.items():
            found = self._postings.get(word)
            if found is not None:
                scores[found[0]] += found[1] if weight == 1.0 else found[1] * np.float32(weight)
        return scores

    def ideal(self, query_terms: Mapping[str, float]) -> float:
        """What a chunk of average length holding each of the query's own words once would score: the
        yardstick that turns a BM25 score into how much of the query a chunk covers (a word no chunk
        holds counts with the highest idf; expansion terms, weighted below 1, do not count)."""
        unseen = math.log(1 + (len(self.ids) + 0.5) / 0.5)
        return sum(self._idf.get(word, unseen) for word, weight in query_terms.items() if weight >= 1.0)

    def search(
        self, query_terms: Sequence[str] | Mapping[str, float], k: int, where: dict[str, Any] | None = None
    ) -> list[TextHit]:
        """The ``k`` best chunks (score > 0) whose metadata matches every item of ``where``; terms given
        as a mapping weigh their value (an expansion term less than an original one)."""
        weighted = query_terms if isinstance(query_terms, Mapping) else dict.fromkeys(query_terms, 1.0)
        return self.top(self.scores(weighted), k, where)

    def top(self, scores: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[TextHit]:
        """The ``k`` best of ``scores`` (from ``scores()``, above 0) whose metadata matches ``where``."""
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


class VersionedCache(Generic[T]):
    """One value per knowledge base (its BM25 index, its vectors' language spreads), built again
    when the version it was built for moves on."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[object, T]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, version: object, build: Callable[[], T]) -> T:
        with self._lock:
            found = self._values.get(key)
        if found is not None and found[0] == version:
            return found[1]
        value = build()
        with self._lock:
            self._values[key] = (version, value)
        return value

    def forget(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)


TextIndexCache = VersionedCache[Bm25Index]
