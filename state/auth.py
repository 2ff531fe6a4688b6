"""The root of every page state: who is signed in and in which tenant.

Sign-in, sessions and roles arrive with the identity issue; until then nobody is signed in
and the tenant switcher has nothing to offer.
"""

import reflex as rx


class AuthState(rx.State):
    user_name: str = ""
    tenant_id: str = ""
    tenants: list[dict[str, str]] = []

    @rx.var
    def signed_in(self) -> bool:
        return bool(self.user_name)

    @rx.event
    def switch_tenant(self, tenant_id: str) -> None:
        if any(t["id"] == tenant_id for t in self.tenants):
            self.tenant_id = tenant_id
