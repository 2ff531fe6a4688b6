"""How errors reach a user: a toast with the reason, the remedy and the code."""

import reflex as rx

from backend.errors import as_medai_error


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
