"""API keys, shared by the account page (one's personal keys) and the admin page (the
tenant's keys: tenant keys to create, every key of the tenant to review and revoke)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend.services.identity import api_keys, permissions, views
from backend.services.identity.api_keys import KeyView
from state.auth import AuthState
from state.feedback import input_toast, success_toast
from state.format import when

DEFAULT_EXPIRY_DAYS = 90
SCOPES = permissions.SCOPES  # for components.api_keys (components do not import the backend)


def _row(key: KeyView) -> dict[str, str]:
    return {
        "id": key.id,
        "kind": key.kind,
        "name": key.name,
        "prefix": f"medai_{key.prefix}_…",
        "owner": key.owner_email,
        "scopes": ", ".join(key.scopes),
        "state": key.state,
        "created": when(key.created_at),
        "expires": when(key.expires_at),
        "last_used": when(key.last_used_at),
    }


class ApiKeysState(AuthState):
    kind: str = "personal"  # which keys this page makes: personal (account) or tenant (admin)
    keys: list[dict[str, str]] = []
    chosen_scopes: list[str] = []
    new_token: str = ""  # the whole key, shown once until dismissed or the page is left

    async def _load(self, kind: str) -> None:
        self.kind, self.new_token, self.chosen_scopes = kind, "", []
        if not self.signed_in or self.must_change_password:
            self.keys = []
            return
        await self._reload()

    async def _reload(self) -> None:
        mine = self.kind == "personal"  # admins see the whole tenant's keys on the admin page, only their own here
        found = await self._as_user(lambda _rt, session, principal: views.listed_keys(session, principal, mine))
        self.keys = [_row(k) for k in found]

    @rx.event
    async def load_personal(self) -> None:
        await self._load("personal")

    @rx.event
    async def load_tenant(self) -> None:
        await self._load("tenant")

    @rx.event
    def toggle_scope(self, scope: str, on: bool) -> None:
        chosen = set(self.chosen_scopes)
        if on:
            chosen.add(scope)
        else:
            chosen.discard(scope)
        self.chosen_scopes = sorted(chosen)

    @rx.event
    async def create(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        name, kind, scopes = str(form.get("name", "")), self.kind, list(self.chosen_scopes)
        days_text = str(form.get("expires_in_days", "")).strip() or str(DEFAULT_EXPIRY_DAYS)
        if not days_text.isdigit():
            yield await input_toast(self, "keys.expiry_invalid")
            return
        days = int(days_text)
        _view, self.new_token = await self._as_user(
            lambda _rt, session, principal: api_keys.create_api_key(
                session, principal, kind=kind, name=name, scopes=scopes, expires_in_days=days
            )
        )
        self.chosen_scopes = []
        yield rx.set_value("api-key-name", "")
        await self._reload()

    @rx.event
    def dismiss_token(self) -> None:
        self.new_token = ""

    @rx.event
    async def revoke(self, key_id: str):  # noqa: ANN201 (Reflex event generator)
        await self._as_user(lambda _rt, session, principal: api_keys.revoke_api_key(session, principal, key_id))
        await self._reload()
        yield await success_toast(self, "keys.revoked")
