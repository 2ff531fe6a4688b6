"""Which language a chunk or a query is written in, for language-aware retrieval.

Chinese is told by its characters: a text with at least as many Han characters as Latin words is
Chinese ("二甲双胍 metformin 500 mg" is; "Metformin (二甲双胍) is first-line in type 2 diabetes" is
English). A text with Latin words and no more Han characters is English (the platform's other
language; French or German read as "en" too, which only matters for the same-or-other-language
calibration), and a text with neither is "other".
"""

from __future__ import annotations

import re

ZH, EN, OTHER = "zh", "en", "other"
LANGUAGES = (ZH, EN)  # what a knowledge base may declare it holds
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


def detect(text: str) -> str:
    """zh, en or other (see the module docstring)."""
    han, latin = len(_HAN.findall(text)), len(_LATIN_WORD.findall(text))
    if han and han >= latin:
        return ZH
    return EN if latin else OTHER
