"""Variables passed by reference between agent nodes: ``{{start.question}}``, ``{{llm_1.output}}``,
``{{code_1.output.score}}``, ``{{sys.query}}``. A reference to a node that did not run (another
branch) reads as empty."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from backend.errors import ErrorCode, MedAIError
from backend.services.agents.nodes import REFERENCE, SYSTEM

Scope = dict[str, dict[str, Any]]  # node id (and "sys") -> that node's outputs
_TEMPLATES = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=True)


def lookup(scope: Scope, node_id: str, path: list[str]) -> Any:
    value: Any = scope.get(node_id)
    for key in path:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render(text: str, scope: Scope) -> str:
    """``text`` with every reference replaced by its value as text."""
    return REFERENCE.sub(lambda m: as_text(lookup(scope, m.group(1), m.group(2).split(".")[1:])), text)


def resolve(value: Any, scope: Scope) -> Any:
    """A setting's value with references filled in; a string that is exactly one reference keeps
    the referenced value's type (a number stays a number, a dict a dict); dicts and lists recurse."""
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value.strip())
        if whole:
            return lookup(scope, whole.group(1), whole.group(2).split(".")[1:])
        return render(value, scope)
    if isinstance(value, dict):
        return {k: resolve(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, scope) for v in value]
    return value


def render_template(template: str, scope: Scope) -> str:
    """A template node: Jinja in a sandbox, the nodes' outputs as variables (``{{ llm_1.output }}``)."""
    try:
        return _TEMPLATES.from_string(template).render({**scope, SYSTEM: scope.get(SYSTEM, {})})
    except TemplateError as error:
        raise MedAIError(ErrorCode.TASK_FAILED, f"The template failed: {error}", "Fix the template.") from error
