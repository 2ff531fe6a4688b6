"""R&D: a new training job, as LLaMA-Factory users know the form (type, base model, datasets,
a preset that fills the hyper-parameters, resources and queue), the tenant's jobs with their
status, waiting reason and progress, and several runs' loss curves overlaid."""

import reflex as rx

from components.charts import chart
from components.forms import field, form_input, form_select, plain_options, section, select
from components.i18n import TEXT, t
from components.jobs import progress_bar, status_badge
from components.samples import sample_datasets
from components.shell import page_shell
from components.tables import data_table, empty_state
from state.training import AVAILABLE_TYPES, JOB_TYPES, PRESETS, TrainingState

SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup", "polynomial")
PRECISIONS = ("bf16", "fp16", "fp32")
DPO_LOSSES = ("sigmoid", "ipo", "hinge", "robust")


def _hp_input(key: str, label_key: str, hint_key: str = "") -> rx.Component:
    return form_input(TrainingState.hp, TrainingState.set_hp, key, label_key, "hp", hint_key)


def _hp_select(key: str, label_key: str, values: tuple[str, ...]) -> rx.Component:
    return form_select(TrainingState.hp, TrainingState.set_hp, key, label_key, "hp", plain_options(values))


def _resource_input(key: str, label_key: str, placeholder: str = "") -> rx.Component:
    form, setter = TrainingState.resources, TrainingState.set_resource
    return form_input(form, setter, key, label_key, "res", placeholder=placeholder)


# the form ---------------------------------------------------------------------------------------


def _label(prefix: str, name: str) -> rx.Var | str:
    """The translated name of a job type or preset; a newer one without a translation as it is."""
    return t(f"{prefix}.{name}") if f"{prefix}.{name}" in TEXT else name


def _type_item(job_type: str) -> rx.Component:
    if job_type in AVAILABLE_TYPES:
        return rx.select.item(_label("job_type", job_type), value=job_type)
    return rx.select.item(
        rx.fragment(_label("job_type", job_type), " · ", t("training.coming")), value=job_type, disabled=True
    )


def _starter_hint() -> rx.Component:
    """The platform's starter model is there to train from, before the tenant has a model of its own."""
    return rx.text(
        rx.code(TrainingState.starter_names, size="1"),
        " ",
        t("training.starter_available"),
        size="1",
        color=rx.color("gray", 11),
        id="research-starter-hint",
    )


def _basics() -> rx.Component:
    return rx.grid(
        field(
            "training.job_name",
            rx.input(
                value=TrainingState.job_name,
                on_change=TrainingState.set_job_name,
                id="job-name",
                placeholder="bp-advice-sft",
                max_length=128,
                width="100%",
            ),
            "job-name",
        ),
        field(
            "training.job_type",
            select(
                "job-type",
                [_type_item(k) for k in JOB_TYPES],
                TrainingState.job_type,
                TrainingState.set_job_type,
            ),
            "job-type",
        ),
        field(
            "training.base_model",
            rx.vstack(
                rx.cond(
                    TrainingState.models.length() > 0,
                    select(
                        "job-base-model",
                        [rx.foreach(TrainingState.models, lambda m: rx.select.item(m["label"], value=m["id"]))],
                        TrainingState.base_model,
                        TrainingState.set_base_model,
                    ),
                    rx.text(t("training.no_models"), size="2", color=rx.color("amber", 11), id="no-models"),
                ),
                rx.cond(TrainingState.platform_models.length() > 0, _starter_hint()),
                spacing="1",
                width="100%",
            ),
            "job-base-model",
        ),
        field(
            "training.preset",
            select(
                "job-preset",
                [rx.select.item(_label("preset", name), value=name) for name in PRESETS],
                TrainingState.preset,
                TrainingState.set_preset,
            ),
            "job-preset",
            "training.preset_hint",
        ),
        columns=rx.breakpoints(initial="1", md="2", lg="4"),
        spacing="4",
        width="100%",
    )


def _dataset_choice(dataset: rx.Var, chosen: rx.Var, on_toggle: rx.event.EventType) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.checkbox(
                checked=chosen.contains(dataset["id"]),
                on_change=lambda checked: on_toggle(dataset["id"], checked),
            ),
            rx.text(dataset["label"], weight="medium", size="2"),
            rx.badge(dataset["shape"], variant="soft"),
            rx.text(dataset["rows"], " ", t("training.rows"), size="1", color=rx.color("gray", 10)),
            spacing="2",
            align="center",
        ),
        data_dataset=dataset["label"],
        cursor="pointer",
    )


def _dataset_picker(label_key: str, picker_id: str, chosen: rx.Var, on_toggle: rx.event.EventType) -> rx.Component:
    return rx.vstack(
        rx.text(t(label_key), size="2", weight="medium"),
        rx.cond(
            TrainingState.usable_datasets.length() > 0,
            rx.vstack(
                rx.foreach(TrainingState.usable_datasets, lambda d: _dataset_choice(d, chosen, on_toggle)),
                spacing="2",
            ),
            rx.text(t("training.no_datasets"), size="2", color=rx.color("amber", 11)),
        ),
        spacing="2",
        flex="1",
        id=picker_id,
    )


def _data() -> rx.Component:
    return rx.vstack(
        rx.text(t("training.shapes_accepted"), " ", rx.code(TrainingState.accepted_shapes), size="2"),
        rx.hstack(
            _dataset_picker(
                "training.train_datasets", "train-datasets", TrainingState.train_ids, TrainingState.toggle_train
            ),
            _dataset_picker(
                "training.eval_datasets", "eval-datasets", TrainingState.eval_ids, TrainingState.toggle_eval
            ),
            spacing="6",
            width="100%",
            align="start",
        ),
        sample_datasets("cta-sample"),
        spacing="3",
        width="100%",
    )


def _grid(*children: rx.Component) -> rx.Component:
    return rx.grid(*children, columns=rx.breakpoints(initial="2", md="3", lg="5"), spacing="4", width="100%")


def _hyperparameters() -> rx.Component:
    lora = TrainingState.hp["finetuning"] == "lora"
    return rx.vstack(
        _grid(
            _hp_input("learning_rate", "hp.learning_rate"),
            _hp_input("num_train_epochs", "hp.num_train_epochs"),
            _hp_input("max_steps", "hp.max_steps", "hp.max_steps_hint"),
            _hp_input("cutoff_len", "hp.cutoff_len"),
            _hp_input("per_device_train_batch_size", "hp.batch_size"),
            _hp_input("gradient_accumulation_steps", "hp.gradient_accumulation"),
            _hp_select("lr_scheduler_type", "hp.scheduler", SCHEDULERS),
            _hp_input("warmup_ratio", "hp.warmup_ratio"),
            _hp_input("logging_steps", "hp.logging_steps"),
            _hp_input("save_steps", "hp.save_steps"),
            _hp_input("eval_steps", "hp.eval_steps"),
            _hp_input("save_total_limit", "hp.save_total_limit"),
            _hp_select("precision", "hp.precision", PRECISIONS),
            _hp_input("seed", "hp.seed"),
            field(
                "hp.finetuning",
                select(
                    "hp-finetuning",
                    [rx.select.item(t("hp.lora"), value="lora"), rx.select.item(t("hp.full"), value="full")],
                    TrainingState.hp["finetuning"],
                    lambda v: TrainingState.set_hp("finetuning", v),
                ),
                "hp-finetuning",
            ),
        ),
        rx.cond(
            lora,
            _grid(
                _hp_input("lora_rank", "hp.lora_rank"),
                _hp_input("lora_alpha", "hp.lora_alpha"),
                _hp_input("lora_dropout", "hp.lora_dropout"),
                _hp_input("lora_target", "hp.lora_target", "hp.lora_target_hint"),
            ),
        ),
        rx.cond(
            TrainingState.job_type == "dpo",
            _grid(_hp_input("dpo_beta", "hp.dpo_beta"), _hp_select("dpo_loss_type", "hp.dpo_loss_type", DPO_LOSSES)),
        ),
        rx.cond(
            TrainingState.job_type == "grpo",
            _grid(
                _hp_input("grpo_num_generations", "hp.grpo_num_generations", "hp.grpo_num_generations_hint"),
                _hp_input("grpo_max_completion_length", "hp.grpo_max_completion_length"),
            ),
        ),
        rx.cond(
            TrainingState.job_type == "batch_inference",
            _grid(_hp_input("max_new_tokens", "hp.max_new_tokens"), _hp_input("temperature", "hp.temperature")),
        ),
        spacing="4",
        width="100%",
    )


def _resources() -> rx.Component:
    return _grid(
        _resource_input("gpus", "res.gpus"),
        _resource_input("gpu_type", "res.gpu_type", "A100-80G"),
        _resource_input("cpu", "res.cpu"),
        _resource_input("memory_gb", "res.memory_gb"),
        _resource_input("priority", "res.priority"),
        field(
            "res.queue",
            select(
                "res-queue",
                [rx.foreach(TrainingState.queues, lambda q: rx.select.item(q, value=q))],
                TrainingState.resources["queue"],
                lambda v: TrainingState.set_resource("queue", v),
            ),
            "res-queue",
        ),
        _resource_input("max_retries", "res.max_retries"),
    )


def _subheading(key: str) -> rx.Component:
    return rx.heading(t(key), size="3", color=rx.color("gray", 12), padding_top="4px")


def new_job_form() -> rx.Component:
    return section(
        "training.new_job",
        "training.new_job_intro",
        _basics(),
        rx.divider(),
        _subheading("training.data"),
        _data(),
        rx.divider(),
        rx.cond(
            TrainingState.job_type == "custom",
            rx.fragment(
                _subheading("training.script"),
                rx.text(t("training.script_intro"), size="2", color=rx.color("gray", 11)),
                rx.text_area(
                    value=TrainingState.script,
                    on_change=TrainingState.set_script,
                    rows="12",
                    width="100%",
                    font_family="monospace",
                    id="job-script",
                ),
                rx.divider(),
            ),
        ),
        _subheading("training.hyperparameters"),
        _hyperparameters(),
        rx.divider(),
        _subheading("training.resources"),
        _resources(),
        rx.hstack(
            rx.button(
                rx.icon("rocket", size=14),
                t("training.submit"),
                on_click=TrainingState.submit,
                loading=TrainingState.submitting,
                id="job-submit",
                size="3",
            ),
            justify="end",
            width="100%",
        ),
        id="new-job",
    )


# the jobs ---------------------------------------------------------------------------------------


def _job_row(job: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.checkbox(
                checked=TrainingState.compare_ids.contains(job.id),
                on_change=lambda checked: TrainingState.toggle_compare(job.id, checked),
                aria_label=t("training.compare_pick"),
            )
        ),
        rx.table.cell(rx.link(job.name, href="/training/jobs/" + job.id, weight="medium")),
        rx.table.cell(rx.badge(job.type, variant="outline")),
        rx.table.cell(status_badge(job.status)),
        rx.table.cell(progress_bar(job.progress, job.steps), min_width="160px"),
        rx.table.cell(
            rx.vstack(
                rx.cond(job.position != "", rx.badge(t("training.position"), " ", job.position, color_scheme="amber")),
                rx.text(job.reason, size="1", color=rx.color("gray", 11)),
                spacing="1",
            ),
            max_width="360px",
        ),
        rx.table.cell(job.attempts),
        rx.table.cell(rx.text(job.created, size="1", white_space="nowrap")),
        rx.table.cell(rx.text(job.created_by, size="1")),
        data_name=job.name,
        data_status=job.status,
    )


def job_list() -> rx.Component:
    return section(
        "training.jobs",
        "training.jobs_intro",
        rx.hstack(
            rx.button(
                rx.icon("git-compare", size=14),
                t("training.compare"),
                " (",
                TrainingState.compare_ids.length(),
                ")",
                on_click=TrainingState.compare,
                disabled=TrainingState.compare_ids.length() < 2,
                variant="soft",
                id="compare-runs",
            ),
            rx.cond(
                TrainingState.has_active_jobs,
                rx.badge(rx.icon("radio", size=12), t("training.live"), color_scheme="green", variant="soft"),
            ),
            align="center",
            spacing="3",
        ),
        rx.cond(
            TrainingState.comparing,
            rx.card(
                rx.hstack(
                    rx.heading(t("training.compare_title"), size="3"),
                    rx.spacer(),
                    rx.icon_button(
                        rx.icon("x", size=14),
                        on_click=TrainingState.close_compare,
                        variant="ghost",
                        aria_label=t("common.cancel"),
                    ),
                    width="100%",
                ),
                chart(TrainingState.compare_chart, "compare-chart", "chart.loss"),
                width="100%",
            ),
        ),
        data_table(
            TrainingState.jobs,
            _job_row,
            [
                "",
                ("training.job_name", "name"),
                ("training.job_type", "type"),
                ("training.status", "status"),
                ("training.progress", "progress"),
                ("training.reason", "reason"),
                ("training.attempts", "attempts"),
                ("training.created", "created"),
                ("training.created_by", "created_by"),
            ],
            "job-list",
            empty=empty_state("training.no_jobs", "no-jobs"),
        ),
    )


def training() -> rx.Component:
    return page_shell(
        "training.title",
        rx.cond(
            TrainingState.tenant_id == "",
            rx.callout(t("training.pick_tenant"), icon="info", width="100%"),
            rx.cond(
                TrainingState.may_view,
                rx.vstack(rx.cond(TrainingState.may_submit, new_job_form()), job_list(), spacing="5", width="100%"),
                rx.callout(t("training.not_allowed"), icon="lock", color_scheme="amber", width="100%"),
            ),
        ),
    )
