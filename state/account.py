"""The account page: one's password and two-step sign-in (personal API keys: state.api_keys)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend.services.identity import mfa, views
from backend.services.identity import users as identity
from state.auth import AuthState
from state.feedback import input_toast, success_toast

PASSWORD_MIN_LENGTH = identity.PASSWORD_MIN_LENGTH  # for pages.account
PASSWORD_FIELDS = ("current-password", "new-password", "confirm-password")


class AccountState(AuthState):
    mfa_enabled: bool = False
    recovery_left: int = 0
    # shown once, cleared when the person is done or leaves the page
    enrolling: bool = False
    mfa_secret: str = ""
    mfa_qr: str = ""
    recovery_codes: list[str] = []
    manage_code: str = ""  # a current 6-digit code, to turn MFA off or renew the recovery codes

    @rx.event
    async def load(self) -> None:
        self.enrolling, self.mfa_secret, self.mfa_qr, self.recovery_codes, self.manage_code = False, "", "", [], ""
        if not self.signed_in or self.must_change_password:
            return
        status = await self._as_user(lambda _rt, session, principal: views.mfa_status(session, principal))
        self.mfa_enabled, self.recovery_left = status.enabled, status.recovery_left

    @rx.event
    async def change_password(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        current, new, again = (str(form.get(name, "")) for name in ("current", "new", "confirm"))
        if new != again:
            yield await input_toast(self, "account.password_mismatch")
            return
        token, forced = self.session_token, self.must_change_password
        await self._as_user(
            lambda _rt, session, principal: identity.change_password(session, principal, token, current, new)
        )
        self.must_change_password = False
        yield [rx.set_value(field, "") for field in PASSWORD_FIELDS]
        yield await success_toast(self, "account.password_changed")
        if forced:
            yield rx.redirect("/", replace=True)
        else:
            yield AccountState.load

    @rx.event
    async def start_enrollment(self) -> None:
        enrollment = await self._as_user(
            lambda rt, session, principal: mfa.begin_enrollment(session, rt.keys, principal)
        )
        self.enrolling, self.mfa_secret, self.mfa_qr = True, enrollment.secret, enrollment.qr_svg

    @rx.event
    def cancel_enrollment(self) -> None:
        self.enrolling, self.mfa_secret, self.mfa_qr = False, "", ""

    @rx.event
    async def confirm_enrollment(self, form: dict[str, Any]):  # noqa: ANN201 (Reflex event generator)
        code = str(form.get("code", ""))
        self.recovery_codes = await self._as_user(
            lambda rt, session, principal: mfa.confirm_enrollment(session, rt.cache, rt.keys, principal, code)
        )
        self.enrolling, self.mfa_secret, self.mfa_qr = False, "", ""
        self.mfa_enabled, self.recovery_left = True, len(self.recovery_codes)
        yield await success_toast(self, "account.mfa_on")

    @rx.event
    def set_manage_code(self, code: str) -> None:
        self.manage_code = code.strip()

    @rx.event
    async def regenerate_codes(self) -> None:
        code = self.manage_code
        self.recovery_codes = await self._as_user(
            lambda rt, session, principal: mfa.regenerate_recovery_codes(session, rt.cache, rt.keys, principal, code)
        )
        self.recovery_left, self.manage_code = len(self.recovery_codes), ""

    @rx.event
    async def disable_mfa(self):  # noqa: ANN201 (Reflex event generator)
        code = self.manage_code
        await self._as_user(lambda rt, session, principal: mfa.disable(session, rt.cache, rt.keys, principal, code))
        self.mfa_enabled, self.recovery_left, self.recovery_codes, self.manage_code = False, 0, [], ""
        yield await success_toast(self, "account.mfa_off")

    @rx.event
    def dismiss_codes(self) -> None:
        self.recovery_codes = []
