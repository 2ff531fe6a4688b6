"""/agents: the tenant's agents (create blank or from a starter template, offer in the market,
delete), the app market (install a copy) and the Tools tab (state.agent_tools)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import reflex as rx
from sqlmodel import Session

from backend.runtime import Runtime
from backend.services.agents import definitions as agents
from backend.services.agents import market as agent_market
from backend.services.agents import templates as agent_templates
from backend.services.identity.access import Principal, may
from backend.services.identity.permissions import Action, Area
from state.auth import AuthState
from state.feedback import input_toast, success_toast

ROUTE = "/agents"
BLANK = "blank"
FORM_DEFAULTS = {"name": "", "slug": "", "description": "", "mode": "graph", "template": BLANK}


def agent_rows(session: Session, who: Principal) -> list[dict[str, str]]:
    return [
        {
            "id": a.id,
            "name": a.name,
            "slug": a.slug,
            "mode": a.mode,
            "description": a.description,
            "live": "yes" if a.active_version_id else "",
            "updated": a.updated_at.strftime("%Y-%m-%d %H:%M"),
        }
        for a in agents.list_agents(session, who)
    ]


def market_rows(session: Session, who: Principal) -> list[dict[str, str]]:
    return [
        {
            "id": item.id,
            "name": item.name,
            "description": item.description,
            "mode": item.mode,
            "scope": item.scope,
            "publisher": item.published_by,
            "installs": str(item.installs),
            "ours": "yes" if item.tenant_id == who.tenant_id else "",  # ours to withdraw
        }
        for item in agent_market.list_listings(session, who)
    ]


def install_slug(name: str, listing_id: str, wanted: str) -> str:
    """The slug of an installed copy: the one typed, else the listing's name made a slug."""
    if wanted.strip():
        return wanted.strip()
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "agent"
    return f"{base}-{listing_id[:6].lower()}"


def template_rows() -> list[dict[str, str]]:
    return [
        {"id": tpl.id, "name_en": tpl.name_en, "name_zh": tpl.name_zh, "mode": tpl.mode}
        for tpl in agent_templates.list_templates()
    ]


def create(session: Session, who: Principal, form: dict[str, str]) -> str:
    """A new agent from the form: blank (graph or chat) or from a starter template; its id."""
    if form["template"] != BLANK:
        return agents.create_from_template(session, who, form["template"], form["name"], form["slug"]).id
    spec = agents.AgentSpec(form["name"], form["slug"], form["mode"], form["description"])
    return agents.create_agent(session, who, spec).id


@dataclass
class Overview:
    may_view: bool = False
    may_create: bool = False
    rows: list[dict[str, str]] = field(default_factory=list)
    market: list[dict[str, str]] = field(default_factory=list)


def overview(_rt: Runtime, session: Session, who: Principal) -> Overview:
    found = Overview(may_view=may(session, who, Area.AGENTS, Action.VIEW))
    if not found.may_view:
        return found
    found.may_create = may(session, who, Area.AGENTS, Action.CREATE)
    found.rows, found.market = agent_rows(session, who), market_rows(session, who)
    return found


class AgentsState(AuthState):
    may_view: bool = True
    may_create: bool = False
    rows: list[dict[str, str]] = []
    market: list[dict[str, str]] = []
    templates: list[dict[str, str]] = template_rows()
    form: dict[str, str] = dict(FORM_DEFAULTS)
    list_scope: str = "tenant"
    install_as: str = ""

    @rx.event
    async def load(self) -> None:
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            self.rows, self.market = [], []
            return
        found = await self._as_user(overview)
        self.may_view, self.may_create, self.rows, self.market = (
            found.may_view,
            found.may_create,
            found.rows,
            found.market,
        )

    @rx.event
    def set_field(self, key: str, value: str | list[str]) -> None:
        value = value if isinstance(value, str) else (value[0] if value else "")
        if key in FORM_DEFAULTS:
            self.form = {**self.form, key: value}
        if key == "template" and value != BLANK:
            chosen = next((t for t in self.templates if t["id"] == value), None)
            if chosen:
                self.form = {**self.form, "mode": chosen["mode"]}

    @rx.event
    def set_list_scope(self, scope: str | list[str]) -> None:
        self.list_scope = scope if isinstance(scope, str) else (scope[0] if scope else "tenant")

    @rx.event
    async def create(self):  # noqa: ANN201 (Reflex event generator)
        form = {k: v.strip() for k, v in self.form.items()}
        if not form["name"] or not form["slug"]:
            yield await input_toast(self, "agents.incomplete")
            return
        agent_id = await self._as_user(lambda _rt, session, who: create(session, who, form))
        self.form = dict(FORM_DEFAULTS)
        yield await success_toast(self, "agents.created")
        yield rx.redirect(f"{ROUTE}/{agent_id}")

    @rx.event
    async def delete(self, agent_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(lambda _rt, session, who: agents.delete_agent(session, who, agent_id))
        self.rows = await self._as_user(lambda _rt, session, who: agent_rows(session, who))
        yield await success_toast(self, "agents.deleted")

    @rx.event
    def set_install_as(self, text: str) -> None:
        self.install_as = text

    @rx.event
    async def offer(self, agent_id: str):  # noqa: ANN201 (Reflex event generator)
        scope = self.list_scope
        await self._as_user(lambda _rt, session, who: agent_market.publish_listing(session, who, agent_id, scope=scope))
        self.market = await self._as_user(lambda _rt, session, who: market_rows(session, who))
        yield await success_toast(self, "agents.listed")

    @rx.event
    async def withdraw(self, listing_id: str):  # noqa: ANN201 (Reflex event generator)
        """Take this tenant's listing out of the market; copies already installed stay."""
        await self._as_user(lambda _rt, session, who: agent_market.withdraw_listing(session, who, listing_id))
        self.market = await self._as_user(lambda _rt, session, who: market_rows(session, who))
        yield await success_toast(self, "agents.withdrawn")

    @rx.event
    async def install(self, listing_id: str):  # noqa: ANN201 (Reflex event generator)
        row = next((m for m in self.market if m["id"] == listing_id), {"name": ""})
        slug = install_slug(row["name"], listing_id, self.install_as)
        agent = await self._as_user(
            lambda _rt, session, who: agent_market.install_listing(session, who, listing_id, row["name"], slug)
        )
        self.install_as = ""
        yield await success_toast(self, "agents.installed")
        yield rx.redirect(f"{ROUTE}/{agent.id}")
