"""Vectors for knowledge retrieval: Chroma embedded (``PersistentClient`` under DATA_DIR/chroma)
or a Chroma server (``HttpClient``, MEDAI_CHROMA_URL).

One collection per knowledge base, cosine distance. The tenant is written into the
collection's metadata and into every record's metadata; every call names the tenant and a
collection of another tenant looks exactly like a missing one. Vectors always come from the
platform's embeddings, so Chroma's own embedding function (which would download a model) is
never used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from backend.settings import Settings

Metadata = dict[str, str | int | float | bool]


@dataclass(frozen=True)
class VectorHit:
    id: str
    similarity: float  # cosine similarity, 1 = same direction
    metadata: dict[str, Any] = field(default_factory=dict)


class VectorStore(Protocol):
    backend: str

    def upsert(
        self,
        collection: str,
        tenant_id: str,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        metadatas: Sequence[Metadata],
    ) -> None:
        """Add or replace records; the collection is created on first use, owned by ``tenant_id``."""
        ...

    def query(
        self, collection: str, tenant_id: str, vector: Sequence[float], k: int, where: Metadata | None = None
    ) -> list[VectorHit]:
        """The ``k`` nearest records whose metadata equals every item of ``where``, nearest first."""
        ...

    def vectors(self, collection: str, tenant_id: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored vectors of ``ids`` (those that exist), by id."""
        ...

    def delete(self, collection: str, tenant_id: str, where: Metadata) -> None:
        """Remove the records whose metadata equals every item of ``where``."""
        ...

    def drop(self, collection: str, tenant_id: str) -> None:
        """Remove the whole collection; a missing one is not an error."""
        ...

    def count(self, collection: str, tenant_id: str) -> int: ...

    def ping(self) -> None: ...


def build_vector_store(settings: Settings) -> VectorStore:
    from backend.adapters.vectors.chroma import ChromaVectorStore

    if settings.chroma_url:
        return ChromaVectorStore.server(settings.chroma_url)
    assert settings.chroma_dir is not None
    return ChromaVectorStore.embedded(settings.chroma_dir)
