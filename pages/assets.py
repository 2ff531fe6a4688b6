"""Assets (/assets): the tenant's datasets, models and container images, each with search,
a filter, a table and a way to add one."""

from collections.abc import Sequence

import reflex as rx

from components.assets import asset_status, platform_badge
from components.dataset_report import SHAPES
from components.display import when
from components.forms import field, options, select
from components.i18n import t, t_choice
from components.samples import sample_datasets
from components.shell import page_shell
from components.tables import empty_state, headers
from pages.asset_forms import dataset_form, model_form
from state.assets import ALL, PURPOSES, STATUSES, AssetsState


def _filter_select(
    value: rx.Var, on_change: rx.EventHandler, control_id: str, prefix: str, values: Sequence[str]
) -> rx.Component:
    return select(
        control_id,
        [rx.select.item(t("assets.all"), value=ALL), *options(prefix, values)],
        value,
        on_change,
        min_width="160px",
        aria_label=t("assets.filter"),
    )


def _toolbar(search: rx.Var, on_search: rx.EventHandler, search_id: str, select: rx.Component) -> rx.Component:
    return rx.hstack(
        rx.input(
            rx.input.slot(rx.icon("search", size=14)),
            value=search,
            on_change=on_search,
            debounce_timeout=300,
            placeholder=t("assets.search"),
            id=search_id,
            width="320px",
        ),
        select,
        spacing="3",
        align="center",
    )


# datasets -----------------------------------------------------------------------------------------


def _dataset_row(dataset: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.link(rx.text(dataset["name"], weight="medium"), href="/assets/datasets/" + dataset["id"]),
            rx.text(dataset["description"], size="1", color=rx.color("gray", 10)),
        ),
        rx.table.cell(rx.code("v" + dataset["latest"], size="1"), " / ", dataset["versions"]),
        rx.table.cell(rx.badge(t_choice("asset_shape", dataset["shape"], SHAPES), variant="soft")),
        rx.table.cell(dataset["rows"]),
        rx.table.cell(dataset["size"], white_space="nowrap"),
        rx.table.cell(when(dataset["updated"])),
        data_name=dataset["name"],
    )


def _datasets_tab() -> rx.Component:
    return rx.vstack(
        rx.cond(AssetsState.may_create, dataset_form()),
        _toolbar(
            AssetsState.dataset_search,
            AssetsState.search_datasets,
            "dataset-search",
            _filter_select(AssetsState.dataset_shape, AssetsState.filter_shape, "dataset-shape", "asset_shape", SHAPES),
        ),
        rx.table.root(
            headers("assets.name", "assets.version", "report.shape", "report.rows", "assets.size", "assets.updated"),
            rx.table.body(rx.foreach(AssetsState.datasets, _dataset_row)),
            variant="surface",
            width="100%",
            id="dataset-list",
        ),
        rx.cond(
            AssetsState.datasets.length() == 0, empty_state("assets.no_datasets", "dataset-list-empty", padding="8px")
        ),
        rx.cond(
            (AssetsState.datasets.length() == 0)
            & (AssetsState.dataset_search == "")
            & (AssetsState.dataset_shape == ALL),
            sample_datasets("cta-assets-sample"),
        ),
        spacing="4",
        width="100%",
    )


# models -------------------------------------------------------------------------------------------


def _model_row(model: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                rx.link(rx.text(model["name"], weight="medium"), href="/assets/models/" + model["id"]),
                rx.cond(model["platform"] != "", platform_badge(model["name"])),
                spacing="2",
                align="center",
            )
        ),
        rx.table.cell(rx.code("v" + model["latest"], size="1"), " / ", model["versions"]),
        rx.table.cell(rx.cond(model["promoted"] != "", rx.badge("v" + model["promoted"], color_scheme="teal"), "—")),
        rx.table.cell(asset_status(model["status"])),
        rx.table.cell(model["framework"]),
        rx.table.cell(rx.code(model["format"], size="1")),
        rx.table.cell(model["size"], white_space="nowrap"),
        rx.table.cell(when(model["updated"])),
        data_name=model["name"],
    )


def _models_tab() -> rx.Component:
    return rx.vstack(
        rx.cond(AssetsState.may_create, model_form()),
        _toolbar(
            AssetsState.model_search,
            AssetsState.search_models,
            "model-search",
            _filter_select(
                AssetsState.model_status, AssetsState.filter_status, "model-status", "asset_status", STATUSES
            ),
        ),
        rx.table.root(
            headers(
                "assets.name",
                "assets.version",
                "assets.promoted",
                "assets.status",
                "assets.framework",
                "assets.format",
                "assets.size",
                "assets.updated",
            ),
            rx.table.body(rx.foreach(AssetsState.models, _model_row)),
            variant="surface",
            width="100%",
            id="model-list",
        ),
        rx.cond(AssetsState.models.length() == 0, empty_state("assets.no_models", "model-list-empty", padding="8px")),
        spacing="4",
        width="100%",
    )


# images -------------------------------------------------------------------------------------------


def _image_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading(t("assets.register_image"), size="4"),
                rx.flex(
                    rx.box(
                        field(
                            "assets.reference",
                            rx.input(
                                name="reference",
                                id="image-reference",
                                width="100%",
                                required=True,
                                placeholder="registry.hospital.cn/medai/vllm-openai:0.12-cuda12.4",
                                color_scheme=rx.cond(AssetsState.image_error != "", "red", "teal"),
                            ),
                            "image-reference",
                            "assets.reference_hint",
                        ),
                        flex="3",
                    ),
                    field(
                        "assets.purpose",
                        rx.select.root(
                            rx.select.trigger(id="image-purpose", width="100%"),
                            rx.select.content(*[rx.select.item(t(f"asset_purpose.{p}"), value=p) for p in PURPOSES]),
                            name="purpose",
                            default_value=PURPOSES[0],
                        ),
                        "image-purpose",
                    ),
                    field(
                        "assets.cuda_version",
                        rx.input(name="cuda_version", id="image-cuda", width="100%", placeholder="12.4"),
                        "image-cuda",
                    ),
                    field(
                        "assets.framework",
                        rx.input(name="framework", id="image-framework", width="100%", placeholder="vllm 0.12"),
                        "image-framework",
                    ),
                    spacing="3",
                    width="100%",
                    align="start",
                ),
                rx.cond(
                    AssetsState.image_error != "",
                    rx.callout(
                        AssetsState.image_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        width="100%",
                        id="image-error",
                    ),
                ),
                rx.button(rx.icon("plus", size=14), t("assets.register"), type="submit", id="image-submit"),
                spacing="3",
                width="100%",
            ),
            on_submit=AssetsState.register_image,
            width="100%",
        ),
        width="100%",
        size="3",
    )


def _image_row(image: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(image["reference"], size="1", style={"word_break": "break-all"})),
        rx.table.cell(rx.badge(t_choice("asset_purpose", image["purpose"], PURPOSES), variant="soft")),
        rx.table.cell(rx.cond(image["cuda"] != "", image["cuda"], "—")),
        rx.table.cell(rx.cond(image["framework"] != "", image["framework"], "—")),
        rx.table.cell(asset_status(image["status"])),
        rx.table.cell(when(image["created"])),
        rx.table.cell(
            rx.cond(
                AssetsState.may_update & (image["status"] == "active"),
                rx.button(
                    t("assets.retire"),
                    on_click=AssetsState.retire_image(image["id"]),
                    color_scheme="amber",
                    variant="soft",
                    size="1",
                ),
            )
        ),
        data_reference=image["reference"],
        data_status=image["status"],
    )


def _images_tab() -> rx.Component:
    return rx.vstack(
        rx.cond(AssetsState.may_create, _image_form()),
        _toolbar(
            AssetsState.image_search,
            AssetsState.search_images,
            "image-search",
            _filter_select(
                AssetsState.image_purpose, AssetsState.filter_purpose, "image-purpose-filter", "asset_purpose", PURPOSES
            ),
        ),
        rx.table.root(
            headers(
                "assets.reference",
                "assets.purpose",
                "assets.cuda_version",
                "assets.framework",
                "assets.status",
                "assets.created",
                "",
            ),
            rx.table.body(rx.foreach(AssetsState.images, _image_row)),
            variant="surface",
            width="100%",
            id="image-list",
        ),
        rx.cond(AssetsState.images.length() == 0, empty_state("assets.no_images", "image-list-empty", padding="8px")),
        spacing="4",
        width="100%",
    )


# the page -----------------------------------------------------------------------------------------


def _tab(value: str, icon: str) -> rx.Component:
    return rx.tabs.trigger(rx.hstack(rx.icon(icon, size=14), t(f"assets.tab.{value}"), spacing="2"), value=value)


def _tabs() -> rx.Component:
    return rx.tabs.root(
        rx.tabs.list(_tab("datasets", "database"), _tab("models", "box"), _tab("images", "container")),
        rx.tabs.content(_datasets_tab(), value="datasets", padding_top="20px"),
        rx.tabs.content(_models_tab(), value="models", padding_top="20px"),
        rx.tabs.content(_images_tab(), value="images", padding_top="20px"),
        value=AssetsState.tab,
        on_change=AssetsState.set_tab,
        width="100%",
        id="asset-tabs",
    )


def no_tenant_or(content: rx.Component, allowed: rx.Var) -> rx.Component:
    """Assets live in a tenant: ask for one first, then for a role that may see them."""
    return rx.cond(
        AssetsState.tenant_id == "",
        rx.callout(t("assets.pick_tenant"), icon="info", width="100%", id="assets-no-tenant"),
        rx.cond(allowed, content, rx.callout(t("assets.not_allowed"), icon="lock", color_scheme="amber", width="100%")),
    )


def assets() -> rx.Component:
    return page_shell("assets.title", no_tenant_or(_tabs(), AssetsState.may_view))
