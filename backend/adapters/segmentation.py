"""Chinese word segmentation (jieba) for the full-text indexes: Chinese is written without
spaces, so an index that splits on spaces sees a whole clause as one word. Words are cut once
per process from jieba's bundled dictionary (nothing is downloaded)."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_lock = threading.Lock()
_loaded: list[Any] = []


def _jieba() -> Any:
    with _lock:
        if not _loaded:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _loaded.append(jieba)
    return _loaded[0]


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


def index_words(text: str) -> list[str]:
    """The words of every Chinese run of ``text``, long words with their parts (jieba's search mode)."""
    cut = _jieba().lcut_for_search
    return [w for run in CJK.findall(text) for w in cut(run) if w.strip()]


def query_words(text: str) -> list[str]:
    """A Chinese query cut into the words a person means (jieba's precise mode)."""
    return [w for w in _jieba().lcut(text) if w.strip()]
