"""Administration: tenants and users (platform admins), the current tenant's members and API
keys (tenant owners and admins), the permission matrix and the audit trail."""

import reflex as rx

from components.api_keys import key_panel
from components.badges import status_badge
from components.display import when
from components.forms import field, options, select, shown_once
from components.i18n import t, t_choice
from components.shell import page_shell
from components.tables import headers
from pages.admin_audit import audit_tab, permissions_tab
from state.admin import TENANT_ROLES, AdminState, Role
from state.auth import AuthState

ROLES = [r.value for r in Role]
_ROLE_CHOICES = [r.value for r in TENANT_ROLES]
_STATUS_COLOR = {"active": "green", "suspended": "amber", "disabled": "red"}


def _yes_no(flag: rx.Var) -> rx.Component:
    return rx.cond(
        flag == "yes",
        rx.icon("check", size=16, color=rx.color("green", 10), aria_label=t("common.yes")),
        rx.text("—", size="1", color=rx.color("gray", 9)),
    )


# tenants ---------------------------------------------------------------------------------------


def _tenant_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            field(
                "admin.tenant_slug",
                rx.input(name="slug", id="tenant-slug", width="100%", placeholder="ruijin-cardiology", required=True),
                "tenant-slug",
                "admin.tenant_slug_hint",
            ),
            field(
                "admin.tenant_name", rx.input(name="name", id="tenant-name", width="100%", required=True), "tenant-name"
            ),
            rx.button(rx.icon("plus", size=14), t("admin.create_tenant"), type="submit", id="create-tenant"),
            align="start",
            spacing="3",
            width="100%",
        ),
        on_submit=AdminState.create_tenant,
        width="100%",
    )


def _tenant_row(tenant: rx.Var) -> rx.Component:
    active = tenant["status"] == "active"
    return rx.table.row(
        rx.table.cell(rx.text(tenant["name"], weight="medium")),
        rx.table.cell(rx.code(tenant["slug"], size="1")),
        rx.table.cell(status_badge(tenant["status"], _STATUS_COLOR, "admin.status")),
        rx.table.cell(tenant["members"]),
        rx.table.cell(when(tenant["created"])),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    t("admin.act_in_tenant"),
                    on_click=AuthState.switch_tenant(tenant["id"]),
                    disabled=tenant["id"] == AuthState.tenant_id,
                    variant="soft",
                    size="1",
                ),
                rx.cond(
                    active,
                    rx.button(
                        t("admin.suspend"),
                        on_click=AdminState.set_tenant_status(tenant["id"], "suspended"),
                        color_scheme="amber",
                        variant="soft",
                        size="1",
                    ),
                    rx.button(
                        t("admin.activate"),
                        on_click=AdminState.set_tenant_status(tenant["id"], "active"),
                        color_scheme="green",
                        variant="soft",
                        size="1",
                    ),
                ),
                spacing="2",
            )
        ),
        data_slug=tenant["slug"],
    )


def _tenants_tab() -> rx.Component:
    return rx.vstack(
        _tenant_form(),
        rx.table.root(
            headers(
                "admin.tenant_name", "admin.tenant_slug", "admin.status", "admin.member_count", "admin.created", ""
            ),
            rx.table.body(rx.foreach(AdminState.tenant_rows, _tenant_row)),
            variant="surface",
            width="100%",
            id="tenant-list",
        ),
        spacing="4",
        width="100%",
    )


# members of the current tenant -----------------------------------------------------------------


def _role_select(name: str, control_id: str) -> rx.Component:
    return select(control_id, options("role", _ROLE_CHOICES), name=name, default=Role.DEVELOPER.value)


def _invite_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            field(
                "admin.email",
                rx.input(name="email", id="invite-email", width="100%", type="email", required=True),
                "invite-email",
            ),
            field("admin.display_name", rx.input(name="display_name", id="invite-name", width="100%"), "invite-name"),
            rx.box(field("admin.role", _role_select("role", "invite-role"), "invite-role"), min_width="160px"),
            rx.button(rx.icon("user-plus", size=14), t("admin.invite"), type="submit", id="invite-submit"),
            align="end",
            spacing="3",
            width="100%",
        ),
        on_submit=AdminState.invite,
        width="100%",
    )


def _invitation() -> rx.Component:
    return rx.cond(
        AdminState.temporary_password != "",
        shown_once(
            "admin.temporary_password",
            AdminState.temporary_password,
            "temporary-password",
            AdminState.dismiss_invitation,
        ),
        rx.cond(
            AdminState.invited_email != "",
            rx.callout(t("admin.existing_account_added"), icon="info", width="100%"),
        ),
    )


def _member_role(member: rx.Var) -> rx.Component:
    return rx.cond(
        AdminState.may_edit_members,
        rx.select.root(
            rx.select.trigger(aria_label=t("admin.role")),
            rx.select.content(*[rx.select.item(t(f"role.{r}"), value=r) for r in _ROLE_CHOICES]),
            value=member["role"],
            on_change=lambda role: AdminState.set_member_role(member["user_id"], role),
            size="1",
        ),
        rx.badge(t_choice("role", member["role"], ROLES)),
    )


def _member_row(member: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(member["email"], weight="medium")),
        rx.table.cell(member["name"]),
        rx.table.cell(_member_role(member)),
        rx.table.cell(status_badge(member["status"], _STATUS_COLOR, "admin.status")),
        rx.table.cell(_yes_no(member["mfa"])),
        rx.table.cell(when(member["last_login"])),
        rx.table.cell(
            rx.cond(
                AdminState.may_edit_members & (member["email"] != AuthState.user_name),
                rx.button(
                    t("admin.remove"),
                    on_click=AdminState.remove_member(member["user_id"]),
                    color_scheme="red",
                    variant="soft",
                    size="1",
                ),
            )
        ),
        data_email=member["email"],
    )


def _members_tab() -> rx.Component:
    return rx.cond(
        AuthState.tenant_id == "",
        rx.callout(t("admin.pick_tenant"), icon="info", width="100%"),
        rx.vstack(
            rx.heading(AuthState.tenant_name, size="4"),
            rx.cond(AdminState.may_edit_members, _invite_form()),
            _invitation(),
            rx.table.root(
                headers(
                    "admin.email",
                    "admin.display_name",
                    "admin.role",
                    "admin.status",
                    "admin.mfa",
                    "admin.last_login",
                    "",
                ),
                rx.table.body(rx.foreach(AdminState.members, _member_row)),
                variant="surface",
                width="100%",
                id="member-list",
            ),
            spacing="4",
            width="100%",
        ),
    )


# users (platform admins) -----------------------------------------------------------------------


def _user_row(user: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(user["email"], weight="medium")),
        rx.table.cell(user["name"]),
        rx.table.cell(status_badge(user["status"], _STATUS_COLOR, "admin.status")),
        rx.table.cell(_yes_no(user["platform_admin"])),
        rx.table.cell(_yes_no(user["mfa"])),
        rx.table.cell(_yes_no(user["locked"])),
        rx.table.cell(rx.text(user["tenants"], size="1")),
        rx.table.cell(when(user["last_login"])),
        rx.table.cell(
            rx.cond(
                user["email"] != AuthState.user_name,
                rx.hstack(
                    rx.cond(
                        user["status"] == "active",
                        rx.button(
                            t("admin.disable"),
                            on_click=AdminState.set_user_status(user["id"], "disabled"),
                            color_scheme="red",
                            variant="soft",
                            size="1",
                        ),
                        rx.button(
                            t("admin.enable"),
                            on_click=AdminState.set_user_status(user["id"], "active"),
                            color_scheme="green",
                            variant="soft",
                            size="1",
                        ),
                    ),
                    rx.cond(
                        user["mfa"] == "yes",
                        rx.button(
                            t("admin.reset_mfa"), on_click=AdminState.reset_mfa(user["id"]), variant="soft", size="1"
                        ),
                    ),
                    spacing="2",
                ),
            )
        ),
        data_email=user["email"],
    )


def _users_tab() -> rx.Component:
    return rx.table.root(
        headers(
            "admin.email",
            "admin.display_name",
            "admin.status",
            "role.platform_admin",
            "admin.mfa",
            "admin.locked",
            "admin.tenants",
            "admin.last_login",
            "",
        ),
        rx.table.body(rx.foreach(AdminState.users, _user_row)),
        variant="surface",
        width="100%",
        id="user-list",
    )


# the page ---------------------------------------------------------------------------------------


def _tab(value: str, icon: str) -> rx.Component:
    return rx.tabs.trigger(rx.hstack(rx.icon(icon, size=14), t(f"admin.tab.{value}"), spacing="2"), value=value)


def _tabs() -> rx.Component:
    return rx.tabs.root(
        rx.tabs.list(
            rx.cond(AuthState.is_platform_admin, _tab("tenants", "building-2")),
            rx.cond(AdminState.may_members, _tab("members", "users")),
            rx.cond(AuthState.is_platform_admin, _tab("users", "user-cog")),
            rx.cond(AdminState.may_edit_members, _tab("keys", "key-round")),
            _tab("permissions", "table-2"),
            rx.cond(AdminState.may_audit, _tab("audit", "scroll-text")),
        ),
        rx.tabs.content(_tenants_tab(), value="tenants", padding_top="20px"),
        rx.tabs.content(_members_tab(), value="members", padding_top="20px"),
        rx.tabs.content(_users_tab(), value="users", padding_top="20px"),
        rx.tabs.content(
            rx.vstack(
                rx.text(t("admin.keys_intro"), size="2", color=rx.color("gray", 11)),
                key_panel(show_owner=True),
                spacing="4",
                width="100%",
            ),
            value="keys",
            padding_top="20px",
        ),
        rx.tabs.content(permissions_tab(), value="permissions", padding_top="20px"),
        rx.tabs.content(audit_tab(), value="audit", padding_top="20px"),
        value=AdminState.tab,
        on_change=AdminState.set_tab,
        width="100%",
        id="admin-tabs",
    )


def admin() -> rx.Component:
    return page_shell(
        "admin.title",
        rx.cond(
            AuthState.can_administer,
            _tabs(),
            rx.callout(t("admin.not_allowed"), icon="lock", color_scheme="amber", width="100%"),
        ),
    )
