"""Where the builder's select fields get their choices (NODE_SPECS' ``options_source``): the
tenant's model services, knowledge bases and tools (read by backend.services.agents.views),
as the ``{value, label}`` rows the side panel lists."""

from __future__ import annotations

from backend.services.agents.views import Choice, SettingChoices


def _rows(choices: list[Choice]) -> list[dict[str, str]]:
    return [{"value": c.value, "label": c.label} for c in choices]


def setting_options(choices: SettingChoices) -> dict[str, list[dict[str, str]]]:
    return {
        "deployments": _rows(choices.deployments),
        "knowledge_bases": _rows(choices.knowledge_bases),
        "tools": _rows(choices.tools),
    }
