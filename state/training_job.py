"""One training job, followed live: status and reason, progress and ETA, loss / eval-loss and
learning-rate curves (EMA smoothing chosen in the page), events, log tail and the trained
model; cancel and retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import reflex as rx

from backend.errors import MedAIError
from backend.services.training import jobs as training
from backend.services.training import views
from state import figures as charts
from state import live
from state.auth import AuthState, Work
from state.feedback import error_toast, success_toast
from state.format import when
from state.training import ROUTE

JOB_ROUTE = ROUTE + "/jobs/"
LOG_LINES = 80
CURVES = ("loss", "eval_loss", "learning_rate")


@dataclass
class JobView:
    job: dict[str, str]
    hyperparameters: list[dict[str, str]]
    events: list[dict[str, str]]
    curves: dict[str, charts.Curve]
    progress: dict[str, float]
    log: str
    active: bool
    result: dict[str, str] = field(default_factory=dict)


def job_view(detail: views.JobDetail) -> JobView:
    """What the job page shows of a job read in full."""
    job, series = detail.job, detail.series
    progress = {
        name: value
        for name in ("step", "total_steps", "eta_s", "epoch", "tokens_per_s")
        if (value := charts.latest(series, name)) is not None
    }
    result = detail.result
    return JobView(
        job={
            "id": job.id,
            "name": job.name,
            "type": job.type,
            "status": job.status,
            "reason": job.reason,
            "position": str(job.queue_position) if job.status == "queued" and job.queue_position else "",
            "attempts": str(job.attempts),
            "max_retries": str(job.max_retries),
            "checkpoint": str(job.last_checkpoint_step),
            "node": job.node,
            "preset": job.preset,
            "resources": f"{job.gpus} GPU{' ' + job.gpu_type if job.gpu_type else ''} · {job.cpu:g} CPU · "
            f"{job.memory_gb:g} GB",
            "priority": str(job.priority),
            "created_by": job.created_by,
            "created": when(job.created_at),
            "started": when(job.started_at),
            "finished": when(job.finished_at),
        },
        hyperparameters=[
            {"key": k, "value": str(v)} for k, v in sorted(job.hyperparameters.items()) if applies(k, job)
        ],
        events=[{"at": when(e.at), "kind": e.kind, "message": e.message} for e in detail.events],
        curves={name: charts.by_step(series, name) for name in CURVES},
        progress=progress,
        log=detail.log,
        active=job.status in training.ACTIVE,
        result={"id": result.id, "model_id": result.model_id, "label": result.label} if result else {},
    )


def read_job(job_id: str) -> Work[JobView]:
    """The work that reads one job in full for the signed-in person (run by ``AuthState._as_user``)."""
    return lambda rt, session, principal: job_view(
        views.job_detail(session, principal, rt.metrics, rt.compute, job_id, LOG_LINES)
    )


def applies(key: str, job: Any) -> bool:
    """Whether a hyper-parameter means anything for this job (LoRA's only with LoRA, DPO's only for DPO …)."""
    if key.startswith("lora_"):
        return job.hyperparameters.get("finetuning") == "lora"
    for prefix in ("dpo_", "grpo_"):
        if key.startswith(prefix):
            return job.type == prefix.rstrip("_")
    return True


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class JobState(AuthState):
    job: dict[str, str] = {}
    hyperparameters: list[dict[str, str]] = []
    events: list[dict[str, str]] = []
    log_tail: str = ""
    result: dict[str, str] = {}
    step: int = 0
    total_steps: int = 0
    eta: str = ""
    tokens_per_s: str = ""
    smoothing: float = 0.6
    loss_chart: dict[str, Any] = {}
    lr_chart: dict[str, Any] = {}
    points: int = 0  # loss points drawn, for people and tests
    following: bool = False
    missing: bool = False  # no such job in this tenant (or not allowed to see it)
    _curves: dict[str, Any] = {}
    _follow_round: int = 0

    @rx.var
    def progress(self) -> int:
        if self.job.get("status") == "succeeded":
            return 100
        return min(100, round(100 * self.step / self.total_steps)) if self.total_steps else 0

    @rx.var
    def has_loss_chart(self) -> bool:
        return bool(self.loss_chart)

    @rx.var
    def has_lr_chart(self) -> bool:
        return bool(self.lr_chart)

    @rx.var
    def active(self) -> bool:
        return self.job.get("status", "") in training.ACTIVE

    def _route_job(self) -> str:
        path = self.router.url.path.rstrip("/")
        return path.removeprefix(JOB_ROUTE) if path.startswith(JOB_ROUTE) else ""

    @rx.event
    async def load(self):  # noqa: ANN201 (Reflex event generator)
        self.job, self.events, self.log_tail, self.result = {}, [], "", {}
        self.loss_chart, self.lr_chart, self._curves, self.points = {}, {}, {}, 0
        self.step = self.total_steps = 0
        self.eta = self.tokens_per_s = ""
        self.missing = False
        job_id = self._route_job()
        if not self.signed_in or self.must_change_password or not self.tenant_id or not job_id:
            self.missing = bool(self.signed_in and not self.must_change_password)
            return
        try:
            view = await self._as_user(read_job(job_id))
        except MedAIError as error:
            self.missing = True
            yield error_toast(error)
            return
        self._show(view)
        if self.active:
            yield JobState.follow

    def _show(self, view: JobView) -> None:
        self.job, self.hyperparameters, self.events = view.job, view.hyperparameters, view.events
        self.log_tail, self.result = view.log, view.result
        self.step = int(view.progress.get("step", 0))
        self.total_steps = int(view.progress.get("total_steps", 0))
        self.eta = _eta(view.progress.get("eta_s")) if view.active else ""
        speed = view.progress.get("tokens_per_s")
        self.tokens_per_s = f"{speed:,.0f}" if speed is not None else ""
        self._curves = {name: [list(xs), list(ys)] for name, (xs, ys) in view.curves.items()}
        self._draw()

    def _curve(self, name: str) -> charts.Curve:
        steps, values = self._curves.get(name, [[], []])
        return list(steps), list(values)

    def _draw(self) -> None:
        loss, evaluation, rate = self._curve("loss"), self._curve("eval_loss"), self._curve("learning_rate")
        traces = []
        if self.smoothing > 0 and loss[0]:
            traces.append(charts.trace("loss", loss, charts.PALETTE[0], faint=True))
            smoothed = (loss[0], charts.ema(loss[1], self.smoothing))
            traces.append(charts.trace(f"loss (EMA {self.smoothing:.2f})", smoothed, charts.PALETTE[0], markers=False))
        elif loss[0]:
            traces.append(charts.trace("loss", loss, charts.PALETTE[0]))
        if evaluation[0]:
            traces.append(charts.trace("eval loss", evaluation, charts.PALETTE[1]))
        self.loss_chart = charts.figure(traces) if traces else {}
        self.lr_chart = charts.figure([charts.trace("learning rate", rate, charts.PALETTE[2])]) if rate[0] else {}
        self.points = len(loss[0])

    @rx.event
    def set_smoothing(self, value: list[float] | float) -> None:
        chosen = value[0] if isinstance(value, list) else value
        self.smoothing = min(max(float(chosen), 0.0), 0.99)
        self._draw()

    @rx.event(background=True)
    async def follow(self) -> None:
        """Refresh every live.POLL_S seconds while the job is queued or running and its page is open."""
        job_id = self.job.get("id", "")
        await live.follow(
            self,
            lambda: self._as_user(read_job(job_id)),
            self._show,
            lambda: self._route_job() == job_id and self.active,
            flag="following",
        )

    @rx.event
    def stop_following(self) -> None:
        """The page is left: the follow loop ends at its next turn, and the next job page starts blank."""
        self._follow_round += 1
        self.following, self.job = False, {}

    @rx.event
    async def cancel(self):  # noqa: ANN201 (Reflex event generator)
        job_id = self.job.get("id", "")
        await self._as_user(lambda rt, session, principal: training.cancel_job(session, rt.compute, principal, job_id))
        self._show(await self._as_user(read_job(job_id)))
        yield await success_toast(self, "job.cancelled")

    @rx.event
    async def retry(self):  # noqa: ANN201 (Reflex event generator)
        job_id = self.job.get("id", "")
        await self._as_user(lambda _rt, session, principal: training.retry_job(session, principal, job_id))
        self._show(await self._as_user(read_job(job_id)))
        yield await success_toast(self, "job.retried")
        yield JobState.follow
