"""The Reflex app: theme, pages, the REST API and the lifespan tasks (migration check, controller)."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import reflex as rx

import backend.api
from backend.errors import MedAIError
from backend.runtime import configure_logging, get_runtime
from backend.settings import get_settings
from pages.account import account
from pages.admin import admin
from pages.auth import login
from pages.home import home
from state.account import AccountState
from state.admin import AdminState
from state.api_keys import ApiKeysState
from state.audit import AuditState
from state.auth import AuthState
from state.feedback import error_toast
from state.home import HomeState

logger = logging.getLogger("medai")
configure_logging(get_settings())


@asynccontextmanager
async def platform_lifespan() -> AsyncIterator[None]:
    """Refuse to serve an unmigrated database; run the controller while the server runs."""
    try:
        async with get_runtime().serving():
            yield
    except MedAIError as error:
        logger.critical("%s %s", error.message, error.remedy)
        raise RuntimeError(f"{error.code.value}: {error.message} {error.remedy}") from None


app = rx.App(
    api_transformer=backend.api.app,
    backend_exception_handler=error_toast,
    head_components=[rx.el.meta(name="description", content="MedAI Studio: medical large-model platform")],
)
app.register_lifespan_task(platform_lifespan)
# Every page but /login starts with the sign-in guard; the page's own loader comes after it.
app.add_page(login, route="/login", title="Sign in · MedAI Studio", on_load=AuthState.open_login)
app.add_page(home, route="/", title="MedAI Studio", on_load=[AuthState.require_sign_in, HomeState.refresh])
app.add_page(
    account,
    route="/account",
    title="Account · MedAI Studio",
    on_load=[AuthState.require_sign_in, AccountState.load, ApiKeysState.load_personal],
)
app.add_page(
    admin,
    route="/admin",
    title="Administration · MedAI Studio",
    on_load=[AuthState.require_sign_in, AdminState.load, ApiKeysState.load_tenant, AuditState.load],
)
