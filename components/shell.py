"""The layout every page sits in: sidebar with the areas, header with tenant switcher,
language switch, theme toggle and user menu."""

import reflex as rx

from components.i18n import t, t_choice
from components.navigation import AREAS, Area
from state.auth import AuthState, Role
from state.preferences import PreferencesState


def _nav_item(area: Area) -> rx.Component:
    active = rx.State.router.page.path == area.route
    link = rx.link(
        rx.hstack(rx.icon(area.icon, size=18), rx.text(t(area.key), size="3"), align="center", spacing="3"),
        href=area.route,
        underline="none",
        padding_x="12px",
        padding_y="8px",
        border_radius="8px",
        width="100%",
        color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 11)),
        background=rx.cond(active, rx.color("accent", 3), "transparent"),
        _hover={"background": rx.color("gray", 3)},
        id=f"nav-{area.route.strip('/') or 'home'}",
    )
    if area.former:  # links and scripts written for the old name (#nav-research) still find the entry
        link = rx.box(link, id=f"nav-{area.former}", width="100%")
    return rx.cond(AuthState.can_administer, link) if area.admin_only else link


def sidebar() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.icon("hospital", size=26, color=rx.color("accent", 9)),
            rx.vstack(
                rx.heading("MedAI Studio", size="4"),
                rx.text(t("app.tagline"), size="1", color=rx.color("gray", 10)),
                spacing="0",
            ),
            align="center",
            padding_bottom="16px",
        ),
        *[_nav_item(area) for area in AREAS],
        rx.spacer(),
        rx.link(
            rx.hstack(rx.icon("book-open", size=16), rx.text(t("nav.api_docs"), size="2")),
            href="/docs",
            is_external=True,
            color=rx.color("gray", 10),
        ),
        width="232px",
        min_width="232px",
        height="100vh",
        position="sticky",
        top="0",
        padding="20px 14px",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
        spacing="1",
        id="sidebar",
    )


def _tenant_item(tenant: rx.Var) -> rx.Component:
    return rx.select.item(
        rx.cond(tenant["status"] == "active", tenant["name"], tenant["name"] + " ⏸"),
        value=tenant["id"],
    )


def tenant_switcher() -> rx.Component:
    """The tenants the person belongs to (platform admins: every tenant); choosing one acts in it."""
    return rx.cond(
        AuthState.tenants.length() > 0,
        rx.select.root(
            rx.select.trigger(placeholder=t("header.pick_tenant"), id="tenant-switcher", aria_label=t("header.tenant")),
            rx.select.content(rx.foreach(AuthState.tenants, _tenant_item)),
            value=AuthState.tenant_id,
            on_change=AuthState.switch_tenant,
        ),
        rx.badge(
            rx.icon("building-2", size=14), t("header.no_tenant"), variant="soft", color_scheme="gray", id="no-tenant"
        ),
    )


def language_switch() -> rx.Component:
    return rx.segmented_control.root(
        rx.segmented_control.item("中文", value="zh"),
        rx.segmented_control.item("EN", value="en"),
        value=PreferencesState.lang,
        on_change=PreferencesState.set_language,
        size="1",
        id="language-switch",
        aria_label=t("header.language"),
    )


def theme_toggle() -> rx.Component:
    return rx.icon_button(
        rx.color_mode_cond(light=rx.icon("moon", size=16), dark=rx.icon("sun", size=16)),
        on_click=rx.toggle_color_mode,
        variant="ghost",
        id="theme-toggle",
        title=t("header.theme"),
        aria_label=t("header.theme"),
    )


def _role_label() -> rx.Component:
    return rx.cond(
        AuthState.is_platform_admin,
        t("role.platform_admin"),
        rx.cond(AuthState.role != "", t_choice("role", AuthState.role, [r.value for r in Role]), t("header.no_role")),
    )


def user_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.icon("circle-user", size=18),
                rx.cond(AuthState.signed_in, AuthState.user_name, t("user.guest")),
                rx.icon("chevron-down", size=14),
                variant="ghost",
                id="user-menu",
            )
        ),
        rx.menu.content(
            rx.box(
                rx.text(AuthState.tenant_name, size="1", weight="bold"),
                rx.text(_role_label(), size="1", color=rx.color("gray", 11), id="user-role"),
                padding="4px 12px",
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("user-cog", size=14), t("user.account"), on_click=rx.redirect("/account"), id="menu-account"
            ),
            rx.menu.item(
                rx.icon("log-out", size=14), t("user.sign_out"), on_click=AuthState.sign_out, id="menu-sign-out"
            ),
        ),
    )


def header(title_key: str) -> rx.Component:
    return rx.hstack(
        rx.heading(t(title_key), size="6"),
        rx.spacer(),
        tenant_switcher(),
        language_switch(),
        theme_toggle(),
        user_menu(),
        align="center",
        spacing="4",
        width="100%",
        padding="16px 28px",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
    )


def _waiting() -> rx.Component:
    """What a page shows until the session is confirmed: nothing of its content."""
    return rx.center(rx.spinner(size="3"), height="100vh", width="100%", id="page-waiting")


def page_shell(title_key: str, *children: rx.Component, during_password_change: bool = False) -> rx.Component:
    """Sidebar, header and the page; shown only to a signed-in person (the on_load guard sends
    everyone else to the sign-in page, and anyone with a temporary password to the account page)."""
    ready = AuthState.signed_in if during_password_change else AuthState.signed_in & ~AuthState.must_change_password
    return rx.cond(
        ready,
        rx.hstack(
            sidebar(),
            rx.vstack(
                header(title_key),
                rx.box(*children, padding="24px 28px", width="100%"),
                width="100%",
                spacing="0",
            ),
            spacing="0",
            width="100%",
            align="start",
        ),
        _waiting(),
    )
