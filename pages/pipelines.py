"""Pipelines (Orchestration area): build a DAG of steps (data check → train → evaluate → register →
deploy) in a form, see it drawn, save it, run it, follow each step live and rerun from the failed one."""

import plotly.graph_objects as go
import reflex as rx

from components.badges import status_badge
from components.display import when
from components.forms import section
from components.i18n import t
from components.navigation import area_tabs
from components.shell import page_shell
from state.auth import AuthState
from state.pipelines import KINDS, STEP_PRESETS, PipelinesState, RunStep, StepView

TYPES = ("sft", "dpo", "grpo", "reward")
ENGINES = ("local", "vllm")
STATUS_SCHEME = {"pending": "gray", "running": "blue", "succeeded": "green", "failed": "red", "skipped": "amber"}


def _label(key: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(t(key), size="1", weight="medium"), control, spacing="1", min_width="150px", flex="1")


def _text(view: StepView, key: str, label_key: str) -> rx.Component:
    return rx.cond(
        view.fields.contains(key),
        _label(
            label_key,
            rx.input(
                value=view.row[key],
                on_change=lambda v: PipelinesState.set_step(view.index, key, v),
                size="2",
                custom_attrs={"data-field": key},
            ),
        ),
    )


def _choice(view: StepView, key: str, label_key: str, options: rx.Var | list, labelled: bool = False) -> rx.Component:
    def item(option: rx.Var) -> rx.Component:
        return rx.select.item(option["label"], value=option["id"]) if labelled else rx.select.item(option, value=option)

    return rx.cond(
        view.fields.contains(key),
        _label(
            label_key,
            rx.select.root(
                rx.select.trigger(width="100%", custom_attrs={"data-field": key}),
                rx.select.content(rx.foreach(options, item)),
                value=view.row[key],
                on_change=lambda v: PipelinesState.set_step(view.index, key, v),
            ),
        ),
    )


def _chips(view: StepView, chips: rx.Var, key: str, label_key: str) -> rx.Component:
    return rx.vstack(
        rx.text(t(label_key), size="1", weight="medium"),
        rx.flex(
            rx.foreach(
                chips,
                lambda chip: rx.badge(
                    rx.cond(chip.on, rx.icon("check", size=12), rx.icon("plus", size=12)),
                    chip.label,
                    variant=rx.cond(chip.on, "solid", "outline"),
                    cursor="pointer",
                    on_click=PipelinesState.toggle(view.index, key, chip.value),
                    custom_attrs={"data-chip": chip.value, "data-on": chip.on},
                ),
            ),
            rx.cond(chips.length() == 0, rx.text("—", size="1", color=rx.color("gray", 9))),
            wrap="wrap",
            gap="2",
        ),
        spacing="1",
        width="100%",
    )


def _step(view: StepView) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.badge(view.index + 1, variant="surface"),
                rx.input(
                    value=view.row["name"],
                    on_change=lambda v: PipelinesState.set_step(view.index, "name", v),
                    size="2",
                    width="180px",
                    custom_attrs={"data-field": "name"},
                ),
                rx.select(
                    list(KINDS),
                    value=view.row["kind"],
                    on_change=lambda v: PipelinesState.set_step(view.index, "kind", v),
                    size="2",
                ),
                rx.spacer(),
                rx.icon_button(
                    rx.icon("trash-2", size=14),
                    on_click=PipelinesState.remove_step(view.index),
                    variant="ghost",
                    color_scheme="red",
                    aria_label=t("pipe.remove_step"),
                    title=t("pipe.remove_step"),
                ),
                width="100%",
                align="center",
            ),
            _chips(view, view.after, "depends_on", "pipe.after"),
            rx.flex(
                _choice(view, "type", "pipe.type", list(TYPES)),
                _choice(view, "base_model_version_id", "pipe.base_model", PipelinesState.models, labelled=True),
                _choice(view, "model_from", "pipe.model_from", view.train_steps),
                _choice(view, "preset", "pipe.preset", list(STEP_PRESETS)),
                _text(view, "hyperparameters", "pipe.hyperparameters"),
                _text(view, "shapes", "pipe.shapes"),
                _text(view, "service", "pipe.service"),
                _choice(view, "engine", "pipe.engine", list(ENGINES)),
                _text(view, "replicas", "pipe.replicas"),
                _text(view, "gpus", "res.gpus"),
                _text(view, "cpu", "res.cpu"),
                _text(view, "memory_gb", "res.memory_gb"),
                _choice(view, "queue", "pipe.queue", PipelinesState.queues),
                wrap="wrap",
                gap="3",
                width="100%",
            ),
            rx.cond(
                view.fields.contains("dataset_version_ids"),
                _chips(view, view.data, "dataset_version_ids", "pipe.datasets"),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        custom_attrs={"data-step": view.row["name"]},
    )


def _pipeline_list() -> rx.Component:
    return section(
        "pipe.saved",
        "pipe.saved_intro",
        rx.flex(
            rx.foreach(
                PipelinesState.pipelines,
                lambda p: rx.button(
                    rx.icon("workflow", size=14),
                    p["name"],
                    rx.badge(p["steps"], variant="surface"),
                    variant=rx.cond(PipelinesState.pipeline_id == p["id"], "solid", "soft"),
                    on_click=PipelinesState.open_pipeline(p["id"]),
                    custom_attrs={"data-pipeline": p["name"]},
                ),
            ),
            rx.button(rx.icon("plus", size=14), t("pipe.new"), variant="outline", on_click=PipelinesState.new_pipeline),
            wrap="wrap",
            gap="2",
        ),
    )


def _builder() -> rx.Component:
    return section(
        "pipe.builder",
        "pipe.builder_intro",
        rx.hstack(
            rx.input(
                placeholder=t("pipe.name"),
                value=PipelinesState.name,
                on_change=PipelinesState.set_name,
                id="pipeline-name",
                width="280px",
            ),
            rx.button(
                rx.icon("wand-sparkles", size=14),
                t("pipe.standard_flow"),
                variant="soft",
                on_click=PipelinesState.use_standard_flow,
                id="standard-flow",
            ),
            wrap="wrap",
            spacing="2",
            width="100%",
        ),
        rx.foreach(PipelinesState.step_views, _step),
        rx.hstack(
            rx.text(t("pipe.add_step"), size="2", weight="medium"),
            *[
                rx.button(
                    rx.icon("plus", size=12),
                    kind,
                    size="1",
                    variant="outline",
                    on_click=PipelinesState.add_step(kind),
                    custom_attrs={"data-add": kind},
                )
                for kind in KINDS
            ],
            wrap="wrap",
            align="center",
            spacing="2",
        ),
        rx.hstack(
            rx.spacer(),
            rx.button(rx.icon("save", size=14), t("pipe.save"), on_click=PipelinesState.save, id="save-pipeline"),
            rx.button(
                rx.icon("play", size=14),
                t("pipe.run"),
                on_click=PipelinesState.start_run,
                color_scheme="green",
                disabled=PipelinesState.pipeline_id == "",
                id="run-pipeline",
            ),
            width="100%",
        ),
    )


def _graph() -> rx.Component:
    return section(
        "pipe.graph",
        "pipe.graph_intro",
        rx.plotly(
            data=PipelinesState.dag.to(go.Figure),
            config={"displaylogo": False, "responsive": True, "staticPlot": False},
            width="100%",
            id="pipeline-graph",
        ),
    )


def _run_step(step: RunStep) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(step.name, weight="medium")),
        rx.table.cell(step.kind),
        rx.table.cell(status_badge(step.status, STATUS_SCHEME)),
        rx.table.cell(rx.text(step.reason, size="1")),
        rx.table.cell(
            rx.cond(
                step.job_id != "",
                rx.link(rx.code(step.job_id[:8], size="1"), href="/training/jobs/" + step.job_id),
                rx.cond(step.output != "", rx.code(step.output[:8], size="1"), rx.text("—", size="1")),
            )
        ),
        custom_attrs={"data-run-step": step.name, "data-status": step.status},
    )


def _runs() -> rx.Component:
    return section(
        "pipe.runs",
        "pipe.runs_intro",
        rx.cond(
            PipelinesState.runs.length() > 0,
            rx.vstack(
                rx.flex(
                    rx.foreach(
                        PipelinesState.runs,
                        lambda r: rx.button(
                            when(r["created"]),
                            status_badge(r["status"], STATUS_SCHEME),
                            rx.text("#" + r["attempt"], size="1"),
                            size="1",
                            variant=rx.cond(PipelinesState.run_id == r["id"], "solid", "soft"),
                            on_click=PipelinesState.show_run(r["id"]),
                            custom_attrs={"data-run": r["id"], "data-status": r["status"]},
                        ),
                    ),
                    wrap="wrap",
                    gap="2",
                ),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(t(k))
                                for k in ("pipe.step", "pipe.kind", "pipe.status", "pipe.reason", "pipe.job")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(PipelinesState.run_steps, _run_step)),
                    variant="surface",
                    width="100%",
                    id="run-steps",
                ),
                rx.hstack(
                    rx.cond(PipelinesState.following, rx.badge(rx.icon("radio", size=12), t("serving.live"))),
                    rx.spacer(),
                    rx.button(
                        rx.icon("rotate-ccw", size=14),
                        t("pipe.rerun"),
                        variant="soft",
                        on_click=PipelinesState.rerun(PipelinesState.run_id),
                        disabled=~PipelinesState.run_failed,
                        id="rerun-pipeline",
                    ),
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            rx.text(t("pipe.no_runs"), size="2", color=rx.color("gray", 10)),
        ),
    )


def pipelines_page() -> rx.Component:
    return page_shell(
        "orch.title",
        rx.vstack(
            area_tabs("/orchestration/pipelines"),
            rx.cond(
                AuthState.tenant_id == "",
                rx.callout(t("training.pick_tenant"), icon="info", width="100%"),
                rx.cond(
                    PipelinesState.allowed,
                    rx.vstack(
                        _pipeline_list(),
                        rx.cond(PipelinesState.may_edit, _builder()),
                        _graph(),
                        _runs(),
                        spacing="5",
                        width="100%",
                    ),
                    rx.callout(t("orch.not_allowed"), icon="lock", color_scheme="amber", width="100%"),
                ),
            ),
            spacing="5",
            width="100%",
        ),
    )
