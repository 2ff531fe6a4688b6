"""What knowledge retrieval needs besides the database, bundled once per process on the
Runtime (``runtime.knowledge``): the vector store, the embedding cache and models (the two
built-in ones, local folders, remote:<name>), and the in-memory BM25 indexes.

A knowledge base's vectors live in one Chroma collection per *generation*: ``kb-<id>`` first,
``kb-<id>-g<n>`` after the n-th re-embed (``collection_of``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.adapters.cache import Cache
from backend.adapters.embeddings import (
    BUILTIN_EMBEDDING_MODELS,
    DEFAULT_EMBEDDING_MODEL,
    E5,
    MINILM,
    REMOTE_PREFIX,
    BuiltinEmbedder,
    E5Embedder,
    Embedder,
    LocalEmbedder,
    RemoteEmbedder,
    canonical_embedding_name,
)
from backend.adapters.rerank import Reranker
from backend.adapters.vectors import VectorStore
from backend.errors import ErrorCode, MedAIError
from backend.models import KnowledgeBase
from backend.services.knowledge.text_search import TextIndexCache, VersionedCache
from backend.services.serving import embeddings


@dataclass
class KnowledgeIndex:
    vectors: VectorStore
    cache: Cache
    embedder: LocalEmbedder  # the built-in MiniLM (all-minilm-l6-v2)
    model_roots: list[Path] = field(default_factory=list)  # folders other embedding models may come from
    remote_url: str = ""  # an OpenAI-compatible embeddings endpoint, for models named remote:<name>
    remote_key: str = field(default="", repr=False)
    text_indexes: TextIndexCache = field(default_factory=TextIndexCache)
    # each language's vector background, and a small language's vectors (search.language_vectors)
    language_vectors: VersionedCache[dict[str, Any]] = field(default_factory=VersionedCache)
    worker: threading.Thread | None = field(default=None, repr=False)  # the ingestion thread, while it runs
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # guards the two workers
    e5: E5Embedder = field(default_factory=E5Embedder)  # the built-in multilingual-e5-small (the default)
    reembed_worker: threading.Thread | None = field(default=None, repr=False)  # the re-embed thread, while it runs
    reranker: Reranker | None = None  # the rerank stage (MEDAI_RERANK_URL); None: not configured
    text_worker: threading.Thread | None = field(default=None, repr=False)  # full-text re-index, while it runs
    offsets_worker: threading.Thread | None = field(default=None, repr=False)  # chunk offsets pass, while it runs
    _embedders: dict[str, Embedder] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def builtins(self) -> dict[str, BuiltinEmbedder]:
        """The built-in models by canonical name."""
        return {E5: self.e5, MINILM: self.embedder}

    def check_model(self, model: str) -> str:
        """The canonical name of the model ``model`` means: a built-in one (any case; empty is the
        default), a local sentence-transformers folder under an allowed root, or
        ``remote:<name>`` with an embeddings endpoint configured; DATA_INVALID otherwise."""
        builtin = canonical_embedding_name(model or DEFAULT_EMBEDDING_MODEL)
        if builtin is not None:
            return builtin
        if model.startswith(REMOTE_PREFIX):
            if not self.remote_url or not model.removeprefix(REMOTE_PREFIX).strip():
                raise MedAIError(
                    ErrorCode.DATA_INVALID,
                    f"'{model}' needs an embeddings endpoint, and none is configured.",
                    "Ask the platform admin to set MEDAI_EMBEDDINGS_URL, or use a built-in model.",
                )
            return model
        folder = Path(model).expanduser().resolve()
        inside = any(folder.is_relative_to(root.expanduser().resolve()) for root in self.model_roots)
        if not inside or not (folder / "config.json").is_file():
            raise MedAIError(
                ErrorCode.DATA_INVALID,
                f"'{model}' is not a usable embedding model.",
                f"Use {' or '.join(BUILTIN_EMBEDDING_MODELS)}, or the folder of a sentence-transformers model "
                "under MEDAI_MODEL_IMPORT_DIRS.",
            )
        return str(folder)

    def embedder_for(self, model: str) -> Embedder:
        name = self.check_model(model)
        if name in self.builtins:
            return self.builtins[name]
        with self._lock:
            if name not in self._embedders:
                self._embedders[name] = (
                    RemoteEmbedder(self.remote_url, name.removeprefix(REMOTE_PREFIX), self.remote_key)
                    if name.startswith(REMOTE_PREFIX)
                    else LocalEmbedder(Path(name), name)
                )
            return self._embedders[name]

    def embed(self, model: str, texts: list[str], *, query: bool = False) -> list[list[float]]:
        """Vectors for ``texts`` (a search query's when ``query``, else passages to index), cached
        by model, role and text hash (Redis when configured)."""
        vectors, _computed = embeddings.embed(self.cache, self.embedder_for(model), texts, query=query)
        return vectors


def collection_name(knowledge_base_id: str, generation: int = 0) -> str:
    """The Chroma collection of one generation of a knowledge base's vectors."""
    return f"kb-{knowledge_base_id}" if generation == 0 else f"kb-{knowledge_base_id}-g{generation}"


def collection_of(kb: KnowledgeBase) -> str:
    """The collection that answers for ``kb`` now."""
    return collection_name(kb.id, kb.collection_generation)
