"""The root of every page state: who is signed in, in which tenant, with which role.

The browser keeps only the session token, in the ``medai_session`` cookie (the REST API
reads the same cookie on GET, so downloads such as the audit CSV work as plain links).
Every handler resolves the token again through ``identity.resolve_session``: a revoked or
expired session stops working at once, and the service layer decides what is allowed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.runtime import Runtime, get_runtime
from backend.services.identity import mfa, permissions, views
from backend.services.identity import users as identity
from backend.services.identity.access import Principal
from backend.services.identity.users import SignIn
from backend.services.identity.views import SignedIn
from backend.settings import get_settings
from state.feedback import error_toast

Role = permissions.Role  # for components.shell (components do not import the backend)

T = TypeVar("T")
# work(runtime, session, principal): the session is the database session ``run_as_user`` opened,
# passed on to a use case (left as Any so state never imports the database layer)
Work = Callable[[Runtime, Any, Principal], T]

SESSION_COOKIE = "medai_session"  # the same name backend.api.auth reads
LOGIN_ROUTE = "/login"
ACCOUNT_ROUTE = "/account"
_COOKIE_OPTIONS = {"path": "/", "sameSite": "strict"}


def run_as_user(token: str, address: str, work: Work[T]) -> T:
    """Resolve the session and run ``work`` in one transaction (called off the event loop)."""
    rt = get_runtime()
    with rt.session() as session:
        principal = dataclasses.replace(identity.resolve_session(session, token), client_address=address)
        return work(rt, session, principal)


def _run_signed_out(work: Callable[[Runtime, Any], T]) -> T:
    """Run ``work(runtime, session)`` in one transaction for someone not (yet) signed in."""
    rt = get_runtime()
    with rt.session() as session:
        return work(rt, session)


def _signed_in(token: str, address: str) -> SignedIn | None:
    if not token:
        return None
    try:
        return run_as_user(token, address, lambda _rt, session, principal: views.signed_in(session, principal))
    except MedAIError as error:
        if error.code is ErrorCode.UNAUTHENTICATED:
            return None
        raise


def _sign_in(email: str, password: str, address: str) -> SignIn:
    return _run_signed_out(
        lambda rt, session: identity.sign_in(
            session, rt.cache, rt.login_limit, email, password, address, rt.session_ttl
        )
    )


def _complete_sign_in(token: str, code: str) -> None:
    _run_signed_out(lambda rt, session: mfa.complete_sign_in(session, rt.cache, rt.keys, token, code))


def _waiting_for_code(token: str) -> bool:
    return _run_signed_out(lambda _rt, session: identity.waiting_for_code(session, token))


def _revoke(token: str) -> None:
    _run_signed_out(lambda _rt, session: identity.revoke_session(session, token))


class AuthState(rx.State):
    session_token: str = rx.Cookie(
        "",
        name=SESSION_COOKIE,
        path="/",
        same_site="strict",
        max_age=int(get_settings().session_hours * 3600),
    )
    user_name: str = ""  # the e-mail of the signed-in person; empty when nobody is
    role: str = ""
    is_platform_admin: bool = False
    can_administer: bool = False
    must_change_password: bool = False
    tenant_id: str = ""
    tenants: list[dict[str, str]] = []

    # the sign-in form
    signing_in: bool = False
    mfa_step: bool = False
    _pending_token: str = ""  # the half-open session waiting for its code; never sent to the browser

    @rx.var
    def signed_in(self) -> bool:
        return bool(self.user_name)

    @rx.var
    def tenant_name(self) -> str:
        return next((t["name"] for t in self.tenants if t["id"] == self.tenant_id), "")

    # helpers for page states ----------------------------------------------------------------

    async def _as_user(self, work: Work[T]) -> T:
        """Run ``work(runtime, session, principal)`` for the signed-in person, off the event loop."""
        return await asyncio.to_thread(run_as_user, self.session_token, self.router.session.client_ip, work)

    def _show(self, person: SignedIn) -> None:
        self.user_name = person.email
        self.role = person.role
        self.is_platform_admin = person.is_platform_admin
        self.can_administer = person.can_administer
        self.must_change_password = person.must_change_password
        self.tenant_id = person.tenant_id
        self.tenants = [{"id": t.id, "name": t.name, "slug": t.slug, "status": t.status} for t in person.tenants]

    def _forget(self) -> None:
        self.user_name = self.role = self.tenant_id = ""
        self.is_platform_admin = self.can_administer = self.must_change_password = False
        self.tenants = []

    async def _refresh_identity(self) -> bool:
        person = await asyncio.to_thread(_signed_in, self.session_token, self.router.session.client_ip)
        if person is None:
            self._forget()
            return False
        self._show(person)
        return True

    # events -----------------------------------------------------------------------------------

    @rx.event
    async def require_sign_in(self) -> rx.event.EventSpec | None:
        """First in every page's on_load: anonymous visitors go to the sign-in page (no toast),
        people with a temporary password to their account page to change it."""
        if not await self._refresh_identity():
            return rx.redirect(LOGIN_ROUTE, replace=True)
        if self.must_change_password and self.router.url.path.rstrip("/") != ACCOUNT_ROUTE:
            return rx.redirect(ACCOUNT_ROUTE, replace=True)
        return None

    @rx.event
    async def open_login(self) -> rx.event.EventSpec | None:
        """The sign-in page's on_load: someone already signed in goes straight in."""
        self.mfa_step, self.signing_in, self._pending_token = False, False, ""
        if await self._refresh_identity():
            return rx.redirect(ACCOUNT_ROUTE if self.must_change_password else "/", replace=True)
        return None

    @rx.event
    async def sign_in(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        self.signing_in = True
        yield
        try:
            result = await asyncio.to_thread(
                _sign_in, str(form.get("email", "")), str(form.get("password", "")), self.router.session.client_ip
            )
        except Exception as error:  # shown here: a raising handler would leave the button spinning
            self.signing_in = False
            yield error_toast(error)
            return
        self.signing_in = False
        if result.mfa_required:
            self._pending_token, self.mfa_step = result.token, True
            return
        yield self._enter(result.token, ACCOUNT_ROUTE if result.must_change_password else "/")

    @rx.event
    async def submit_code(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        if not self._pending_token:  # e.g. the server restarted in between: start again
            self.mfa_step = False
            yield error_toast(
                MedAIError(ErrorCode.UNAUTHENTICATED, "There is no sign-in waiting for a code.", "Sign in again.")
            )
            return
        self.signing_in = True
        yield
        try:
            await asyncio.to_thread(_complete_sign_in, self._pending_token, str(form.get("code", "")))
        except Exception as error:
            self.signing_in = False
            if not await asyncio.to_thread(_waiting_for_code, self._pending_token):
                self.mfa_step, self._pending_token = False, ""  # too many wrong codes: password again
            yield error_toast(error)
            return
        self.signing_in = False
        token, self._pending_token, self.mfa_step = self._pending_token, "", False
        yield self._enter(token, "/")  # the guard sends a temporary password on to the account page

    def _enter(self, token: str, route: str) -> rx.event.EventSpec:
        self.session_token = token
        return rx.redirect(route, replace=True)

    @rx.event
    def restart_sign_in(self) -> None:
        self.mfa_step, self._pending_token = False, ""

    @rx.event
    async def sign_out(self) -> list[rx.event.EventSpec]:
        if self.session_token:
            await asyncio.to_thread(_revoke, self.session_token)
        self._forget()
        self.session_token = ""
        return [rx.remove_cookie(SESSION_COOKIE, _COOKIE_OPTIONS), rx.redirect(LOGIN_ROUTE, replace=True)]

    @rx.event
    async def switch_tenant(self, tenant_id: str) -> rx.event.EventSpec | None:
        """Act in another of one's tenants; the page reloads so everything shown is that tenant's."""
        if tenant_id == self.tenant_id:
            return None
        token = self.session_token
        await self._as_user(
            lambda _rt, session, principal: identity.switch_tenant(session, principal, token, tenant_id)
        )
        self.tenant_id = tenant_id
        return rx.call_script("window.location.reload()")
