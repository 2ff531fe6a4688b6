"""Reflex states: one per page, all under ``state.auth.AuthState``. They read inputs, call
one service and keep what the page shows: no SQL, HTTP or file I/O here."""
