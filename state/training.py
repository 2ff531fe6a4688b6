"""The R&D page: the new-job form (type, base model and dataset versions, a preset that fills
the hyper-parameters, resources and queue), the tenant's jobs followed live, and the loss
curves of several runs overlaid for comparison."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services.training import jobs as training
from backend.services.training import presets as training_presets
from backend.services.training import views
from backend.services.training.views import JobListing
from state import figures as charts
from state import live
from state.auth import AuthState
from state.feedback import error_toast, input_toast, success_toast
from state.format import when

ROUTE = "/training"
DEFAULT_PRESET = "lora-default"
TYPE_PRESETS = {"dpo": "dpo-default", "grpo": "grpo-default"}
RESOURCE_DEFAULTS = {
    "gpus": "0",
    "gpu_type": "",
    "cpu": "2",
    "memory_gb": "8",
    "priority": "0",
    "queue": training.DEFAULT_QUEUE,
    "max_retries": "2",
}
_INTEGER_RESOURCES = ("gpus", "priority", "max_retries")
STARTER_SCRIPT = """# A custom job: any Python, run with the job's resources.
# MEDAI_BASE_MODEL_DIR: the base model's files; MEDAI_TRAIN_FILES: the datasets (a JSON list of paths);
# MEDAI_HYPERPARAMETERS: the form's values (JSON). Save a model into MEDAI_OUTPUT_DIR to register it.
import json, os

files = json.loads(os.environ["MEDAI_TRAIN_FILES"])
rows = sum(1 for path in files for _ in open(path, encoding="utf-8"))
print("MEDAI_METRIC " + json.dumps({"step": 1, "rows": rows}))  # a point on the job's charts
"""
_FLOAT_RESOURCES = ("cpu", "memory_gb")
# what the pages offer, re-exported so that pages need not import the backend
JOB_TYPES = training_presets.JOB_TYPES
AVAILABLE_TYPES = training.AVAILABLE_TYPES
PRESETS = training_presets.PRESETS
DEFAULT_QUEUE = training.DEFAULT_QUEUE
ACTIVE = training.ACTIVE
Choices = views.Choices  # the new-job form's choices, also the pipeline builder's


def preset_values(preset: str) -> dict[str, str]:
    """The hyper-parameters a preset gives, as the form's text."""
    return {
        key: f"{value:g}" if isinstance(value, float) else str(value)
        for key, value in training_presets.resolve(preset, {}).items()
    }


def _number(key: str, text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise MedAIError(
            ErrorCode.DATA_INVALID, f"{key} must be a number, not '{text}'.", f"Type a number for {key}."
        ) from None


def typed_hyperparameters(values: dict[str, str]) -> dict[str, Any]:
    """The form's text as the types the training service checks (numbers stay numbers)."""
    typed: dict[str, Any] = {}
    for key, text in values.items():
        default = training_presets.DEFAULTS.get(key)
        if isinstance(default, int | float) and not isinstance(default, bool):
            number = _number(key, text)
            typed[key] = int(number) if isinstance(default, int) and number.is_integer() else number
        else:
            typed[key] = text.strip()
    return typed


def job_request(
    name: str,
    job_type: str,
    base: str,
    train: list[str],
    evaluate: list[str],
    preset: str,
    hp: dict[str, str],
    resources: dict[str, str],
    script: str = "",
) -> training.JobRequest:
    numbers = {key: _number(key, resources.get(key, "0")) for key in (*_INTEGER_RESOURCES, *_FLOAT_RESOURCES)}
    return training.JobRequest(
        name=name,
        type=job_type,
        base_model_version_id=base,
        dataset_version_ids=tuple(train),
        eval_dataset_version_ids=tuple(evaluate),
        preset=preset,
        hyperparameters=typed_hyperparameters(hp),
        gpus=int(numbers["gpus"]),
        gpu_type=resources.get("gpu_type", "").strip(),
        cpu=numbers["cpu"],
        memory_gb=numbers["memory_gb"],
        priority=int(numbers["priority"]),
        queue=resources.get("queue", training.DEFAULT_QUEUE) or training.DEFAULT_QUEUE,
        max_retries=int(numbers["max_retries"]),
        script=script if job_type == "custom" else "",
    )


# what the page shows ------------------------------------------------------------------------


def progress(status: str, step: float | None, total: float | None) -> tuple[int, str]:
    """Percent done and 'step/total' from a job's latest logged step and total."""
    if status == "succeeded":
        return 100, ""
    if status != "running" or not step or not total:
        return 0, ""
    return min(100, round(100 * step / total)), f"{step:.0f}/{total:.0f}"


@dataclass
class JobRow:
    id: str = ""
    name: str = ""
    type: str = ""
    status: str = ""
    reason: str = ""
    position: str = ""  # in its queue, while queued
    progress: int = 0  # percent
    steps: str = ""  # "step/total" while running
    attempts: str = ""
    created: str = ""
    created_by: str = ""


def job_row(listing: JobListing) -> JobRow:
    job = listing.job
    percent, steps = progress(job.status, listing.step, listing.total_steps)
    return JobRow(
        id=job.id,
        name=job.name,
        type=job.type,
        status=job.status,
        reason=job.reason,
        position=str(job.queue_position) if job.status == "queued" and job.queue_position else "",
        progress=percent,
        steps=steps,
        attempts=str(job.attempts),
        created=when(job.created_at),
        created_by=job.created_by,
    )


def compare_figure(curves: list[views.JobCurves]) -> dict[str, Any]:
    """Loss (and eval loss, dotted) of each job, one colour per job."""
    traces = []
    for index, job in enumerate(curves):
        color = charts.PALETTE[index % len(charts.PALETTE)]
        traces.append(charts.trace(f"{job.name} · loss", charts.by_step(job.series, "loss"), color))
        evaluation = charts.by_step(job.series, "eval_loss")
        if evaluation[0]:
            trace = charts.trace(f"{job.name} · eval loss", evaluation, color)
            trace["line"]["dash"] = "dot"
            traces.append(trace)
    return charts.figure(traces)


class TrainingState(AuthState):
    may_view: bool = True
    may_submit: bool = False
    # the form
    models: list[dict[str, str]] = []
    platform_models: list[str] = []
    dataset_versions: list[dict[str, str]] = []
    queues: list[str] = [training.DEFAULT_QUEUE]
    job_name: str = ""
    job_type: str = "sft"
    base_model: str = ""
    train_ids: list[str] = []
    eval_ids: list[str] = []
    preset: str = DEFAULT_PRESET
    hp: dict[str, str] = preset_values(DEFAULT_PRESET)
    resources: dict[str, str] = dict(RESOURCE_DEFAULTS)
    script: str = STARTER_SCRIPT
    submitting: bool = False
    # the jobs
    jobs: list[JobRow] = []
    compare_ids: list[str] = []
    compare_chart: dict[str, Any] = {}
    _follow_round: int = 0

    @rx.var
    def usable_datasets(self) -> list[dict[str, str]]:
        accepted = training_presets.SHAPES_FOR.get(self.job_type, ())
        return [d for d in self.dataset_versions if d["shape"] in accepted]

    @rx.var
    def accepted_shapes(self) -> str:
        return ", ".join(training_presets.SHAPES_FOR.get(self.job_type, ()))

    @rx.var
    def starter_names(self) -> str:
        """The platform's models, named where the form says they may be trained from."""
        return ", ".join(self.platform_models)

    @rx.var
    def comparing(self) -> bool:
        return bool(self.compare_chart)

    @rx.var
    def has_active_jobs(self) -> bool:
        return any(j.status in training.ACTIVE for j in self.jobs)

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        self.compare_chart = {}
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            self.jobs, self.models, self.dataset_versions = [], [], []
            return
        found = await self._as_user(lambda _rt, session, principal: views.job_choices(session, principal))
        self.may_view, self.may_submit = found.may_view, found.may_submit
        if not self.may_view:
            self.jobs = []
            return
        self.models, self.dataset_versions, self.queues = found.models, found.datasets, found.queues
        self.platform_models = found.platform_models
        if self.base_model not in {m["id"] for m in self.models}:
            self.base_model = self.models[0]["id"] if self.models else ""
        self._keep_usable_datasets()
        self.compare_ids = []
        await self._reload_jobs()
        yield TrainingState.follow_jobs

    async def _job_rows(self) -> list[JobRow]:
        listings = await self._as_user(
            lambda rt, session, principal: views.job_listings(session, principal, rt.metrics)
        )
        return [job_row(listing) for listing in listings]

    async def _reload_jobs(self) -> None:
        self.jobs = await self._job_rows()
        known = {j.id for j in self.jobs}
        self.compare_ids = [i for i in self.compare_ids if i in known]

    def _keep_usable_datasets(self) -> None:
        usable = {d["id"] for d in self.usable_datasets}
        self.train_ids = [i for i in self.train_ids if i in usable]
        self.eval_ids = [i for i in self.eval_ids if i in usable]

    # the form -------------------------------------------------------------------------------------

    @rx.event
    def set_job_name(self, name: str) -> None:
        self.job_name = name

    @rx.event
    def set_script(self, script: str) -> None:
        self.script = script

    @rx.event
    def set_job_type(self, job_type: str) -> None:
        if job_type not in training.AVAILABLE_TYPES:
            return
        self.job_type = job_type
        self._keep_usable_datasets()
        own = TYPE_PRESETS.get(job_type, DEFAULT_PRESET)
        if self.preset in (DEFAULT_PRESET, *TYPE_PRESETS.values()) and own in training_presets.PRESETS:
            self._apply_preset(own)  # a type's own preset replaces another type's, never the person's choice

    @rx.event
    def set_preset(self, preset: str) -> None:
        self._apply_preset(preset)

    def _apply_preset(self, preset: str) -> None:
        """The preset's values replace every hyper-parameter field."""
        if preset in training_presets.PRESETS:
            self.preset, self.hp = preset, preset_values(preset)

    @rx.event
    def set_hp(self, key: str, value: str) -> None:
        if key in training_presets.DEFAULTS:
            self.hp = {**self.hp, key: value}

    @rx.event
    def set_resource(self, key: str, value: str) -> None:
        if key in RESOURCE_DEFAULTS:
            self.resources = {**self.resources, key: value}

    @rx.event
    def set_base_model(self, version_id: str) -> None:
        self.base_model = version_id

    @rx.event
    def toggle_train(self, version_id: str, checked: bool) -> None:
        self.train_ids = toggled(self.train_ids, version_id, checked)

    @rx.event
    def toggle_eval(self, version_id: str, checked: bool) -> None:
        self.eval_ids = toggled(self.eval_ids, version_id, checked)

    @rx.event
    async def submit(self):  # noqa: ANN201 (Reflex event generator)
        if not self.job_name.strip() or not self.base_model or not self.train_ids:
            yield await input_toast(self, "training.form_incomplete")
            return
        self.submitting = True
        yield
        try:
            request = job_request(
                self.job_name,
                self.job_type,
                self.base_model,
                self.train_ids,
                self.eval_ids,
                self.preset,
                self.hp,
                self.resources,
                self.script,
            )
            await self._as_user(lambda _rt, session, principal: training.submit_job(session, principal, request))
            await self._reload_jobs()
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.submitting = False
            yield error_toast(error)
            return
        self.submitting, self.job_name = False, ""
        yield await success_toast(self, "training.submitted")
        yield TrainingState.follow_jobs

    # the jobs ---------------------------------------------------------------------------------------

    @rx.event
    def toggle_compare(self, job_id: str, checked: bool) -> None:
        self.compare_ids = toggled(self.compare_ids, job_id, checked)

    @rx.event
    async def compare(self):  # noqa: ANN201 (Reflex event generator)
        if len(self.compare_ids) < 2:
            yield await input_toast(self, "training.compare_pick_two")
            return
        chosen = list(self.compare_ids)
        curves = await self._as_user(
            lambda rt, session, principal: views.compare_curves(session, principal, rt.metrics, chosen)
        )
        self.compare_chart = compare_figure(curves)

    @rx.event
    def close_compare(self) -> None:
        self.compare_chart = {}

    @rx.event(background=True)
    async def follow_jobs(self) -> None:
        """Refresh the job list while jobs are queued or running and this page is open."""
        wanted = lambda: self.has_active_jobs and live.on_page(self, ROUTE)  # noqa: E731
        await live.follow(self, self._job_rows, self._set_jobs, wanted)

    def _set_jobs(self, rows: list[JobRow]) -> None:
        self.jobs = rows


def toggled(ids: list[str], item: str, checked: bool) -> list[str]:
    """``ids`` with ``item`` ticked or unticked, in the order ticked."""
    return [*ids, item] if checked and item not in ids else [i for i in ids if i != item or checked]
