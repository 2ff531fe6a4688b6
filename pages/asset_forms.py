"""The two upload forms of the Assets page: import a dataset file (validated, with its report
shown here) and register a model version from files, one archive or a server folder."""

import reflex as rx

from components.dataset_report import dataset_report
from components.forms import code_area, field, select
from components.i18n import t
from state.asset_uploads import (
    DATASET_UPLOAD,
    DEFAULT_CUTOFF,
    MODEL_UPLOAD,
    NO_DATASET,
    DatasetUploadState,
    ModelRegisterState,
)
from state.assets import APPROXIMATE, FRAMEWORKS, AssetsState


def _dropzone(upload_id: str, multiple: bool, prompt_key: str, hint_key: str) -> rx.Component:
    return rx.vstack(
        rx.upload.root(
            rx.vstack(
                rx.icon("cloud-upload", size=28, color=rx.color("accent", 9)),
                rx.text(t(prompt_key), size="2", weight="medium"),
                rx.text(t(hint_key), size="1", color=rx.color("gray", 10)),
                align="center",
                spacing="1",
            ),
            id=upload_id,
            multiple=multiple,
            max_files=None if multiple else 1,
            border=f"1px dashed {rx.color('gray', 8)}",
            border_radius="8px",
            padding="20px",
            width="100%",
            cursor="pointer",
            background=rx.color("gray", 2),
        ),
        rx.flex(
            rx.foreach(
                rx.selected_files(upload_id),
                lambda name: rx.badge(rx.icon("file", size=12), name, variant="soft", color_scheme="gray"),
            ),
            wrap="wrap",
            spacing="2",
            id=f"{upload_id}-selected",
        ),
        spacing="2",
        width="100%",
        id=f"{upload_id}-zone",
    )


def _progress(busy: rx.Var, percent: rx.Var, progress_id: str) -> rx.Component:
    """Upload progress while the bytes travel, then "checking" while the server works on them."""
    return rx.cond(
        busy,
        rx.vstack(
            rx.progress(value=percent, max=100, width="100%"),
            rx.text(
                rx.cond(percent < 100, t("assets.uploading"), t("assets.processing")),
                " ",
                percent,
                "%",
                size="1",
                color=rx.color("gray", 11),
            ),
            spacing="1",
            width="100%",
            id=progress_id,
        ),
    )


def _select(name: str, control_id: str, default: str, *items: rx.Component) -> rx.Component:
    return select(control_id, items, name=name, default=default)


# datasets -----------------------------------------------------------------------------------------


def _tokenizer_select() -> rx.Component:
    return _select(
        "tokenizer",
        "dataset-tokenizer",
        APPROXIMATE,
        rx.select.item(t("assets.approximate"), value=APPROXIMATE),
        rx.foreach(AssetsState.tokenizers, lambda o: rx.select.item(o["label"], value=o["id"])),
    )


def _imported() -> rx.Component:
    return rx.cond(
        DatasetUploadState.imported_version > 0,
        rx.hstack(
            rx.icon("circle-check", color=rx.color("green", 10)),
            rx.text(t("assets.imported_as"), " v", DatasetUploadState.imported_version, size="2"),
            rx.link(
                t("assets.open_dataset"), href="/assets/datasets/" + DatasetUploadState.imported_dataset_id, size="2"
            ),
            align="center",
            id="dataset-imported",
        ),
    )


def dataset_form() -> rx.Component:
    upload = rx.upload_files(upload_id=DATASET_UPLOAD, on_upload_progress=DatasetUploadState.dataset_upload_progress)
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading(t("assets.import_dataset"), size="4"),
                rx.text(t("assets.import_dataset_intro"), size="2", color=rx.color("gray", 11)),
                _dropzone(DATASET_UPLOAD, False, "assets.dataset_drop", "assets.dataset_drop_hint"),
                rx.flex(
                    field(
                        "assets.dataset_name",
                        rx.input(
                            name="name",
                            id="dataset-name",
                            width="100%",
                            placeholder="triage-sft",
                            custom_attrs={"list": "dataset-names"},
                        ),
                        "dataset-name",
                        "assets.dataset_name_hint",
                    ),
                    field(
                        "assets.description",
                        rx.input(name="description", id="dataset-description", width="100%"),
                        "dataset-description",
                    ),
                    spacing="3",
                    width="100%",
                ),
                rx.el.datalist(
                    rx.foreach(AssetsState.datasets, lambda d: rx.el.option(value=d["name"])), id="dataset-names"
                ),
                rx.flex(
                    field(
                        "assets.cutoff",
                        rx.input(
                            name="cutoff",
                            id="dataset-cutoff",
                            type="number",
                            min=16,
                            max=131072,
                            default_value=str(DEFAULT_CUTOFF),
                            width="100%",
                        ),
                        "dataset-cutoff",
                        "assets.cutoff_hint",
                    ),
                    field("assets.tokenizer", _tokenizer_select(), "dataset-tokenizer", "assets.tokenizer_hint"),
                    field(
                        "assets.mask_phi",
                        rx.switch(name="mask_phi", id="dataset-mask-phi"),
                        "dataset-mask-phi",
                        "assets.mask_phi_hint",
                    ),
                    spacing="3",
                    width="100%",
                    align="start",
                ),
                _progress(DatasetUploadState.dataset_busy, DatasetUploadState.dataset_progress, "dataset-progress"),
                rx.hstack(
                    rx.button(
                        rx.icon("shield-check", size=14),
                        t("assets.validate_import"),
                        type="submit",
                        loading=DatasetUploadState.dataset_busy,
                        id="dataset-submit",
                    ),
                    rx.cond(
                        DatasetUploadState.dataset_report.present,
                        rx.button(
                            t("assets.dismiss_report"),
                            on_click=DatasetUploadState.dismiss_report,
                            variant="soft",
                            color_scheme="gray",
                            type="button",
                        ),
                    ),
                    _imported(),
                    spacing="3",
                    align="center",
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=lambda form: [
                DatasetUploadState.start_dataset_upload,
                DatasetUploadState.import_dataset(upload, form),
            ],
            width="100%",
        ),
        rx.box(dataset_report(DatasetUploadState.dataset_report, "upload-report"), padding_top="16px"),
        width="100%",
        size="3",
        id="dataset-import",
    )


# models -------------------------------------------------------------------------------------------


def _registered() -> rx.Component:
    done = ModelRegisterState.registered
    return rx.cond(
        done.contains("version"),
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-check")),
            rx.hstack(
                rx.text(
                    t("assets.registered"),
                    " ",
                    done["name"],
                    " v",
                    done["version"],
                    " · ",
                    done["files"],
                    " ",
                    t("assets.files_word"),
                    " · ",
                    done["size"],
                    " · ",
                    done["format"],
                    size="2",
                ),
                rx.link(t("assets.open_model"), href="/assets/models/" + done["model_id"], size="2"),
                rx.icon_button(
                    rx.icon("x", size=12),
                    on_click=ModelRegisterState.dismiss_registered,
                    variant="ghost",
                    size="1",
                    type="button",
                    aria_label=t("assets.dismiss_report"),
                ),
                align="center",
                wrap="wrap",
            ),
            color_scheme="green",
            width="100%",
            id="model-registered",
        ),
    )


def _textarea(name: str, control_id: str, label_key: str, placeholder: str, hint_key: str = "") -> rx.Component:
    area = code_area(control_id, name=name, placeholder=placeholder, style={"font_size": "12px"})
    return field(label_key, area, control_id, hint_key)


def model_form() -> rx.Component:
    upload = rx.upload_files(upload_id=MODEL_UPLOAD, on_upload_progress=ModelRegisterState.model_upload_progress)
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading(t("assets.register_model"), size="4"),
                rx.text(t("assets.register_model_intro"), size="2", color=rx.color("gray", 11)),
                _dropzone(MODEL_UPLOAD, True, "assets.model_drop", "assets.model_drop_hint"),
                field(
                    "assets.server_folder",
                    rx.input(name="folder", id="model-folder", width="100%", placeholder="/srv/models/qwen2-7b-med"),
                    "model-folder",
                    "assets.server_folder_hint",
                ),
                rx.flex(
                    field(
                        "assets.model_name",
                        rx.input(name="model_name", id="model-name", width="100%", required=True),
                        "model-name",
                        "assets.model_name_hint",
                    ),
                    field(
                        "assets.framework",
                        _select(
                            "framework",
                            "model-framework",
                            FRAMEWORKS[0],
                            *[rx.select.item(f, value=f) for f in FRAMEWORKS],
                        ),
                        "model-framework",
                    ),
                    field(
                        "assets.trained_on",
                        _select(
                            "trained_on",
                            "model-trained-on",
                            NO_DATASET,
                            rx.select.item(t("assets.no_dataset"), value=NO_DATASET),
                            rx.foreach(
                                AssetsState.dataset_versions, lambda o: rx.select.item(o["label"], value=o["id"])
                            ),
                        ),
                        "model-trained-on",
                    ),
                    field(
                        "assets.base_model",
                        rx.input(name="base_model", id="model-base", width="100%", placeholder="Qwen2.5-7B-Instruct"),
                        "model-base",
                    ),
                    spacing="3",
                    width="100%",
                    align="start",
                ),
                rx.flex(
                    _textarea(
                        "parameters", "model-parameters", "assets.parameters", '{"learning_rate": 0.0002, "epochs": 3}'
                    ),
                    _textarea("eval_results", "model-eval", "assets.eval_results", '{"medqa_accuracy": 0.71}'),
                    spacing="3",
                    width="100%",
                ),
                _textarea(
                    "model_card", "model-card", "assets.model_card", "# Model\n\nIntended use …", "assets.markdown_hint"
                ),
                _progress(ModelRegisterState.model_busy, ModelRegisterState.model_progress, "model-progress"),
                rx.button(
                    rx.icon("package-plus", size=14),
                    t("assets.register"),
                    type="submit",
                    loading=ModelRegisterState.model_busy,
                    id="model-submit",
                ),
                _registered(),
                spacing="3",
                width="100%",
            ),
            on_submit=lambda form: [
                ModelRegisterState.start_model_upload,
                ModelRegisterState.register_model(upload, form),
            ],
            width="100%",
        ),
        width="100%",
        size="3",
        id="model-register",
    )
