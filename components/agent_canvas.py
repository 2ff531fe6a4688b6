"""The agent builder's canvas: assets/agent_canvas.jsx (React Flow 12 with a palette, undo/redo,
copy/paste, dagre auto-layout and validation marks) wrapped as a Reflex component.

The canvas keeps the graph's structure in the browser while it is edited and sends each committed
change (drop, connect, delete, drag end, paste, layout, undo/redo) as one debounced ``on_change``
with the whole graph in React Flow's JSON; ``on_select`` names the node whose settings the side
panel shows. ``patch`` (``{seq, node_id, data}``) carries settings edited in the side panel back
to the canvas, and a new ``revision`` replaces the whole graph (load, rollback, template)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.components.component import NoSSRComponent
from reflex.event import EventHandler, passthrough_event_spec

from components.i18n import TEXT

XYFLOW = "@xyflow/react@12.12.1"
DAGRE = "@dagrejs/dagre@3.1.3"
SOURCE = "$/public/agent_canvas.jsx"  # assets/agent_canvas.jsx, as Reflex copies it into .web/public

# The texts the canvas draws itself (its toolbar and palette), by the keys the JSX reads.
CANVAS_TEXT_KEYS = {
    "palette": "agents.canvas.palette",
    "undo": "agents.canvas.undo",
    "redo": "agents.canvas.redo",
    "copy": "agents.canvas.copy",
    "paste": "agents.canvas.paste",
    "layout": "agents.canvas.layout",
    "minimap": "agents.canvas.minimap",
}


def canvas_labels(lang: str) -> dict[str, str]:
    """The canvas's own texts in ``lang`` ("en" or "zh")."""
    column = 1 if lang == "zh" else 0
    return {name: TEXT[key][column] for name, key in CANVAS_TEXT_KEYS.items()}


class AgentCanvas(NoSSRComponent):
    """React Flow canvas for agent graphs (rendered in the browser only)."""

    library = SOURCE
    tag = "AgentCanvas"
    lib_dependencies: list[str] = [XYFLOW, DAGRE]  # noqa: RUF012 (a Reflex component field)

    graph: rx.Var[dict[str, Any]]
    revision: rx.Var[int]
    specs: rx.Var[list[dict[str, Any]]]
    problems: rx.Var[list[dict[str, Any]]]
    lang: rx.Var[str]
    labels: rx.Var[dict[str, str]]
    patch: rx.Var[dict[str, Any]]
    color_mode: rx.Var[str]

    on_change: EventHandler[passthrough_event_spec(dict)]
    on_select: EventHandler[passthrough_event_spec(str)]


agent_canvas = AgentCanvas.create
