"""One training job, live: status and why, progress and ETA, the loss curve with EMA smoothing,
the learning-rate schedule, attempts and checkpoints, events, the log tail, the trained model;
cancel and retry."""

import reflex as rx

from components.charts import chart
from components.display import fact
from components.i18n import t
from components.jobs import progress_bar, status_badge
from components.shell import page_shell
from state.training_job import JobState

_EVENT_ICON = {
    "queued": "hourglass",
    "started": "play",
    "checkpoint": "save",
    "retry": "rotate-ccw",
    "preempted": "circle-pause",
    "succeeded": "circle-check",
    "failed": "circle-x",
    "cancelled": "ban",
}


def _heading() -> rx.Component:
    job = JobState.job
    return rx.vstack(
        rx.hstack(
            rx.link(rx.hstack(rx.icon("arrow-left", size=14), t("job.back"), align="center"), href="/training"),
            width="100%",
        ),
        rx.hstack(
            rx.heading(job["name"], size="5", id="job-title"),
            rx.badge(job["type"], variant="outline"),
            status_badge(job["status"], "job-status"),
            rx.cond(
                JobState.following,
                rx.badge(
                    rx.icon("radio", size=12), t("training.live"), color_scheme="green", variant="soft", id="job-live"
                ),
            ),
            rx.spacer(),
            rx.cond(
                JobState.active,
                rx.button(
                    rx.icon("square-x", size=14),
                    t("job.cancel"),
                    on_click=JobState.cancel,
                    color_scheme="red",
                    variant="soft",
                    id="job-cancel",
                ),
            ),
            rx.cond(
                (job["status"] == "failed") | (job["status"] == "cancelled"),
                rx.button(
                    rx.icon("rotate-ccw", size=14),
                    t("job.retry"),
                    on_click=JobState.retry,
                    variant="soft",
                    id="job-retry",
                ),
            ),
            align="center",
            spacing="3",
            width="100%",
        ),
        rx.hstack(
            rx.cond(
                job["position"] != "",
                rx.badge(t("training.position"), " ", job["position"], color_scheme="amber", id="job-position"),
            ),
            rx.text(job["reason"], size="2", color=rx.color("gray", 11), id="job-reason"),
            align="center",
            spacing="2",
        ),
        spacing="2",
        width="100%",
    )


def _progress() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(t("job.progress"), weight="medium", size="2"),
                rx.spacer(),
                rx.text(
                    JobState.step,
                    "/",
                    JobState.total_steps,
                    " · ",
                    JobState.progress,
                    "%",
                    size="2",
                    id="job-progress-text",
                ),
                rx.cond(JobState.eta != "", rx.text(t("job.eta"), " ", JobState.eta, size="2", id="job-eta")),
                rx.cond(
                    JobState.tokens_per_s != "",
                    rx.text(JobState.tokens_per_s, " ", t("job.tokens_per_s"), size="2", color=rx.color("gray", 11)),
                ),
                spacing="4",
                width="100%",
            ),
            progress_bar(JobState.progress, bar_id="job-progress"),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_progress=JobState.progress,
        id="job-progress-card",
    )


def _charts() -> rx.Component:
    return rx.grid(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading(t("job.loss_curve"), size="3"),
                    rx.spacer(),
                    rx.text(t("job.smoothing"), " ", JobState.smoothing, size="1", id="smoothing-value"),
                    rx.slider(
                        value=[JobState.smoothing],
                        min=0,
                        max=0.99,
                        step=0.01,
                        on_change=JobState.set_smoothing.throttle(150),
                        width="140px",
                        id="smoothing",
                        aria_label=t("job.smoothing"),
                    ),
                    align="center",
                    spacing="3",
                    width="100%",
                ),
                rx.cond(
                    JobState.has_loss_chart,
                    chart(JobState.loss_chart, "loss-chart", "chart.loss"),
                    rx.center(
                        rx.text(t("job.no_points"), size="2", color=rx.color("gray", 10)), height="200px", width="100%"
                    ),
                ),
                width="100%",
            ),
            data_points=JobState.points,
            id="loss-card",
        ),
        rx.card(
            rx.vstack(
                rx.heading(t("job.lr_curve"), size="3"),
                rx.cond(
                    JobState.has_lr_chart,
                    chart(JobState.lr_chart, "lr-chart", "chart.learning_rate"),
                    rx.center(
                        rx.text(t("job.no_points"), size="2", color=rx.color("gray", 10)), height="200px", width="100%"
                    ),
                ),
                width="100%",
            ),
        ),
        columns=rx.breakpoints(initial="1", lg="2"),
        spacing="4",
        width="100%",
    )


def _facts() -> rx.Component:
    job = JobState.job
    return rx.card(
        rx.vstack(
            rx.heading(t("job.details"), size="3"),
            rx.data_list.root(
                fact(
                    "training.attempts",
                    rx.fragment(job["attempts"], " · ", t("job.retries_allowed"), " ", job["max_retries"]),
                    "job-attempts",
                ),
                fact("job.last_checkpoint", job["checkpoint"], "job-checkpoint"),
                fact("job.node", job["node"]),
                fact("training.preset", job["preset"]),
                fact("training.resources", job["resources"]),
                fact("res.priority", job["priority"]),
                fact("training.created_by", job["created_by"]),
                fact("training.created", job["created"]),
                fact("job.started", job["started"]),
                fact("job.finished", job["finished"]),
                size="2",
            ),
            rx.cond(
                JobState.result.contains("id"),
                rx.callout(
                    rx.text(
                        t("job.result_model"),
                        " ",
                        rx.link(
                            JobState.result["label"],
                            href="/assets/models/" + JobState.result["model_id"],
                            weight="bold",
                        ),
                        " · ",
                        rx.code(JobState.result["id"], size="1"),
                    ),
                    icon="package-check",
                    color_scheme="green",
                    id="job-result",
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
        ),
    )


def _event_row(event: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.match(
            event["kind"],
            *[(kind, rx.icon(icon, size=14)) for kind, icon in _EVENT_ICON.items()],
            rx.icon("circle-dot", size=14),
        ),
        rx.text(event["at"], size="1", color=rx.color("gray", 10), white_space="nowrap"),
        rx.badge(event["kind"], variant="soft", size="1"),
        rx.text(event["message"], size="1"),
        align="center",
        spacing="2",
        data_kind=event["kind"],
    )


def _timeline() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(t("job.events"), size="3"),
            rx.vstack(rx.foreach(JobState.events, _event_row), spacing="2", id="job-events"),
            spacing="3",
            width="100%",
        ),
    )


def _log() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(t("job.log"), size="3"),
            rx.box(
                rx.el.pre(
                    rx.cond(JobState.log_tail != "", JobState.log_tail, t("job.no_log")),
                    style={"white_space": "pre-wrap", "word_break": "break-all", "font_size": "12px", "margin": "0"},
                ),
                max_height="320px",
                overflow_y="auto",
                display="flex",
                flex_direction="column-reverse",  # a tail: the newest line is in view
                width="100%",
                padding="8px",
                background=rx.color("gray", 2),
                border_radius="6px",
                font_family="var(--code-font-family)",
                id="job-log",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _hyperparameter(item: rx.Var) -> rx.Component:
    return rx.badge(item["key"], " = ", item["value"], variant="surface", color_scheme="gray")


def _detail() -> rx.Component:
    return rx.vstack(
        _heading(),
        _progress(),
        _charts(),
        rx.grid(_facts(), _timeline(), columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%"),
        rx.card(
            rx.vstack(
                rx.heading(t("training.hyperparameters"), size="3"),
                rx.flex(rx.foreach(JobState.hyperparameters, _hyperparameter), wrap="wrap", gap="2"),
                spacing="3",
            ),
            width="100%",
        ),
        _log(),
        spacing="4",
        width="100%",
        on_unmount=JobState.stop_following,
    )


def training_job() -> rx.Component:
    return page_shell(
        "job.title",
        rx.cond(
            JobState.job.contains("id"),
            _detail(),
            rx.cond(
                JobState.missing,
                rx.callout(t("job.missing"), icon="search-x", color_scheme="amber", width="100%", id="job-missing"),
                rx.center(rx.spinner(size="3"), height="200px", width="100%"),
            ),
        ),
    )
