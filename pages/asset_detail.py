"""One dataset (/assets/datasets/[dataset_id]) and one model (/assets/models/[model_id]):
versions, reports, download links, promote/retire/delete, parameter diff, model card, files
and lineage."""

import reflex as rx

from components.assets import asset_status, platform_badge
from components.dataset_report import SHAPES, dataset_report
from components.dialogs import confirm_dialog
from components.display import when
from components.forms import select
from components.i18n import t, t_choice
from components.lineage import lineage_panel
from components.shell import page_shell
from components.tables import headers
from state.asset_detail import DatasetDetailState, LineageState, ModelDetailState
from state.auth import AuthState


def _back() -> rx.Component:
    return rx.link(
        rx.hstack(rx.icon("arrow-left", size=14), t("assets.back"), spacing="1", align="center"),
        href="/assets",
        size="2",
        id="back-to-assets",
    )


def _confirm_delete(on_confirm: rx.event.EventSpec, button_id: rx.Var) -> rx.Component:
    """Delete asks first: a version's files go for good."""
    return confirm_dialog(
        rx.button(t("assets.delete"), color_scheme="red", variant="soft", size="1", id=button_id),
        "assets.delete_title",
        "assets.delete_text",
        "assets.delete",
        on_confirm,
        "confirm-delete",
    )


def _lineage(state: type[LineageState], panel_id: str) -> rx.Component:
    return rx.card(
        lineage_panel(state.lineage_en, state.lineage_zh, state.has_lineage, state.used_by, panel_id),
        width="100%",
        size="2",
    )


def _not_found(found: rx.Var, content: rx.Component) -> rx.Component:
    return rx.cond(
        AuthState.tenant_id == "",
        rx.callout(t("assets.pick_tenant"), icon="info", width="100%"),
        rx.cond(found, content, rx.callout(t("assets.not_found"), icon="circle-help", color_scheme="amber")),
    )


# datasets -----------------------------------------------------------------------------------------


def _dataset_version_row(version: rx.Var) -> rx.Component:
    state = DatasetDetailState
    selected = version["id"] == state.selected_version
    return rx.table.row(
        rx.table.cell(rx.code("v" + version["version"])),
        rx.table.cell(rx.text(version["filename"], size="2"), rx.text(version["file_type"], size="1")),
        rx.table.cell(rx.badge(t_choice("asset_shape", version["shape"], SHAPES), variant="soft")),
        rx.table.cell(version["rows"]),
        rx.table.cell(version["size"], white_space="nowrap"),
        rx.table.cell(rx.code(version["sha256"].to(str)[:12], size="1", title=version["sha256"])),
        rx.table.cell(rx.cond(version["masked"] == "yes", rx.badge(t("assets.masked"), color_scheme="teal"), "—")),
        rx.table.cell(asset_status(version["status"])),
        rx.table.cell(when(version["created"]), rx.text(version["created_by"], size="1")),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    t("assets.view_report"),
                    on_click=state.select_version(version["id"]),
                    variant=rx.cond(selected, "solid", "soft"),
                    size="1",
                ),
                rx.button(
                    rx.icon("download", size=12),
                    t("assets.download"),
                    on_click=state.make_download_link(version["id"]),
                    variant="soft",
                    size="1",
                ),
                rx.cond(
                    state.may_update & (version["status"] == "active"),
                    rx.button(
                        t("assets.retire"),
                        on_click=state.retire_version(version["id"]),
                        color_scheme="amber",
                        variant="soft",
                        size="1",
                    ),
                ),
                rx.cond(
                    state.may_delete,
                    _confirm_delete(state.delete_version(version["id"]), "delete-v" + version["version"]),
                ),
                spacing="2",
            )
        ),
        data_version=version["version"],
        data_status=version["status"],
        background=rx.cond(selected, rx.color("accent", 2), "transparent"),
    )


def _download() -> rx.Component:
    state = DatasetDetailState
    return rx.cond(
        state.download_link != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("link")),
            rx.vstack(
                rx.text(t("assets.download_ready"), " v", state.download_version, size="2", weight="bold"),
                rx.link(
                    state.download_link,
                    href=state.download_link,
                    is_external=True,
                    size="1",
                    id="download-link",
                    style={"word_break": "break-all"},
                ),
                spacing="1",
            ),
            width="100%",
        ),
    )


def _dataset_content() -> rx.Component:
    state = DatasetDetailState
    return rx.vstack(
        _back(),
        rx.hstack(
            rx.heading(state.name, size="6", id="dataset-title"),
            rx.text(state.description, color=rx.color("gray", 11)),
            align="baseline",
            spacing="3",
        ),
        rx.text(
            t("assets.created_by"), " ", state.created_by, " · ", state.created, size="1", color=rx.color("gray", 10)
        ),
        rx.box(
            rx.table.root(
                headers(
                    "assets.version",
                    "assets.file",
                    "report.shape",
                    "report.rows",
                    "assets.size",
                    "assets.sha256",
                    "assets.phi_masked",
                    "assets.status",
                    "assets.created",
                    "",
                ),
                rx.table.body(rx.foreach(state.versions, _dataset_version_row)),
                variant="surface",
                width="100%",
                id="dataset-versions",
            ),
            overflow_x="auto",
            width="100%",
        ),
        _download(),
        rx.card(
            rx.vstack(
                rx.heading(t("assets.report_of"), " ", state.selected_label, size="4"),
                dataset_report(state.report, "version-report"),
                spacing="3",
                width="100%",
            ),
            width="100%",
            size="2",
        ),
        _lineage(state, "dataset-lineage"),
        spacing="4",
        width="100%",
    )


def dataset_detail() -> rx.Component:
    return page_shell("assets.dataset_title", _not_found(DatasetDetailState.found, _dataset_content()))


# models -------------------------------------------------------------------------------------------


def _model_version_row(version: rx.Var) -> rx.Component:
    state = ModelDetailState
    selected = version["id"] == state.selected_version
    active = version["status"] != "retired"
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                rx.code("v" + version["version"]),
                rx.cond(
                    version["version"] == state.promoted,
                    rx.badge(rx.icon("star", size=10), t("assets.promoted"), color_scheme="teal"),
                ),
                spacing="2",
            )
        ),
        rx.table.cell(asset_status(version["status"])),
        rx.table.cell(version["framework"]),
        rx.table.cell(rx.code(version["format"], size="1")),
        rx.table.cell(rx.cond(version["base_model"] != "", version["base_model"], "—")),
        rx.table.cell(t_choice("asset_source", version["source"], ["upload", "archive", "path", "job", "package"])),
        rx.table.cell(version["files"]),
        rx.table.cell(version["size"], white_space="nowrap"),
        rx.table.cell(when(version["created"]), rx.text(version["created_by"], size="1")),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    t("assets.view"),
                    on_click=state.select_version(version["id"]),
                    variant=rx.cond(selected, "solid", "soft"),
                    size="1",
                ),
                rx.cond(
                    state.may_update & active & (version["version"] != state.promoted),
                    rx.button(t("assets.promote"), on_click=state.promote(version["id"]), variant="soft", size="1"),
                ),
                rx.cond(
                    state.may_update & active,
                    rx.button(
                        t("assets.retire"),
                        on_click=state.retire(version["id"]),
                        color_scheme="amber",
                        variant="soft",
                        size="1",
                    ),
                ),
                rx.cond(
                    state.may_delete,
                    _confirm_delete(state.delete_version(version["id"]), "delete-v" + version["version"]),
                ),
                spacing="2",
            )
        ),
        data_version=version["version"],
        data_status=version["status"],
        background=rx.cond(selected, rx.color("accent", 2), "transparent"),
    )


def _version_select(value: rx.Var, on_change: rx.EventHandler, control_id: str) -> rx.Component:
    items = [rx.foreach(ModelDetailState.versions, lambda v: rx.select.item("v" + v["version"], value=v["id"]))]
    return select(control_id, items, value, on_change, min_width="100px")


def _diff() -> rx.Component:
    state = ModelDetailState
    return rx.card(
        rx.vstack(
            rx.heading(t("assets.compare_parameters"), size="4"),
            rx.hstack(
                _version_select(state.diff_before, state.set_diff_before, "diff-before"),
                rx.icon("arrow-right", size=14),
                _version_select(state.diff_after, state.set_diff_after, "diff-after"),
                rx.button(t("assets.compare"), on_click=state.compare, variant="soft", id="diff-run"),
                align="center",
                spacing="3",
            ),
            rx.cond(
                state.diff_shown,
                rx.cond(
                    state.diff_rows.length() > 0,
                    rx.table.root(
                        headers("assets.parameter", "assets.before", "assets.after"),
                        rx.table.body(
                            rx.foreach(
                                state.diff_rows,
                                lambda row: rx.table.row(
                                    rx.table.cell(rx.code(row["key"])),
                                    rx.table.cell(row["before"]),
                                    rx.table.cell(row["after"], color=rx.color("accent", 11)),
                                    data_key=row["key"],
                                ),
                            )
                        ),
                        variant="surface",
                        size="1",
                        width="100%",
                        id="diff-table",
                    ),
                    rx.text(t("assets.no_differences"), size="2", id="diff-none"),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        size="2",
    )


def _json_block(title_key: str, text: rx.Var, block_id: str) -> rx.Component:
    return rx.vstack(
        rx.heading(t(title_key), size="3"),
        rx.cond(
            text != "",
            rx.box(
                rx.el.pre(text, style={"margin": "0", "white_space": "pre-wrap", "font_size": "12px"}),
                padding="10px",
                border_radius="6px",
                background=rx.color("gray", 3),
                width="100%",
                id=block_id,
            ),
            rx.text("—", color=rx.color("gray", 10)),
        ),
        spacing="2",
        width="100%",
        flex="1",
        min_width="280px",
    )


def _version_detail() -> rx.Component:
    state = ModelDetailState
    return rx.card(
        rx.vstack(
            rx.heading(t("assets.version_detail"), " ", state.selected_label, size="4"),
            rx.heading(t("assets.model_card"), size="3"),
            rx.cond(
                state.model_card != "",
                rx.box(rx.markdown(state.model_card), width="100%", id="model-card-view"),
                rx.text(t("assets.no_model_card"), size="2", color=rx.color("gray", 10)),
            ),
            rx.flex(
                _json_block("assets.parameters", state.parameters, "model-parameters-view"),
                _json_block("assets.eval_results", state.eval_results, "model-eval-view"),
                spacing="4",
                wrap="wrap",
                width="100%",
            ),
            rx.heading(t("assets.files"), size="3"),
            rx.table.root(
                headers("assets.path", "assets.size", "assets.sha256"),
                rx.table.body(
                    rx.foreach(
                        state.files,
                        lambda f: rx.table.row(
                            rx.table.cell(rx.code(f["path"], size="1")),
                            rx.table.cell(f["size"], white_space="nowrap"),
                            rx.table.cell(rx.code(f["sha256"], size="1", style={"word_break": "break-all"})),
                            data_path=f["path"],
                        ),
                    )
                ),
                variant="surface",
                size="1",
                width="100%",
                id="model-files",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        size="2",
    )


def _model_content() -> rx.Component:
    state = ModelDetailState
    return rx.vstack(
        _back(),
        rx.hstack(
            rx.heading(state.name, size="6", id="model-title"),
            rx.cond(state.provided_by_platform, platform_badge(state.name)),
            rx.cond(
                state.promoted != "",
                rx.badge(t("assets.promoted"), " v", state.promoted, color_scheme="teal", id="model-promoted"),
            ),
            rx.text(state.description, color=rx.color("gray", 11)),
            align="center",
            spacing="3",
        ),
        rx.cond(
            state.provided_by_platform,
            rx.callout(t("assets.platform_model"), icon="shield-check", color_scheme="violet", id="model-platform"),
        ),
        rx.box(
            rx.table.root(
                headers(
                    "assets.version",
                    "assets.status",
                    "assets.framework",
                    "assets.format",
                    "assets.base_model",
                    "assets.source",
                    "assets.files",
                    "assets.size",
                    "assets.created",
                    "",
                ),
                rx.table.body(rx.foreach(state.versions, _model_version_row)),
                variant="surface",
                width="100%",
                id="model-versions",
            ),
            overflow_x="auto",
            width="100%",
        ),
        rx.cond(state.versions.length() > 1, _diff()),
        _version_detail(),
        _lineage(state, "model-lineage"),
        spacing="4",
        width="100%",
    )


def model_detail() -> rx.Component:
    return page_shell("assets.model_title", _not_found(ModelDetailState.found, _model_content()))
