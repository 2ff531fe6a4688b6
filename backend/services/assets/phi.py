"""Protected health information in text: find it for a dataset's PHI summary and mask it
on request (source §6.5: de-identification of medical data where it is not needed).

Patterns cover what Chinese and international hospital records most often carry:
mainland mobile and landline numbers, 18-digit resident ID numbers (checksum verified),
e-mail addresses, medical record / admission numbers introduced by their label, and
names written with a title (患者张三, 张医生, Dr. Smith).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _valid_resident_id(number: str) -> bool:
    digits = number[:17]
    if not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


# words that stand before a title without being a name (主治医生, 值班护士, 科主任 ...)
_ROLE_WORDS = frozenset(
    {
        "主治",
        "值班",
        "责任",
        "住院",
        "实习",
        "进修",
        "管床",
        "接诊",
        "门诊",
        "急诊",
        "主管",
        "副主",
        "科主",
        "主任",
        "护士",
        "医生",
        "家庭",
        "签约",
        "专科",
        "床位",
        "治医",
        "班医",
        "任护",
        "院医",
        "诊医",
        "科",
        "副",
        "主",
    }
)


@dataclass(frozen=True)
class Kind:
    name: str
    pattern: re.Pattern[str]
    mask: str
    check: Callable[[str], bool] | None = None
    group: int = 0  # the part of the match that is masked (labels such as 病历号 stay)
    hint: re.Pattern[str] | None = None  # a cheap search that must succeed before the full pattern runs


KINDS: tuple[Kind, ...] = (
    Kind(
        "resident_id",
        re.compile(
            r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
        ),
        "[身份证号]",
        _valid_resident_id,
        hint=re.compile(r"\d{6}"),
    ),
    Kind(
        "phone",
        re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"),
        "[电话]",
        hint=re.compile(r"1[3-9]\d"),
    ),
    Kind("phone", re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)"), "[电话]", hint=re.compile(r"-\d{7}")),
    Kind("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[邮箱]", hint=re.compile("@")),
    Kind(
        "medical_record_number",
        re.compile(
            r"(?:病历号|病案号|住院号|门诊号|MRN|Medical Record(?: No\.?| Number)?)"
            r"\s*[:：#]?\s*([A-Za-z]{0,3}\d{5,12})",
            re.IGNORECASE,
        ),
        "[病历号]",
        group=1,
        hint=re.compile(r"病历|病案|住院号|门诊号|MRN|Medical Record", re.IGNORECASE),
    ),
    Kind(
        "name",
        re.compile(
            r"(?:患者|病人|患儿)([\u4e00-\u9fff]{2,4}?)(?=[，,。；;：:\s（(]|$|[男女]|\d|主诉|因|于|自|诉|入院|就诊|来院)"
        ),
        "[姓名]",
        group=1,
        hint=re.compile("患者|病人|患儿"),
    ),
    Kind(
        "name",
        re.compile(r"([\u4e00-\u9fff]{1,2})(?:医生|大夫|主任|护士|教授)"),
        "[姓名]",
        lambda found: _ROLE_WORDS.isdisjoint({found[:2], found[-2:]}),
        group=1,
        hint=re.compile("医生|大夫|主任|护士|教授"),
    ),
    Kind(
        "name",
        re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Prof)\.?\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"),
        "[NAME]",
        group=1,
        hint=re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Prof)\b"),
    ),
)


@dataclass
class PhiSummary:
    counts: Counter[str] = field(default_factory=Counter)  # kind → matches
    rows_with_phi: int = 0
    examples: dict[str, str] = field(default_factory=dict)  # kind → one masked example

    def as_dict(self) -> dict[str, object]:
        return {"counts": dict(self.counts), "rows_with_phi": self.rows_with_phi, "examples": self.examples}


def _spans(text: str) -> list[tuple[int, int, Kind]]:
    found: list[tuple[int, int, Kind]] = []
    for kind in KINDS:
        if kind.hint is not None and kind.hint.search(text) is None:
            continue
        for match in kind.pattern.finditer(text):
            if kind.check is not None and not kind.check(match.group(kind.group)):
                continue
            start, end = match.span(kind.group)
            if not any(s < end and start < e for s, e, _ in found):  # the first kind to claim a span keeps it
                found.append((start, end, kind))
    return sorted(found, key=lambda span: span[0])


def find(text: str) -> Counter[str]:
    return Counter(kind.name for _, _, kind in _spans(text))


def mask(text: str) -> str:
    """The text with every PHI span replaced by its placeholder."""
    out, last = [], 0
    for start, end, kind in _spans(text):
        out.append(text[last:start])
        out.append(kind.mask)
        last = end
    out.append(text[last:])
    return "".join(out)


def scan_row(summary: PhiSummary, text: str) -> None:
    """Add one record's text to ``summary``."""
    counts = find(text)
    if not counts:
        return
    summary.counts.update(counts)
    summary.rows_with_phi += 1
    for name in counts:
        if name not in summary.examples:
            summary.examples[name] = mask(text)[:160]
