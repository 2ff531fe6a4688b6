"""Reading and checking training data files: JSONL, JSON, CSV and Parquet in the shapes
training needs (instruction/Alpaca, chat messages/ShareGPT, preference pairs, plain text).

``validate`` reads a file once, record by record (a JSONL line longer than MAX_LINE_BYTES
is reported and skipped without being held in memory), and returns a report: the shape it
detected, schema errors with their line numbers, duplicates, empty fields, token-length
statistics and a PHI summary. The file is acceptable only when the report has no errors.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from backend.services.assets import phi

MAX_LINE_BYTES = 4 * 1024 * 1024
MAX_JSON_ARRAY_BYTES = 256 * 1024 * 1024
MAX_ISSUES_LISTED = 50
PREVIEW_ROWS = 10
FILE_TYPES = ("jsonl", "json", "csv", "parquet")

TokenCounter = Callable[[str], int]
_APPROX_TOKEN = re.compile(r"[\u4e00-\u9fff]|[A-Za-z]+|\d+|[^\sA-Za-z\d\u4e00-\u9fff]")


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate: one token per CJK character, word, number or symbol."""
    return len(_APPROX_TOKEN.findall(text))


def approximate_token_list(text: str) -> list[str]:
    """The same split as ``approximate_tokens``, lower-cased (for overlap scores)."""
    return [token.lower() for token in _APPROX_TOKEN.findall(text)]


class Shape(StrEnum):
    ALPACA = "alpaca"  # instruction, input, output
    SHAREGPT = "sharegpt"  # messages: [{role, content}] (or conversations: [{from, value}])
    PREFERENCE = "preference"  # prompt, chosen, rejected
    TEXT = "text"  # text


SHAPE_FIELDS: dict[Shape, tuple[str, ...]] = {
    Shape.ALPACA: ("instruction", "output"),
    Shape.SHAREGPT: ("messages",),
    Shape.PREFERENCE: ("prompt", "chosen", "rejected"),
    Shape.TEXT: ("text",),
}
_ROLES = {"system", "user", "assistant", "tool", "human", "gpt", "observation", "function_call"}


@dataclass(frozen=True)
class Issue:
    line: int  # 1-based line (JSONL, CSV) or record number (JSON, Parquet)
    message: str


@dataclass
class ValidationReport:
    file_type: str
    shape: str = ""
    rows: int = 0
    issues: list[Issue] = field(default_factory=list)
    issue_count: int = 0
    fatal: str = ""  # the file could not be read at all
    duplicates: int = 0
    empty_fields: Counter[str] = field(default_factory=Counter)
    token_stats: dict[str, float] = field(default_factory=dict)
    tokenizer: str = "approximate"
    phi: dict[str, Any] = field(default_factory=dict)
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.fatal and self.issue_count == 0 and self.rows > 0

    def add(self, line: int, message: str) -> None:
        self.issue_count += 1
        if len(self.issues) < MAX_ISSUES_LISTED:
            self.issues.append(Issue(line, message))

    def summary(self) -> str:
        if self.fatal:
            return self.fatal
        if self.rows == 0 and not self.issue_count:
            return "The file has no records."
        first = self.issues[0] if self.issues else None
        where = f"; first at line {first.line}: {first.message}" if first else ""
        return f"{self.issue_count} problem(s) in {self.rows} record(s){where}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "file_type": self.file_type,
            "shape": self.shape,
            "rows": self.rows,
            "issue_count": self.issue_count,
            "issues": [{"line": i.line, "message": i.message} for i in self.issues],
            "fatal": self.fatal,
            "duplicates": self.duplicates,
            "empty_fields": dict(self.empty_fields),
            "token_stats": self.token_stats,
            "tokenizer": self.tokenizer,
            "phi": self.phi,
            "preview": self.preview,
        }


class _UnreadableError(Exception):
    """The file as a whole cannot be read (encoding, container format)."""


def file_type_of(filename: str) -> str:
    suffix = Path(filename).suffix.lower().lstrip(".")
    return {"jsonl": "jsonl", "ndjson": "jsonl", "json": "json", "csv": "csv", "parquet": "parquet"}.get(suffix, "")


# reading: each reader yields (line, record) or (line, Issue) -------------------------------


def _skip_rest_of_line(handle: io.BufferedReader) -> None:
    while chunk := handle.readline(MAX_LINE_BYTES):
        if chunk.endswith(b"\n"):
            return


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | Issue]]:
    with path.open("rb") as handle:
        line_no = 0
        while raw := handle.readline(MAX_LINE_BYTES + 1):
            line_no += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                _skip_rest_of_line(handle)
                yield line_no, Issue(line_no, f"the line is longer than {MAX_LINE_BYTES // 1024 // 1024} MiB")
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield line_no, Issue(line_no, f"not UTF-8 (byte {error.start} of the line)")
                continue
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                truncated = error.pos >= len(text.rstrip()) - 1 or error.msg.startswith("Unterminated")
                cut = " (the line looks cut off)" if truncated else ""
                yield line_no, Issue(line_no, f"not valid JSON: {error.msg} (column {error.colno}){cut}")
                continue
            yield line_no, record if isinstance(record, dict) else Issue(line_no, "a line must hold a JSON object")


def _read_json(path: Path) -> Iterator[tuple[int, dict[str, Any] | Issue]]:
    if path.stat().st_size > MAX_JSON_ARRAY_BYTES:
        raise _UnreadableError(f"a JSON file over {MAX_JSON_ARRAY_BYTES // 1024 // 1024} MiB; save it as JSONL")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise _UnreadableError(f"the file is not UTF-8 (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise _UnreadableError(f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise _UnreadableError("a JSON dataset must be an array of objects")
    for number, record in enumerate(data, start=1):
        yield number, record if isinstance(record, dict) else Issue(number, "each item must be a JSON object")


def _csv_value(value: str | None) -> Any:
    """Lists (messages) may sit in a CSV cell as JSON."""
    if value and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, Any] | Issue]]:
    csv.field_size_limit(MAX_LINE_BYTES)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            for row in reader:
                if None in row:
                    yield reader.line_num, Issue(reader.line_num, "more cells than header columns")
                    continue
                yield reader.line_num, {k: _csv_value(v) for k, v in row.items()}
        except UnicodeDecodeError:
            raise _UnreadableError(f"the file is not UTF-8 (near line {reader.line_num + 1})") from None
        except csv.Error as error:
            yield reader.line_num, Issue(reader.line_num, f"not valid CSV: {error}")


def _read_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any] | Issue]]:
    import pyarrow.parquet as pq  # pyarrow is large: loaded only for Parquet files
    from pyarrow import ArrowException

    try:
        parquet = pq.ParquetFile(path)
        number = 0
        for batch in parquet.iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                number += 1
                yield number, record
    except ArrowException as error:
        raise _UnreadableError(f"not a readable Parquet file: {error}") from None


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet}


# checking records --------------------------------------------------------------------------


def detect_shape(record: dict[str, Any]) -> Shape | None:
    keys = set(record)
    if {"prompt", "chosen", "rejected"} <= keys:
        return Shape.PREFERENCE
    if "messages" in keys or "conversations" in keys:
        return Shape.SHAREGPT
    if {"instruction", "output"} <= keys:
        return Shape.ALPACA
    if "text" in keys:
        return Shape.TEXT
    return None


def _messages(record: dict[str, Any]) -> list[dict[str, Any]] | None:
    turns = record.get("messages", record.get("conversations"))
    if not isinstance(turns, list):
        return None
    return [
        {"role": t.get("role", t.get("from")), "content": t.get("content", t.get("value"))}
        if isinstance(t, dict)
        else {}
        for t in turns
    ]


def _check(shape: Shape, record: dict[str, Any], empty: Counter[str]) -> tuple[list[str], str]:
    """Problems with one record, and the text whose tokens count toward its length."""
    problems: list[str] = []
    if shape is Shape.SHAREGPT:
        turns = _messages(record)
        if turns is None:
            return ["'messages' must be a list of {role, content}"], ""
        for index, turn in enumerate(turns):
            if turn.get("role") not in _ROLES:
                problems.append(f"message {index + 1} has an unknown role {turn.get('role')!r}")
            if not isinstance(turn.get("content"), str):
                problems.append(f"message {index + 1} has no text content")
            elif not turn["content"].strip():
                empty["messages.content"] += 1
        roles = {turn.get("role") for turn in turns}
        if not roles & {"assistant", "gpt"} or not roles & {"user", "human"}:
            problems.append("a conversation needs at least one user and one assistant message")
        return problems, "\n".join(str(t.get("content") or "") for t in turns)
    required = SHAPE_FIELDS[shape]
    optional = ("input", "system") if shape is Shape.ALPACA else ()
    for name in (*required, *optional):
        value = record.get(name)
        if value is None and name in optional:
            continue
        if not isinstance(value, str):
            problems.append(f"'{name}' must be text" if value is not None else f"'{name}' is missing")
        elif not value.strip():
            empty[name] += 1
            if name in required:
                problems.append(f"'{name}' is empty")
    if shape is Shape.PREFERENCE and record.get("chosen") == record.get("rejected"):
        problems.append("'chosen' and 'rejected' are the same")
    text = "\n".join(str(record[name]) for name in (*optional, *required) if name != "rejected" and record.get(name))
    return problems, text


def _stats(lengths: list[int], cutoff: int) -> dict[str, float]:
    if not lengths:
        return {}
    ordered = sorted(lengths)

    def pct(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)])

    return {
        "min": float(ordered[0]),
        "mean": round(sum(ordered) / len(ordered), 1),
        "p50": pct(0.5),
        "p95": pct(0.95),
        "max": float(ordered[-1]),
        "cutoff": float(cutoff),
        "over_cutoff": float(sum(1 for n in ordered if n > cutoff)),
    }


def _preview_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 300:
        return value[:300] + "…"
    return value


def records(path: Path, file_type: str) -> Iterator[tuple[int, dict[str, Any] | Issue]]:
    """Every record of a file (or an Issue for one that cannot be read)."""
    return _READERS[file_type](path)


def validate(
    path: Path,
    file_type: str,
    *,
    count_tokens: TokenCounter = approximate_tokens,
    tokenizer_name: str = "approximate",
    cutoff: int = 2048,
) -> ValidationReport:
    report = ValidationReport(file_type=file_type, tokenizer=tokenizer_name)
    if file_type not in _READERS:
        report.fatal = f"unsupported file type '{file_type}'; use one of {', '.join(FILE_TYPES)}"
        return report
    shape: Shape | None = None
    seen: set[bytes] = set()
    lengths: list[int] = []
    summary = phi.PhiSummary()
    try:
        for line, item in records(path, file_type):
            if isinstance(item, Issue):
                report.rows += 1
                report.add(item.line, item.message)
                continue
            if shape is None:
                shape = detect_shape(item)
                if shape is None:
                    report.fatal = (
                        f"line {line}: fields {sorted(item)[:8]} match no known shape; expected "
                        "instruction/output, messages, prompt/chosen/rejected or text"
                    )
                    return report
                report.shape = shape.value
            report.rows += 1
            problems, text = _check(shape, item, report.empty_fields)
            for problem in problems:
                report.add(line, problem)
            digest = hashlib.blake2b(json.dumps(item, sort_keys=True, default=str).encode(), digest_size=16).digest()
            if digest in seen:
                report.duplicates += 1
            seen.add(digest)
            lengths.append(count_tokens(text))
            phi.scan_row(summary, text)
            if len(report.preview) < PREVIEW_ROWS:
                report.preview.append({k: _preview_value(v) for k, v in item.items()})
    except _UnreadableError as error:
        report.fatal = str(error)
        return report
    if report.rows == 0:
        report.fatal = "the file has no records"
    report.token_stats = _stats(lengths, cutoff)
    report.phi = summary.as_dict()
    return report


def mask_record(value: Any) -> Any:
    """The record with PHI masked in every text value, however deeply nested."""
    if isinstance(value, str):
        return phi.mask(value)
    if isinstance(value, list):
        return [mask_record(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_record(v) for k, v in value.items()}
    return value
