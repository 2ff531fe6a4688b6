"""The agent builder (/agents/[agent_id]): the canvas, the selected node's settings in the side
panel, and the toolbar (save, validate, publish, versions and rollback).

The canvas sends its graph on each committed change (``canvas_changed``); the draft is saved
through the agents service when the person presses Save (or publishes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import reflex as rx

from backend.services.agents import definitions as agents
from backend.services.agents import nodes as agent_nodes
from backend.services.agents import views as agent_views
from state.agent_graph import (
    CHAT_BY_NAME,
    CHAT_SETTINGS,
    EMPTY_GRAPH,
    PanelField,
    find_node,
    from_text,
    graph_problems,
    merge_canvas,
    panel_fields,
    setting_fields,
    toggled,
    with_setting,
)
from state.agent_options import setting_options
from state.auth import AuthState
from state.feedback import error_toast, success_toast
from state.format import when

ROUTE = "/agents/"


@dataclass
class Draft:
    id: str = ""
    name: str = ""
    slug: str = ""
    mode: str = "graph"
    graph: dict[str, Any] = field(default_factory=dict)
    chat_config: dict[str, Any] = field(default_factory=dict)
    active_version: str = ""
    may_edit: bool = False
    options: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    versions: list[dict[str, str]] = field(default_factory=list)
    embed: str = ""


def embed_snippet(public_url: str, agent_id: str) -> str:
    """The HTML that embeds the agent's web chat in another page (the reader signs in there)."""
    src = f"{public_url.rstrip('/')}/agents/{agent_id}/chat"
    return f'<iframe src="{src}" width="420" height="640" style="border:0" title="MedAI agent"></iframe>'


def version_row(version: agent_views.VersionRow) -> dict[str, str]:
    return {
        "id": version.id,
        "number": str(version.number),
        "note": version.note,
        "active": "yes" if version.active else "",
        "by": version.published_by,
        "at": when(version.published_at),
    }


def active_number(versions: list[dict[str, str]]) -> str:
    return next((v["number"] for v in versions if v["active"]), "")


def as_draft(view: agent_views.BuilderView, public_url: str) -> Draft:
    versions = [version_row(v) for v in view.versions]
    return Draft(
        id=view.id,
        name=view.name,
        slug=view.slug,
        mode=view.mode,
        graph=view.graph or dict(EMPTY_GRAPH),
        chat_config=view.chat_config,
        active_version=active_number(versions),
        may_edit=view.may_edit,
        options=setting_options(view.choices),
        versions=versions,
        embed=embed_snippet(public_url, view.id),
    )


def problem_rows(problems: list[agent_nodes.Problem]) -> list[dict[str, Any]]:
    return [{k: v or "" for k, v in asdict(p).items()} for p in problems]


class AgentBuilderState(AuthState):
    agent_id: str = ""
    name: str = ""
    slug: str = ""
    mode: str = "graph"
    graph: dict[str, Any] = dict(EMPTY_GRAPH)
    chat_config: dict[str, Any] = {}
    revision: int = 0
    patch: dict[str, Any] = {}
    selected_id: str = ""
    problems: list[dict[str, Any]] = []
    options: dict[str, list[dict[str, str]]] = {}
    versions: list[dict[str, str]] = []
    active_version: str = ""
    may_edit: bool = False
    dirty: bool = False
    busy: bool = False
    publish_note: str = ""
    load_error: str = ""
    embed: str = ""

    @rx.var
    def selected_type(self) -> str:
        node = find_node(self.graph, self.selected_id)
        return str(node.get("type", "")) if node else ""

    @rx.var
    def fields(self) -> list[PanelField]:
        return panel_fields(find_node(self.graph, self.selected_id), self.options, self.problems)

    @rx.var
    def chat_fields(self) -> list[PanelField]:
        found = {
            p.get("field"): p.get("message", "") for p in self.problems if p.get("node_id") in ("", "llm", "knowledge")
        }
        return setting_fields(CHAT_SETTINGS, self.chat_config, self.options, found)

    @rx.var
    def overall_problems(self) -> list[dict[str, Any]]:
        return graph_problems(self.problems)

    @rx.var
    def node_count(self) -> int:
        return len(self.graph.get("nodes") or [])

    @rx.event
    async def load(self) -> None:
        self.agent_id = str(self.router.page.params.get("agent_id", ""))
        self.selected_id, self.problems, self.patch, self.dirty, self.load_error = "", [], {}, False, ""
        if not self.signed_in or self.must_change_password or not self.tenant_id or not self.agent_id:
            return
        try:
            agent_id = self.agent_id
            view, public_url = await self._as_user(
                lambda rt, session, principal: (
                    agent_views.builder_view(session, principal, agent_id),
                    rt.settings.public_url,
                )
            )
        except Exception as error:  # shown on the page and as a toast; the canvas stays empty
            self.load_error = str(getattr(error, "message", error))
            self.graph, self.revision = dict(EMPTY_GRAPH), self.revision + 1
            raise
        self._show(as_draft(view, public_url))

    def _show(self, draft: Draft) -> None:
        self.name, self.slug, self.mode, self.may_edit = draft.name, draft.slug, draft.mode, draft.may_edit
        self.graph, self.revision, self.chat_config = draft.graph, self.revision + 1, draft.chat_config
        self.options, self.versions, self.active_version = draft.options, draft.versions, draft.active_version
        self.embed = draft.embed

    async def _reload_versions(self) -> None:
        agent_id = self.agent_id
        found = await self._as_user(lambda _rt, s, principal: agent_views.version_rows(s, principal, agent_id))
        self.versions = [version_row(v) for v in found]
        self.active_version = active_number(self.versions)

    @rx.event
    def canvas_changed(self, graph: dict[str, Any]) -> None:
        self.graph = merge_canvas(self.graph, graph)
        self.dirty = True
        if self.selected_id and find_node(self.graph, self.selected_id) is None:
            self.selected_id = ""

    @rx.event
    def select_node(self, node_id: str) -> None:
        self.selected_id = node_id if find_node(self.graph, node_id) else ""

    def _set(self, name: str, value: Any) -> None:
        self.graph = with_setting(self.graph, self.selected_id, name, value)
        node = find_node(self.graph, self.selected_id) or {}
        self.patch = {"seq": int(self.patch.get("seq", 0)) + 1, "node_id": self.selected_id, "data": node.get("data")}
        self.dirty = True

    @rx.event
    def set_setting(self, name: str, text: str) -> None:
        spec = agent_nodes.SPECS.get(self.selected_type)
        setting = spec.setting(name) if spec else None
        if setting is not None:
            self._set(name, from_text(setting, text))

    @rx.event
    def toggle_choice(self, name: str, value: str, on: bool) -> None:
        node = find_node(self.graph, self.selected_id) or {}
        self._set(name, toggled((node.get("data") or {}).get(name), value, on))

    @rx.event
    def set_chat(self, name: str, text: str) -> None:
        if name in CHAT_BY_NAME:
            self.chat_config = {**self.chat_config, name: from_text(CHAT_BY_NAME[name], text)}
            self.dirty = True

    @rx.event
    def toggle_chat(self, name: str, value: str, on: bool) -> None:
        self.chat_config = {**self.chat_config, name: toggled(self.chat_config.get(name), value, on)}
        self.dirty = True

    @rx.event
    def set_publish_note(self, text: str) -> None:
        self.publish_note = text

    @rx.event
    async def validate(self):  # noqa: ANN201 (Reflex event generator)
        agent_id, mode, graph, chat = self.agent_id, self.mode, self.graph, self.chat_config
        found = await self._as_user(
            lambda _rt, s, principal: agents.check_unsaved(s, principal, agent_id, mode, graph, chat)
        )
        self.problems = problem_rows(found)
        if not self.problems:
            yield await success_toast(self, "agents.builder.valid")

    @rx.event
    async def save(self):  # noqa: ANN201 (Reflex event generator)
        agent_id, mode, graph, chat = self.agent_id, self.mode, self.graph, self.chat_config
        self.busy = True
        yield
        try:
            found = await self._as_user(
                lambda _rt, s, principal: agents.save_editor_draft(s, principal, agent_id, mode, graph, chat)
            )
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.busy = False
            yield error_toast(error)
            return
        self.busy, self.dirty, self.problems = False, False, problem_rows(found)
        yield await success_toast(self, "agents.builder.saved")

    @rx.event
    async def publish(self):  # noqa: ANN201 (Reflex event generator)
        agent_id, mode, graph, chat = self.agent_id, self.mode, self.graph, self.chat_config
        note = self.publish_note.strip()
        self.busy = True
        yield
        try:
            found = await self._as_user(
                lambda _rt, s, principal: agents.save_editor_draft(s, principal, agent_id, mode, graph, chat)
            )
            self.dirty, self.problems = False, problem_rows(found)
            await self._as_user(lambda _rt, s, principal: agents.publish(s, principal, agent_id, note=note))
            await self._reload_versions()
        except Exception as error:  # the problems stay marked on the canvas
            self.busy = False
            yield error_toast(error)
            return
        self.busy, self.publish_note = False, ""
        yield await success_toast(self, "agents.builder.published")

    @rx.event
    async def rollback(self, version_id: str):  # noqa: ANN201 (Reflex event generator)
        agent_id = self.agent_id
        try:
            await self._as_user(
                lambda _rt, session, principal: agents.rollback(session, principal, agent_id, version_id)
            )
            await self._reload_versions()
        except Exception as error:
            yield error_toast(error)
            return
        yield await success_toast(self, "agents.builder.rolled_back")

    @rx.event
    async def restore(self, version_id: str) -> None:
        """Put a version's graph back on the canvas as the draft (kept when saved)."""
        agent_id = self.agent_id
        found = await self._as_user(
            lambda _rt, s, principal: agent_views.version_draft(s, principal, agent_id, version_id)
        )
        graph, chat = (found.graph, found.chat_config) if found else (dict(EMPTY_GRAPH), {})
        self.graph, self.revision, self.selected_id, self.dirty = graph, self.revision + 1, "", True
        self.chat_config = chat if self.mode == "chat" else self.chat_config
        self.problems = []
