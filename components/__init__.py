"""Reusable UI pieces: the layout shell, translations, cards and (later) tables, charts and the agent canvas."""
