"""Documents into text for a knowledge base: TXT, Markdown, PDF (pypdf), DOCX (python-docx),
HTML (BeautifulSoup) as prose; CSV and JSONL as question-answer pairs.

Anything that cannot be read, or holds no text, is refused with DATA_INVALID and a remedy;
nothing here writes anywhere.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import PurePosixPath

from backend.errors import ErrorCode, MedAIError

FORMATS: dict[str, str] = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
    ".jsonl": "jsonl",
}
QA_FORMATS = frozenset({"csv", "jsonl"})
QUESTION_KEYS = ("question", "q", "query", "instruction", "prompt", "问题", "问")
ANSWER_KEYS = ("answer", "a", "response", "output", "completion", "答案", "回答", "答")
MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Parsed:
    file_format: str
    text: str = ""  # prose formats
    pairs: tuple[tuple[str, str], ...] = ()  # question-answer formats

    @property
    def char_count(self) -> int:
        return len(self.text) if not self.pairs else sum(len(q) + len(a) for q, a in self.pairs)


def _invalid(message: str, remedy: str) -> MedAIError:
    return MedAIError(ErrorCode.DATA_INVALID, message, remedy)


def file_format(filename: str) -> str:
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    found = FORMATS.get(suffix)
    if found is None:
        raise _invalid(
            f"'{filename}' is not a supported document type.",
            "Upload TXT, Markdown, PDF, DOCX, HTML, or CSV/JSONL question-answer pairs.",
        )
    return found


def decode(data: bytes, filename: str) -> str:
    """UTF-8 (with or without BOM), else GB18030, which Chinese Windows tools still write."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _invalid(f"'{filename}' is not text in UTF-8 or GB18030.", "Save the file as UTF-8 and upload it again.")


def _pdf(data: bytes, filename: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged files are reported to the user, not the log
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise _invalid(f"'{filename}' is password protected.", "Remove the password and upload it again.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except MedAIError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise _invalid(
            f"'{filename}' is not a readable PDF ({type(exc).__name__}).",
            "Open it in a PDF viewer to check it, export it again as PDF, and upload the new file.",
        ) from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise _invalid(
            f"'{filename}' has no text layer (a scanned PDF?).",
            "Run OCR on it first, or upload the text as TXT or DOCX.",
        )
    return text


def _docx(data: bytes, filename: str) -> str:
    import zipfile

    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise _invalid(
            f"'{filename}' is not a readable DOCX file.",
            "Open it in Word or WPS, save it as .docx (not .doc), and upload it again.",
        ) from exc
    lines = [p.text.strip() for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(line for line in lines if line.strip())


def _html(data: bytes, filename: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode(data, filename), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def _pick(row: dict[str, object], keys: tuple[str, ...]) -> str:
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    for key in keys:
        value = lowered.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def _pairs(rows: list[dict[str, object]], filename: str) -> tuple[tuple[str, str], ...]:
    pairs = tuple((q, a) for q, a in ((_pick(r, QUESTION_KEYS), _pick(r, ANSWER_KEYS)) for r in rows) if q and a)
    if not pairs:
        raise _invalid(
            f"'{filename}' has no question-answer pairs.",
            "Give each row a question and an answer column (question/answer, q/a or 问题/答案).",
        )
    return pairs


def _csv(data: bytes, filename: str) -> tuple[tuple[str, str], ...]:
    try:
        rows = list(csv.DictReader(io.StringIO(decode(data, filename))))
    except csv.Error as exc:
        raise _invalid(f"'{filename}' is not valid CSV: {exc}.", "Export it again as CSV with a header row.") from exc
    return _pairs(rows, filename)


def _jsonl(data: bytes, filename: str) -> tuple[tuple[str, str], ...]:
    rows: list[dict[str, object]] = []
    for number, line in enumerate(decode(data, filename).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _invalid(
                f"Line {number} of '{filename}' is not JSON: {exc.msg}.", "Write one JSON object per line."
            ) from exc
        if isinstance(row, dict):
            rows.append(row)
    return _pairs(rows, filename)


def parse(filename: str, data: bytes) -> Parsed:
    """The document's text (or pairs); DATA_INVALID when it cannot be read or is empty."""
    kind = file_format(filename)
    if len(data) > MAX_BYTES:
        raise _invalid(f"'{filename}' is larger than {MAX_BYTES // 2**20} MB.", "Split it into smaller documents.")
    if kind == "csv":
        return Parsed(kind, pairs=_csv(data, filename))
    if kind == "jsonl":
        return Parsed(kind, pairs=_jsonl(data, filename))
    readers = {"pdf": _pdf, "docx": _docx, "html": _html}
    text = readers[kind](data, filename) if kind in readers else decode(data, filename)
    text = text.replace("\r\n", "\n").replace("\x00", "").strip()
    if not text:
        raise _invalid(f"'{filename}' holds no text.", "Check that the document is not empty, then upload it again.")
    return Parsed(kind, text=text)
