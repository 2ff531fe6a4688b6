"""Per-browser preferences kept in local storage: the UI language."""

import reflex as rx

from backend.settings import get_settings

LANGUAGES = ("zh", "en")


class PreferencesState(rx.State):
    lang: str = rx.LocalStorage(get_settings().ui_language, name="medai_lang", sync=True)

    @rx.event
    def set_language(self, lang: str | list[str]) -> None:
        chosen = lang if isinstance(lang, str) else lang[0]
        if chosen in LANGUAGES:
            self.lang = chosen
