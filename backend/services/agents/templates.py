"""Starter agents as JSON graphs (backend/agent_templates/*.json): a triage assistant, a
discharge-summary writer and a guideline Q&A with citations. Installing one makes an agent whose
draft is the template, with the model and knowledge bases the user picks filled in."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from backend.errors import ErrorCode, MedAIError

FOLDER = Path(__file__).resolve().parents[2] / "agent_templates"


@dataclass(frozen=True)
class AgentTemplate:
    id: str
    name_en: str
    name_zh: str
    description_en: str
    description_zh: str
    mode: str
    graph: dict[str, Any]


@lru_cache(maxsize=1)
def _load() -> tuple[AgentTemplate, ...]:
    found = []
    for path in sorted(FOLDER.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        found.append(AgentTemplate(**{k: raw[k] for k in AgentTemplate.__dataclass_fields__}))
    return tuple(found)


def list_templates() -> list[AgentTemplate]:
    return list(_load())


def template_graph(template_id: str, model: str = "", knowledge_base_ids: tuple[str, ...] = ()) -> AgentTemplate:
    """A copy of the template with blank model and knowledge-base settings filled in."""
    template = next((t for t in _load() if t.id == template_id), None)
    if template is None:
        raise MedAIError(ErrorCode.NOT_FOUND, f"No template '{template_id}'.", "Pick one from the template list.")
    graph = copy.deepcopy(template.graph)
    for node in graph["nodes"]:
        data = node.setdefault("data", {})
        if "model" in data and not data["model"] and model:
            data["model"] = model
        if "knowledge_bases" in data and not data["knowledge_bases"] and knowledge_base_ids:
            data["knowledge_bases"] = list(knowledge_base_ids)
    return AgentTemplate(**{**template.__dict__, "graph": graph})
