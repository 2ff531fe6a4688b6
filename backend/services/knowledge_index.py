"""What knowledge retrieval needs besides the database, bundled once per process on the
Runtime (``runtime.knowledge``): the vector store, the embedding cache and models, and the
in-memory BM25 indexes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from backend.adapters.cache import Cache
from backend.adapters.embeddings import BUILTIN, REMOTE_PREFIX, Embedder, LocalEmbedder, RemoteEmbedder
from backend.adapters.vectors import VectorStore
from backend.errors import ErrorCode, MedAIError
from backend.services import embeddings
from backend.services.text_search import TextIndexCache


@dataclass
class KnowledgeIndex:
    vectors: VectorStore
    cache: Cache
    embedder: LocalEmbedder  # the built-in model
    model_roots: list[Path] = field(default_factory=list)  # folders other embedding models may come from
    remote_url: str = ""  # an OpenAI-compatible embeddings endpoint, for models named remote:<name>
    remote_key: str = field(default="", repr=False)
    text_indexes: TextIndexCache = field(default_factory=TextIndexCache)
    worker: threading.Thread | None = field(default=None, repr=False)  # the ingestion thread, while it runs
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # guards ``worker``
    _embedders: dict[str, Embedder] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check_model(self, model: str) -> str:
        """``model`` when it names the built-in model, a local sentence-transformers folder under
        an allowed root, or ``remote:<name>`` with an embeddings endpoint configured; DATA_INVALID
        otherwise."""
        if model in ("", BUILTIN, self.embedder.name):
            return self.embedder.name
        if model.startswith(REMOTE_PREFIX):
            if not self.remote_url or not model.removeprefix(REMOTE_PREFIX).strip():
                raise MedAIError(
                    ErrorCode.DATA_INVALID,
                    f"'{model}' needs an embeddings endpoint, and none is configured.",
                    "Ask the platform admin to set MEDAI_EMBEDDINGS_URL, or use the built-in model.",
                )
            return model
        folder = Path(model).expanduser().resolve()
        inside = any(folder.is_relative_to(root.expanduser().resolve()) for root in self.model_roots)
        if not inside or not (folder / "config.json").is_file():
            raise MedAIError(
                ErrorCode.DATA_INVALID,
                f"'{model}' is not a usable embedding model.",
                f"Use {BUILTIN}, or the folder of a sentence-transformers model under MEDAI_MODEL_IMPORT_DIRS.",
            )
        return str(folder)

    def embedder_for(self, model: str) -> Embedder:
        name = self.check_model(model)
        if name == self.embedder.name:
            return self.embedder
        with self._lock:
            if name not in self._embedders:
                self._embedders[name] = (
                    RemoteEmbedder(self.remote_url, name.removeprefix(REMOTE_PREFIX), self.remote_key)
                    if name.startswith(REMOTE_PREFIX)
                    else LocalEmbedder(Path(name), name)
                )
            return self._embedders[name]

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """Vectors for ``texts``, cached by model and text hash (Redis when configured)."""
        vectors, _computed = embeddings.embed(self.cache, self.embedder_for(model), texts)
        return vectors


def collection_name(knowledge_base_id: str) -> str:
    return f"kb-{knowledge_base_id}"
