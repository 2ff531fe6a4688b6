"""Cutting documents into chunks for retrieval.

Recursive splitting: a text longer than the chunk size is cut at the strongest boundary it
contains (paragraph, line, Chinese and English sentence ends, clauses, spaces, and finally
characters); the pieces are then packed back into chunks up to the size, each new chunk
starting with up to ``overlap`` characters from the end of the previous one. Separators stay
attached to the piece they end, so Chinese sentences keep their 。！？.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SEPARATORS: tuple[str, ...] = ("\n\n", "\n", "。", "！", "？", "；", "!", "?", ";", ". ", "，", ",", "、", " ", "")
MODES = ("general", "qa", "parent_child")


@dataclass(frozen=True)
class ChunkSettings:
    mode: str = "general"
    size: int = 500
    overlap: int = 50
    parent_size: int = 2000


@dataclass(frozen=True)
class Piece:
    """A chunk to index; ``parent`` is the ordinal of its parent (parent-child mode) or None."""

    text: str
    parent: int | None = None


@dataclass(frozen=True)
class Chunked:
    pieces: tuple[Piece, ...]
    parents: tuple[str, ...] = ()  # parent-child mode: the contexts the pieces point into


def _cut(text: str, separator: str) -> list[str]:
    if separator == "":
        return list(text)
    parts = text.split(separator)
    return [part + separator for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _pieces(text: str, size: int, separators: Sequence[str]) -> list[str]:
    """Pieces no longer than ``size``, cut at the strongest separator each text contains."""
    if len(text) <= size:
        return [text]
    for index, separator in enumerate(separators):
        if separator == "" or separator in text:
            result: list[str] = []
            for part in _cut(text, separator):
                result.extend(_pieces(part, size, separators[index + 1 :]) if len(part) > size else [part])
            return result
    return [text[i : i + size] for i in range(0, len(text), size)]


def _pack(pieces: list[str], size: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for piece in pieces:
        if current and length + len(piece) > size:
            chunks.append("".join(current))
            while current and (length > overlap or length + len(piece) > size):  # keep a tail as overlap
                length -= len(current.pop(0))
        current.append(piece)
        length += len(piece)
    if current:
        chunks.append("".join(current))
    return chunks


def split_text(text: str, size: int = 500, overlap: int = 50) -> list[str]:
    """Chunks of at most ``size`` characters (after stripping), consecutive ones sharing up to ``overlap``."""
    size = max(size, 1)
    overlap = min(max(overlap, 0), size // 2)
    chunks = (chunk.strip() for chunk in _pack(_pieces(text, size, SEPARATORS), size, overlap))
    return [chunk for chunk in chunks if chunk]


def qa_text(question: str, answer: str) -> str:
    return f"Q: {question}\nA: {answer}"


def chunk_prose(text: str, settings: ChunkSettings) -> Chunked:
    if settings.mode != "parent_child":
        return Chunked(tuple(Piece(t) for t in split_text(text, settings.size, settings.overlap)))
    parents = split_text(text, max(settings.parent_size, settings.size), 0)
    pieces = tuple(
        Piece(child, ordinal)
        for ordinal, parent in enumerate(parents)
        for child in split_text(parent, settings.size, settings.overlap)
    )
    return Chunked(pieces, tuple(parents))


def chunk_pairs(pairs: Sequence[tuple[str, str]]) -> Chunked:
    """Q&A mode: one chunk per pair, never cut."""
    return Chunked(tuple(Piece(qa_text(q, a)) for q, a in pairs))
