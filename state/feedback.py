"""How outcomes reach a user: errors as a toast with the reason, the remedy and the code;
successes as a short toast in the browser's language."""

import reflex as rx

import ui_text
from backend.errors import as_medai_error
from state.preferences import PreferencesState


def error_toast(exception: Exception) -> rx.event.EventSpec:
    """Reflex's backend exception handler: MedAIError as it is, anything else as an incident."""
    error = as_medai_error(exception)
    return rx.toast.error(
        error.message,
        description=f"{error.remedy} ({error.code.value})",
        duration=10000,
        close_button=True,
        position="top-center",
    )


async def text(state: rx.State, key: str) -> str:
    """``ui_text.TEXT[key]`` in the language the browser has chosen, for text a handler composes."""
    preferences = await state.get_state(PreferencesState)
    return ui_text.text(key, preferences.lang)


async def success_toast(state: rx.State, key: str) -> rx.event.EventSpec:
    """A short confirmation of what just happened."""
    return rx.toast.success(await text(state, key), duration=4000, position="top-center")


async def input_toast(state: rx.State, key: str) -> rx.event.EventSpec:
    """A form the page itself can tell is incomplete, before anything reaches a service."""
    return rx.toast.error(await text(state, key), duration=8000, close_button=True, position="top-center")
