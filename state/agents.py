"""/agents: the tenant's agents (create blank or from a starter template, offer in the market,
delete), the app market (install a copy) and the Tools tab (state.agent_tools)."""

from __future__ import annotations

import re

import reflex as rx

from backend.services.agents import definitions as agents
from backend.services.agents import market as agent_market
from backend.services.agents import templates as agent_templates
from backend.services.agents import views as agent_views
from state.auth import AuthState
from state.feedback import input_toast, success_toast
from state.format import when

ROUTE = "/agents"
BLANK = "blank"
FORM_DEFAULTS = {"name": "", "slug": "", "description": "", "mode": "graph", "template": BLANK}


def agent_row(row: agent_views.AgentRow) -> dict[str, str]:
    return {
        "id": row.id,
        "name": row.name,
        "slug": row.slug,
        "mode": row.mode,
        "description": row.description,
        "live": "yes" if row.live else "",
        "updated": when(row.updated_at),
    }


def market_row(row: agent_views.ListingRow) -> dict[str, str]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "mode": row.mode,
        "scope": row.scope,
        "publisher": row.publisher,
        "installs": str(row.installs),
        "ours": "yes" if row.ours else "",  # ours to withdraw
    }


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
        await self._reload()

    async def _reload(self) -> None:
        found = await self._as_user(lambda _rt, session, principal: agent_views.agents_overview(session, principal))
        self.may_view, self.may_create = found.may_view, found.may_create
        self.rows = [agent_row(a) for a in found.agents]
        self.market = [market_row(m) for m in found.market]

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
        spec = agents.AgentSpec(form["name"], form["slug"], form["mode"], form["description"])
        template = "" if form["template"] == BLANK else form["template"]
        agent_id = await self._as_user(
            lambda _rt, session, principal: agent_views.create_new_agent(session, principal, spec, template)
        )
        self.form = dict(FORM_DEFAULTS)
        yield await success_toast(self, "agents.created")
        yield rx.redirect(f"{ROUTE}/{agent_id}")

    @rx.event
    async def delete(self, agent_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(lambda _rt, session, principal: agents.delete_agent(session, principal, agent_id))
        await self._reload()
        yield await success_toast(self, "agents.deleted")

    @rx.event
    def set_install_as(self, text: str) -> None:
        self.install_as = text

    @rx.event
    async def offer(self, agent_id: str):  # noqa: ANN201 (Reflex event generator)
        scope = self.list_scope
        await self._as_user(
            lambda _rt, session, principal: agent_market.publish_listing(session, principal, agent_id, scope=scope)
        )
        await self._reload()
        yield await success_toast(self, "agents.listed")

    @rx.event
    async def withdraw(self, listing_id: str):  # noqa: ANN201 (Reflex event generator)
        """Take this tenant's listing out of the market; copies already installed stay."""
        await self._as_user(
            lambda _rt, session, principal: agent_market.withdraw_listing(session, principal, listing_id)
        )
        await self._reload()
        yield await success_toast(self, "agents.withdrawn")

    @rx.event
    async def install(self, listing_id: str):  # noqa: ANN201 (Reflex event generator)
        row = next((m for m in self.market if m["id"] == listing_id), {"name": ""})
        slug = install_slug(row["name"], listing_id, self.install_as)
        agent_id = await self._as_user(
            lambda _rt, session, principal: (
                agent_market.install_listing(session, principal, listing_id, row["name"], slug).id
            )
        )
        self.install_as = ""
        yield await success_toast(self, "agents.installed")
        yield rx.redirect(f"{ROUTE}/{agent_id}")
