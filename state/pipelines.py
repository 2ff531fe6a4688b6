"""The pipeline builder: a pipeline's steps as form rows (kind, dependencies, the settings its kind
needs), the DAG drawn from them and coloured by the selected run, the pipeline's runs followed live,
and a rerun from the failed step."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services import pipelines
from backend.services.training import jobs as training
from state import live
from state.auth import AuthState
from state.feedback import input_toast, success_toast
from state.format import when
from state.training import PRESETS, Choices

# what the builder offers, re-exported so that pages need not import the backend
KINDS = pipelines.KINDS
STEP_PRESETS = tuple(PRESETS)

ROUTE = "/orchestration/pipelines"
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "data_check": ("dataset_version_ids", "shapes"),
    "train": ("type", "base_model_version_id", "dataset_version_ids", "preset", "hyperparameters", "gpus", "cpu",
              "memory_gb", "queue"),
    "eval": ("model_from", "dataset_version_ids", "hyperparameters", "cpu", "memory_gb"),
    "register": ("model_from",),
    "deploy": ("model_from", "service", "engine", "replicas", "gpus", "cpu", "memory_gb"),
}  # fmt: skip
LISTS = ("dataset_version_ids", "shapes")
INTEGERS = ("gpus", "replicas")
FLOATS = ("cpu", "memory_gb")
EMPTY_STEP = {
    "name": "",
    "kind": "train",
    "depends_on": "",
    "type": "sft",
    "base_model_version_id": "",
    "dataset_version_ids": "",
    "shapes": "",
    "preset": "quick-check",
    "hyperparameters": "{}",
    "gpus": "0",
    "cpu": "2",
    "memory_gb": "8",
    "queue": training.DEFAULT_QUEUE,
    "model_from": "",
    "service": "",
    "engine": "local",
    "replicas": "1",
}
STATUS_COLOURS = {
    "pending": "#9ca3af",
    "running": "#3b82f6",
    "succeeded": "#16a34a",
    "failed": "#dc2626",
    "skipped": "#f59e0b",
}


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _typed(key: str, text: str) -> Any:
    if key in LISTS:
        return _split(text)
    if key == "hyperparameters":
        try:
            parsed = json.loads(text or "{}")
        except json.JSONDecodeError as error:
            raise MedAIError(
                ErrorCode.DATA_INVALID, f"Hyper-parameters are not JSON: {error.msg}.", 'Write e.g. {"max_steps": 20}.'
            ) from None
        if not isinstance(parsed, dict):
            raise MedAIError(
                ErrorCode.DATA_INVALID, "Hyper-parameters are a JSON object.", 'Write e.g. {"max_steps": 20}.'
            )
        return parsed
    if key in INTEGERS or key in FLOATS:
        try:
            number = float(text.strip() or "0")
        except ValueError:
            raise MedAIError(
                ErrorCode.DATA_INVALID, f"{key} must be a number, not '{text}'.", "Fix the field."
            ) from None
        return int(number) if key in INTEGERS else number
    return text.strip()


def steps_from_rows(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The form's rows as the steps the pipeline service checks: each kind keeps only its own settings."""
    steps = []
    for row in rows:
        kind = row.get("kind", "")
        config = {key: _typed(key, row.get(key, "")) for key in KIND_FIELDS.get(kind, ())}
        steps.append(
            {"name": row.get("name", "").strip(), "kind": kind, "depends_on": _split(row.get("depends_on", ""))}
            | {"config": {k: v for k, v in config.items() if v not in ("", [], {})}}
        )
    return steps


def rows_from_steps(steps: list[dict[str, Any]]) -> list[dict[str, str]]:
    """A saved pipeline's steps as form rows (the inverse of ``steps_from_rows``)."""
    rows = []
    for step in steps:
        row = dict(EMPTY_STEP, name=step["name"], kind=step["kind"], depends_on=",".join(step.get("depends_on", [])))
        for key, value in step.get("config", {}).items():
            if key in LISTS:
                row[key] = ",".join(str(v) for v in value)
            elif key == "hyperparameters":
                row[key] = json.dumps(value)
            elif key in EMPTY_STEP:
                row[key] = f"{value:g}" if isinstance(value, float) else str(value)
        rows.append(row)
    return rows


def standard_flow(choices: Choices) -> list[dict[str, str]]:
    """Data check → train → evaluate → register → deploy, filled with the first model and dataset."""
    model = choices.models[0]["id"] if choices.models else ""
    data = next((d["id"] for d in choices.datasets if d["shape"] in ("alpaca", "sharegpt")), "")
    return [
        dict(EMPTY_STEP, name="check", kind="data_check", dataset_version_ids=data, shapes="alpaca,sharegpt"),
        dict(EMPTY_STEP, name="train", depends_on="check", base_model_version_id=model, dataset_version_ids=data),
        dict(EMPTY_STEP, name="evaluate", kind="eval", model_from="train", dataset_version_ids=data),
        dict(EMPTY_STEP, name="register", kind="register", depends_on="evaluate", model_from="train"),
        dict(
            EMPTY_STEP, name="serve", kind="deploy", depends_on="register", model_from="train", service="pipeline-model"
        ),
    ]


def next_step(rows: list[dict[str, str]], kind: str) -> dict[str, str]:
    """A new step after the last one, named after its kind, reading the model of the last train step."""
    taken = {r["name"] for r in rows}
    name = next(n for n in (kind, *(f"{kind}-{i}" for i in range(2, len(rows) + 3))) if n not in taken)
    trains = [r["name"] for r in rows if r["kind"] == "train"]
    uses_model = kind in ("eval", "register", "deploy") and trains
    return dict(
        EMPTY_STEP,
        name=name,
        kind=kind,
        depends_on=rows[-1]["name"] if rows else "",
        model_from=trains[-1] if uses_model else "",
        service="pipeline-model" if kind == "deploy" else "",
    )


def _depth(rows: list[dict[str, str]]) -> dict[str, int]:
    """How many steps stand before each one (a model_from counts as a dependency); cycles stop at 0."""
    after = {r["name"]: {*_split(r.get("depends_on", "")), *_split(r.get("model_from", ""))} for r in rows}
    depth: dict[str, int] = {}

    def visit(name: str, seen: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        parents = [p for p in after.get(name, ()) if p in after and p not in seen]
        depth[name] = 1 + max((visit(p, seen | {name}) for p in parents), default=-1)
        return depth[name]

    for name in after:
        visit(name, frozenset())
    return depth


def dag_figure(rows: list[dict[str, str]], statuses: dict[str, str]) -> dict[str, Any]:
    """The steps as a left-to-right graph for Plotly: a node per step coloured by its status in the
    selected run, an arrow per dependency."""
    named = [r for r in rows if r.get("name", "").strip()]
    depth = _depth(named)
    columns: dict[int, list[str]] = {}
    for row in named:
        columns.setdefault(depth[row["name"]], []).append(row["name"])
    where = {
        name: (float(col), (len(names) - 1) / 2 - index)
        for col, names in columns.items()
        for index, name in enumerate(names)
    }
    arrows = []
    for row in named:
        for parent in {*_split(row.get("depends_on", "")), *_split(row.get("model_from", ""))}:
            if parent in where:
                (x0, y0), (x1, y1) = where[parent], where[row["name"]]
                arrows.append(
                    {"x": x1 - 0.12, "y": y1, "ax": x0 + 0.12, "ay": y0, "xref": "x", "yref": "y", "axref": "x",
                     "ayref": "y", "showarrow": True, "arrowhead": 3, "arrowwidth": 1.5, "arrowcolor": "#64748b",
                     "text": ""}
                )  # fmt: skip
    state = [statuses.get(r["name"], "pending") for r in named]
    nodes = {
        "type": "scatter",
        "mode": "markers+text",
        "x": [where[r["name"]][0] for r in named],
        "y": [where[r["name"]][1] for r in named],
        "text": [f"{r['name']}<br>{r['kind']} · {s}" for r, s in zip(named, state, strict=True)],
        "textposition": "bottom center",
        "marker": {"size": 26, "color": [STATUS_COLOURS.get(s, "#9ca3af") for s in state], "symbol": "square"},
        "hovertext": [f"{r['name']} ({r['kind']}): {s}" for r, s in zip(named, state, strict=True)],
        "hoverinfo": "text",
        "showlegend": False,
    }
    span = max(columns, default=0)
    layout = {
        "annotations": arrows,
        "xaxis": {"visible": False, "range": [-0.5, span + 0.5]},
        "yaxis": {"visible": False, "range": [-max(map(len, columns.values()), default=1) / 2 - 0.6, 1.2]},
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
        "height": 260,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
    }
    return {"data": [nodes], "layout": layout}


@dataclass
class Chip:
    value: str = ""
    label: str = ""
    on: bool = False


@dataclass
class StepView:
    index: int = 0
    row: dict[str, str] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)  # the settings its kind uses
    after: list[Chip] = field(default_factory=list)  # the other steps, chosen when it depends on them
    data: list[Chip] = field(default_factory=list)  # dataset versions, chosen when it reads them
    train_steps: list[str] = field(default_factory=list)  # what model_from may name


@dataclass
class RunStep:
    name: str = ""
    kind: str = ""
    status: str = ""
    reason: str = ""
    job_id: str = ""
    output: str = ""


@dataclass
class PipelinePage:
    allowed: bool = False
    may_edit: bool = False
    choices: Choices = field(default_factory=Choices)
    pipelines: list[dict[str, str]] = field(default_factory=list)
    runs: list[dict[str, str]] = field(default_factory=list)
    run_steps: dict[str, list[RunStep]] = field(default_factory=dict)


def pipeline_page(found: pipelines.PipelineOverview) -> PipelinePage:
    """The page's rows from what the pipeline overview read."""
    return PipelinePage(
        allowed=found.allowed,
        may_edit=found.may_edit,
        choices=found.choices,
        pipelines=[
            {"id": p.id, "name": p.name, "steps": str(p.steps), "created": when(p.created_at)} for p in found.pipelines
        ],
        runs=[
            {"id": run.id, "status": run.status, "attempt": str(run.attempt), "created": when(run.created_at)}
            for run in found.runs
        ],
        run_steps={
            run.id: [RunStep(s.name, s.kind, s.status, s.reason, s.job_id, s.output) for s in run.steps]
            for run in found.runs
        },
    )


class PipelinesState(AuthState):
    allowed: bool = True
    may_edit: bool = False
    pipelines: list[dict[str, str]] = []
    pipeline_id: str = ""
    name: str = ""
    rows: list[dict[str, str]] = []
    models: list[dict[str, str]] = []
    datasets: list[dict[str, str]] = []
    queues: list[str] = []
    runs: list[dict[str, str]] = []
    run_id: str = ""
    run_steps: list[RunStep] = []
    following: bool = False
    _choices: Choices = Choices()
    _all_run_steps: dict[str, list[RunStep]] = {}
    _follow_round: int = 0

    @rx.var
    def step_views(self) -> list[StepView]:
        names = [r["name"] for r in self.rows if r["name"].strip()]
        trains = [r["name"] for r in self.rows if r["kind"] == "train" and r["name"].strip()]
        views = []
        for index, row in enumerate(self.rows):
            after, data = set(_split(row["depends_on"])), set(_split(row["dataset_version_ids"]))
            views.append(
                StepView(
                    index=index,
                    row=row,
                    fields=list(KIND_FIELDS.get(row["kind"], ())),
                    after=[Chip(n, n, n in after) for n in names if n != row["name"]],
                    data=[Chip(d["id"], f"{d['label']} · {d['shape']}", d["id"] in data) for d in self.datasets],
                    train_steps=[n for n in trains if n != row["name"]],
                )
            )
        return views

    @rx.var
    def dag(self) -> dict[str, Any]:
        return dag_figure(self.rows, {s.name: s.status for s in self.run_steps})

    @rx.var
    def run_active(self) -> bool:
        return any(r["id"] == self.run_id and r["status"] == "running" for r in self.runs)

    @rx.var
    def run_failed(self) -> bool:
        return any(r["id"] == self.run_id and r["status"] == "failed" for r in self.runs)

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            return
        await self._reload()
        if any(r["status"] == "running" for r in self.runs):
            yield PipelinesState.follow

    async def _reload(self) -> None:
        pipeline_id = self.pipeline_id
        self._show(await self._read(pipeline_id))

    async def _read(self, pipeline_id: str) -> PipelinePage:
        return await self._as_user(
            lambda _rt, session, principal: pipeline_page(pipelines.pipeline_overview(session, principal, pipeline_id))
        )

    def _show(self, page: PipelinePage) -> None:
        self.allowed, self.may_edit, self.pipelines = page.allowed, page.may_edit, page.pipelines
        self._choices, self.models, self.datasets = page.choices, page.choices.models, page.choices.datasets
        self.queues = page.choices.queues
        self.runs, self._all_run_steps = page.runs, page.run_steps
        if self.run_id not in page.run_steps:
            self.run_id = page.runs[0]["id"] if page.runs else ""
        self.run_steps = page.run_steps.get(self.run_id, [])

    # the builder -------------------------------------------------------------------------------

    @rx.event
    def new_pipeline(self) -> None:
        self.pipeline_id, self.name, self.rows, self.runs, self.run_id, self.run_steps = "", "", [], [], "", []

    @rx.event
    def use_standard_flow(self) -> None:
        self.rows = standard_flow(self._choices)
        self.name = self.name or "train-evaluate-serve"

    @rx.event
    async def open_pipeline(self, pipeline_id: str):  # noqa: ANN201 (Reflex event generator)
        steps = await self._as_user(
            lambda _rt, session, principal: pipelines.pipeline_steps(session, principal, pipeline_id)
        )
        self.pipeline_id, self.run_id = pipeline_id, ""
        self.name = next((p["name"] for p in self.pipelines if p["id"] == pipeline_id), "")
        self.rows = rows_from_steps(steps)
        await self._reload()
        if self.run_active:
            yield PipelinesState.follow

    @rx.event
    def set_name(self, name: str) -> None:
        self.name = name

    @rx.event
    def add_step(self, kind: str) -> None:
        if kind in KIND_FIELDS:
            self.rows = [*self.rows, next_step(self.rows, kind)]

    @rx.event
    def remove_step(self, index: int) -> None:
        gone = self.rows[index]["name"] if 0 <= index < len(self.rows) else ""
        rows = [dict(r) for i, r in enumerate(self.rows) if i != index]
        for row in rows:  # nothing keeps depending on a step that is gone
            row["depends_on"] = ",".join(n for n in _split(row["depends_on"]) if n != gone)
            row["model_from"] = "" if row["model_from"] == gone else row["model_from"]
        self.rows = rows

    @rx.event
    def set_step(self, index: int, key: str, value: str) -> None:
        if not 0 <= index < len(self.rows) or key not in EMPTY_STEP:
            return
        rows = [dict(r) for r in self.rows]
        old = rows[index][key]
        rows[index][key] = value
        if key == "name" and old:  # a renamed step keeps its place in the graph
            for row in rows:
                row["depends_on"] = ",".join(value if n == old else n for n in _split(row["depends_on"]))
                row["model_from"] = value if row["model_from"] == old else row["model_from"]
        self.rows = rows

    @rx.event
    def toggle(self, index: int, key: str, value: str) -> None:
        """Add or remove ``value`` in a list setting (dependencies, dataset versions) of one step."""
        if not 0 <= index < len(self.rows) or key not in ("depends_on", *LISTS):
            return
        rows = [dict(r) for r in self.rows]
        items = _split(rows[index][key])
        rows[index][key] = ",".join([i for i in items if i != value] if value in items else [*items, value])
        self.rows = rows

    @rx.event
    async def save(self):  # noqa: ANN201 (Reflex event generator)
        if not self.name.strip() or not self.rows:
            yield await input_toast(self, "pipe.need_name_and_steps")
            return
        name, steps = self.name.strip(), steps_from_rows(self.rows)
        saved = await self._as_user(
            lambda _rt, session, principal: pipelines.save_pipeline(session, principal, name, steps)
        )
        self.pipeline_id = saved.id
        await self._reload()
        yield await success_toast(self, "pipe.saved_toast")

    # runs --------------------------------------------------------------------------------------

    @rx.event
    async def start_run(self):  # noqa: ANN201 (Reflex event generator)
        pipeline_id = self.pipeline_id
        if not pipeline_id:
            yield await input_toast(self, "pipe.save_first")
            return
        run = await self._as_user(lambda _rt, session, principal: pipelines.start_run(session, principal, pipeline_id))
        self.run_id = run.id
        await self._reload()
        yield await success_toast(self, "pipe.started")
        yield PipelinesState.follow

    @rx.event
    async def rerun(self, run_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(lambda _rt, session, principal: pipelines.rerun(session, principal, run_id))
        self.run_id = run_id
        await self._reload()
        yield PipelinesState.follow

    @rx.event
    def show_run(self, run_id: str) -> None:
        self.run_id = run_id
        self.run_steps = self._all_run_steps.get(run_id, [])

    @rx.event(background=True)
    async def follow(self):  # noqa: ANN201 (Reflex background event)
        """Refresh every POLL_S seconds while a run of this pipeline is running and the page is open."""
        async with self:
            pipeline_id = self.pipeline_id

        def wanted() -> bool:
            return self.pipeline_id == pipeline_id and any(r["status"] == "running" for r in self.runs)

        await live.follow(self, lambda: self._read(pipeline_id), self._show, wanted, flag="following")
