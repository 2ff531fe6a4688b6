"""Cutting documents into chunks for retrieval.

Recursive splitting: a text longer than the chunk size is cut at the strongest boundary it
contains (paragraph, line, Chinese and English sentence ends, clauses, spaces, and finally
characters); the pieces are then packed back into chunks up to the size, each new chunk
starting with up to ``overlap`` characters from the end of the previous one. Separators stay
attached to the piece they end, so Chinese sentences keep their 。！？.

Offsets: the pieces of a text concatenate back to it exactly, so every chunk is a contiguous
run of the text, stripped of surrounding whitespace. Each chunk (and each parent) carries its
``[start, end)`` in the text it was cut from, with ``text[start:end] == chunk`` exactly: nothing
inside a chunk is normalised. The text they point into is ``documents.document_text``: the parsed
prose, or for question-answer documents (CSV, JSONL) the pairs written out as
``Q: …\\nA: …`` blocks separated by a blank line, where each pair's chunk sits verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SEPARATORS: tuple[str, ...] = ("\n\n", "\n", "。", "！", "？", "；", "!", "?", ";", ". ", "，", ",", "、", " ", "")
MODES = ("general", "qa", "parent_child")
PAIR_SEPARATOR = "\n\n"  # between the question-answer blocks of a Q&A document's text

Span = tuple[int, int]  # [start, end) in a text


@dataclass(frozen=True)
class ChunkSettings:
    mode: str = "general"
    size: int = 500
    overlap: int = 50
    parent_size: int = 2000


@dataclass(frozen=True)
class Piece:
    """A chunk to index; ``parent`` is the ordinal of its parent (parent-child mode) or None;
    ``start``/``end`` its place in the document's text (``document_text``)."""

    text: str
    parent: int | None = None
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class Chunked:
    pieces: tuple[Piece, ...]
    parents: tuple[str, ...] = ()  # parent-child mode: the contexts the pieces point into
    parent_spans: tuple[Span, ...] = ()  # where each parent sits in the document's text


def _cut(text: str, separator: str) -> list[str]:
    if separator == "":
        return list(text)
    parts = text.split(separator)
    return [part + separator for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _pieces(text: str, size: int, separators: Sequence[str]) -> list[str]:
    """Pieces no longer than ``size``, cut at the strongest separator each text contains; they
    concatenate back to ``text`` exactly."""
    if len(text) <= size:
        return [text]
    for index, separator in enumerate(separators):
        if separator == "" or separator in text:
            result: list[str] = []
            for part in _cut(text, separator):
                result.extend(_pieces(part, size, separators[index + 1 :]) if len(part) > size else [part])
            return result
    return [text[i : i + size] for i in range(0, len(text), size)]


def _pack(lengths: list[int], size: int, overlap: int) -> list[tuple[int, int]]:
    """Chunks as runs ``[first, last)`` of consecutive pieces (given by their lengths)."""
    runs: list[tuple[int, int]] = []
    first, length = 0, 0
    for n, piece in enumerate(lengths):
        if n > first and length + piece > size:
            runs.append((first, n))
            while first < n and (length > overlap or length + piece > size):  # keep a tail as overlap
                length -= lengths[first]
                first += 1
        length += piece
    if first < len(lengths):
        runs.append((first, len(lengths)))
    return runs


def split_spans(text: str, size: int = 500, overlap: int = 50) -> list[Span]:
    """Where the chunks of ``text`` are: ``[start, end)`` of each, stripped of surrounding
    whitespace, at most ``size`` characters, consecutive ones sharing up to ``overlap``."""
    size = max(size, 1)
    overlap = min(max(overlap, 0), size // 2)
    pieces = _pieces(text, size, SEPARATORS)
    starts = [0]
    for piece in pieces:
        starts.append(starts[-1] + len(piece))
    spans: list[Span] = []
    for first, last in _pack([len(p) for p in pieces], size, overlap):
        start, end = starts[first], starts[last]
        raw = text[start:end]
        stripped = raw.strip()
        if stripped:
            start += len(raw) - len(raw.lstrip())
            spans.append((start, start + len(stripped)))
    return spans


def split_text(text: str, size: int = 500, overlap: int = 50) -> list[str]:
    """Chunks of at most ``size`` characters (after stripping), consecutive ones sharing up to ``overlap``."""
    return [text[start:end] for start, end in split_spans(text, size, overlap)]


def qa_text(question: str, answer: str) -> str:
    return f"Q: {question}\nA: {answer}"


def pairs_text(pairs: Sequence[tuple[str, str]]) -> str:
    """The text of a question-answer document: its pairs as ``qa_text`` blocks, a blank line between."""
    return PAIR_SEPARATOR.join(qa_text(q, a) for q, a in pairs)


def chunk_prose(text: str, settings: ChunkSettings) -> Chunked:
    if settings.mode != "parent_child":
        spans = split_spans(text, settings.size, settings.overlap)
        return Chunked(tuple(Piece(text[s:e], None, s, e) for s, e in spans))
    parent_spans = split_spans(text, max(settings.parent_size, settings.size), 0)
    pieces = tuple(
        Piece(text[p_start + s : p_start + e], ordinal, p_start + s, p_start + e)
        for ordinal, (p_start, p_end) in enumerate(parent_spans)
        for s, e in split_spans(text[p_start:p_end], settings.size, settings.overlap)
    )
    return Chunked(pieces, tuple(text[s:e] for s, e in parent_spans), tuple(parent_spans))


def chunk_pairs(pairs: Sequence[tuple[str, str]]) -> Chunked:
    """Q&A mode: one chunk per pair, never cut; each points to its block in ``pairs_text(pairs)``."""
    pieces: list[Piece] = []
    start = 0
    for q, a in pairs:
        text = qa_text(q, a)
        pieces.append(Piece(text, None, start, start + len(text)))
        start += len(text) + len(PAIR_SEPARATOR)
    return Chunked(tuple(pieces))
