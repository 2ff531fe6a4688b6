"""How asset records are shaped for the Assets pages: sizes, a dataset's validation report as
typed rows, and lineage edges; and the report constants the pages need. Pure functions: no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from backend.services.assets import dataset_formats, lineage, phi

TOKEN_STATS = ("min", "mean", "p50", "p95", "max", "cutoff", "over_cutoff")
PREVIEW_COLUMNS = 8
PREVIEW_CELL = 160
# for the report component, which imports no backend
MAX_ISSUES_LISTED = dataset_formats.MAX_ISSUES_LISTED
SHAPES = tuple(s.value for s in dataset_formats.Shape)
PHI_KINDS = sorted({kind.name for kind in phi.KINDS})


def size_label(size: int) -> str:
    """Bytes as people read them (1024-based)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def short_id(identifier: str) -> str:
    return identifier[:8]


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= PREVIEW_CELL else text[:PREVIEW_CELL] + "…"


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


@dataclass
class ReportView:
    """A dataset validation report (dataset_formats.ValidationReport.as_dict()) as the page shows it."""

    present: bool = False
    ok: bool = False
    summary: str = ""
    file_type: str = ""
    shape: str = ""
    rows: int = 0
    issue_count: int = 0
    fatal: str = ""
    duplicates: int = 0
    tokenizer: str = ""
    phi_rows: int = 0
    issues: list[dict[str, str]] = field(default_factory=list)
    empty_fields: list[dict[str, str]] = field(default_factory=list)
    token_stats: list[dict[str, str]] = field(default_factory=list)
    phi: list[dict[str, str]] = field(default_factory=list)
    preview_columns: list[str] = field(default_factory=list)
    preview_rows: list[list[str]] = field(default_factory=list)


def report_view(report: dict[str, Any], summary: str = "") -> ReportView:
    stats = report.get("token_stats") or {}
    phi = report.get("phi") or {}
    examples = phi.get("examples") or {}
    preview = report.get("preview") or []
    columns: list[str] = []
    for row in preview:
        columns += [key for key in row if key not in columns]
    columns = columns[:PREVIEW_COLUMNS]
    return ReportView(
        present=True,
        ok=bool(report.get("ok")),
        summary=summary,
        file_type=str(report.get("file_type", "")),
        shape=str(report.get("shape", "")),
        rows=int(report.get("rows", 0)),
        issue_count=int(report.get("issue_count", 0)),
        fatal=str(report.get("fatal", "")),
        duplicates=int(report.get("duplicates", 0)),
        tokenizer=str(report.get("tokenizer", "")),
        phi_rows=int(phi.get("rows_with_phi", 0)),
        issues=[{"line": str(i["line"]), "message": str(i["message"])} for i in report.get("issues", [])],
        empty_fields=[{"field": k, "count": str(v)} for k, v in (report.get("empty_fields") or {}).items()],
        token_stats=[{"stat": k, "value": _number(stats[k])} for k in TOKEN_STATS if k in stats],
        phi=[
            {"kind": kind, "count": str(count), "example": str(examples.get(kind, ""))}
            for kind, count in sorted((phi.get("counts") or {}).items())
        ],
        preview_columns=columns,
        preview_rows=[[_cell(row.get(c, "")) for c in columns] for row in preview],
    )


def pretty_json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) if value else ""


def edge_rows(edges: list[lineage.Edge], labels: dict[tuple[str, str], str]) -> list[dict[str, str]]:
    """Lineage edges with a readable label for each end (``labels``: (type, id) → name)."""

    def label(node: lineage.Node) -> str:
        return labels.get((node.type, node.id), f"{node.type} {short_id(node.id)}")

    return [
        {
            "source_type": e.source.type,
            "source_id": e.source.id,
            "source": label(e.source),
            "target_type": e.target.type,
            "target_id": e.target.id,
            "target": label(e.target),
            "relation": e.relation,
        }
        for e in edges
    ]


def users_of(rows: list[dict[str, str]], node: lineage.Node) -> list[dict[str, str]]:
    """The things that use ``node`` directly: what a retire or delete would be refused for."""
    return [
        {"type": r["target_type"], "id": r["target_id"], "label": r["target"], "relation": r["relation"]}
        for r in rows
        if r["source_type"] == node.type and r["source_id"] == node.id
    ]
