"""The agent builder (/agents/[agent_id]): the canvas, the selected node's settings in the side
panel, and the toolbar (save, validate, publish, versions and rollback).

The canvas sends its graph on each committed change (``canvas_changed``); the draft is saved
through the agents service when the person presses Save (or publishes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import reflex as rx
from sqlmodel import Session

from backend.runtime import Runtime
from backend.services.agents import definitions as agents
from backend.services.agents import nodes as agent_nodes
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
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


def version_rows(session: Session, who: Principal, agent_id: str) -> list[dict[str, str]]:
    return [
        {
            "id": v.id,
            "number": str(v.number),
            "note": v.note,
            "active": "yes" if v.active else "",
            "by": v.published_by,
            "at": v.published_at.strftime("%Y-%m-%d %H:%M"),
        }
        for v in agents.list_versions(session, who, agent_id)
    ]


def load_draft(rt: Runtime, session: Session, who: Principal, agent_id: str) -> Draft:
    agent = agents.get_agent(session, who, agent_id)
    versions = version_rows(session, who, agent_id)
    return Draft(
        id=agent.id,
        name=agent.name,
        slug=agent.slug,
        mode=agent.mode,
        graph=agent.graph or dict(EMPTY_GRAPH),
        chat_config=dict(agent.chat_config or {}),
        active_version=next((v["number"] for v in versions if v["active"]), ""),
        may_edit=may(session, who, Area.AGENTS, Action.UPDATE),
        options=setting_options(rt, session, who),
        versions=versions,
        embed=embed_snippet(rt.settings.public_url, agent.id),
    )


def problem_rows(problems: list[agent_nodes.Problem]) -> list[dict[str, Any]]:
    return [{k: v or "" for k, v in asdict(p).items()} for p in problems]


def check_unsaved(session: Session, who: Principal, agent_id: str, mode: str, graph: dict, chat: dict) -> list:
    """What keeps the canvas's (unsaved) draft from running: the graph's problems and the
    models, knowledge bases and tools it names that the tenant does not have."""
    agent = agents.get_agent(session, who, agent_id)
    runnable = agents.runnable_graph(mode, graph, chat)
    return agent_nodes.validate(runnable) + agents.tenant_problems(session, agent.tenant_id, runnable)


def save(session: Session, who: Principal, agent_id: str, mode: str, graph: dict, chat: dict) -> list:
    if mode == "chat":
        return agents.save_draft(session, who, agent_id, chat_config=chat).problems
    return agents.save_draft(session, who, agent_id, graph=graph).problems


def version_draft(session: Session, who: Principal, agent_id: str, version_id: str) -> tuple[dict, dict]:
    """A published version's graph and chat config, to edit again."""
    version = next((v for v in agents.list_versions(session, who, agent_id) if v.id == version_id), None)
    if version is None:
        return dict(EMPTY_GRAPH), {}
    return dict(version.graph), dict(version.chat_config or {})


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
            draft = await self._as_user(lambda rt, session, who: load_draft(rt, session, who, self.agent_id))
        except Exception as error:  # shown on the page and as a toast; the canvas stays empty
            self.load_error = str(getattr(error, "message", error))
            self.graph, self.revision = dict(EMPTY_GRAPH), self.revision + 1
            raise
        self._show(draft)

    def _show(self, draft: Draft) -> None:
        self.name, self.slug, self.mode, self.may_edit = draft.name, draft.slug, draft.mode, draft.may_edit
        self.graph, self.revision, self.chat_config = draft.graph, self.revision + 1, draft.chat_config
        self.options, self.versions, self.active_version = draft.options, draft.versions, draft.active_version
        self.embed = draft.embed

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
        found = await self._as_user(lambda _rt, s, who: check_unsaved(s, who, agent_id, mode, graph, chat))
        self.problems = problem_rows(found)
        if not self.problems:
            yield await success_toast(self, "agents.builder.valid")

    @rx.event
    async def save(self):  # noqa: ANN201 (Reflex event generator)
        agent_id, mode, graph, chat = self.agent_id, self.mode, self.graph, self.chat_config
        self.busy = True
        yield
        try:
            found = await self._as_user(lambda _rt, s, who: save(s, who, agent_id, mode, graph, chat))
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
            found = await self._as_user(lambda _rt, s, who: save(s, who, agent_id, mode, graph, chat))
            self.dirty, self.problems = False, problem_rows(found)
            await self._as_user(lambda _rt, s, who: agents.publish(s, who, agent_id, note=note))
            self.versions = await self._as_user(lambda _rt, s, who: version_rows(s, who, agent_id))
        except Exception as error:  # the problems stay marked on the canvas
            self.busy = False
            yield error_toast(error)
            return
        self.busy, self.publish_note = False, ""
        self.active_version = next((v["number"] for v in self.versions if v["active"]), "")
        yield await success_toast(self, "agents.builder.published")

    @rx.event
    async def rollback(self, version_id: str):  # noqa: ANN201 (Reflex event generator)
        agent_id = self.agent_id
        try:
            await self._as_user(lambda _rt, session, who: agents.rollback(session, who, agent_id, version_id))
            self.versions = await self._as_user(lambda _rt, session, who: version_rows(session, who, agent_id))
        except Exception as error:
            yield error_toast(error)
            return
        self.active_version = next((v["number"] for v in self.versions if v["active"]), "")
        yield await success_toast(self, "agents.builder.rolled_back")

    @rx.event
    async def restore(self, version_id: str) -> None:
        """Put a version's graph back on the canvas as the draft (kept when saved)."""
        agent_id = self.agent_id
        graph, chat = await self._as_user(lambda _rt, s, who: version_draft(s, who, agent_id, version_id))
        self.graph, self.revision, self.selected_id, self.dirty = graph, self.revision + 1, "", True
        self.chat_config = chat if self.mode == "chat" else self.chat_config
        self.problems = []
