"""The Tools tab of /agents: the tenant's custom HTTP tools (a form or an OpenAPI document, with
a test button), the built-in tools, and the hosts tools may reach."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx

from backend.errors import ErrorCode, MedAIError
from backend.services.agents import tools as agent_tools
from backend.services.agents import views as agent_views
from state.auth import AuthState
from state.feedback import error_toast, input_toast, success_toast

FORM_DEFAULTS = {
    "name": "",
    "description": "",
    "method": "GET",
    "url": "",
    "headers": "{}",
    "parameters": '{"type": "object", "properties": {}}',
    "auth_header": "",
    "auth_secret": "",
    "timeout_s": "10",
}


def _json_object(label: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise MedAIError(ErrorCode.DATA_INVALID, f"{label} is not JSON: {error.msg}.", f"Fix {label}.") from None
    if not isinstance(value, dict):
        raise MedAIError(ErrorCode.DATA_INVALID, f"{label} must be a JSON object.", f"Fix {label}.")
    return value


def tool_spec(form: dict[str, str]) -> agent_tools.ToolSpec:
    """The form's text as the spec the tools service checks."""
    try:
        timeout = float(form.get("timeout_s", "10") or 10)
    except ValueError:
        raise MedAIError(ErrorCode.DATA_INVALID, "Timeout must be a number.", "Type seconds, e.g. 10.") from None
    return agent_tools.ToolSpec(
        name=form.get("name", "").strip(),
        url=form.get("url", "").strip(),
        method=form.get("method", "GET"),
        description=form.get("description", "").strip(),
        headers={str(k): str(v) for k, v in _json_object("Headers", form.get("headers", "")).items()},
        parameters=_json_object("Parameters", form.get("parameters", "")),
        auth_header=form.get("auth_header", "").strip(),
        auth_secret=form.get("auth_secret", "") or None,
        timeout_s=timeout,
    )


def tool_row(tool: agent_tools.ToolInfo) -> dict[str, str]:
    return {
        "ref": tool.ref,
        "name": tool.name,
        "description": tool.description,
        "builtin": "yes" if tool.builtin else "",
        "parameters": json.dumps(tool.parameters, ensure_ascii=False),
    }


def _shown(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, indent=2)


class AgentToolsState(AuthState):
    may_edit: bool = False
    tools: list[dict[str, str]] = []
    hosts: list[dict[str, str]] = []
    form: dict[str, str] = dict(FORM_DEFAULTS)
    openapi: str = ""
    new_host: str = ""
    test_ref: str = ""
    test_args: str = "{}"
    test_result: str = ""
    testing: bool = False

    @rx.event
    async def load(self) -> None:
        if not self.signed_in or self.must_change_password or not self.tenant_id:
            self.tools, self.hosts = [], []
            return
        await self._reload()

    async def _reload(self) -> None:
        found = await self._as_user(lambda _rt, session, principal: agent_views.tools_view(session, principal))
        self.may_edit = found.may_edit
        self.tools = [tool_row(t) for t in found.tools]
        self.hosts = [{"id": h.id, "host": h.host} for h in found.hosts]

    @rx.event
    def set_field(self, key: str, value: str) -> None:
        if key in FORM_DEFAULTS:
            self.form = {**self.form, key: value}

    @rx.event
    def set_openapi(self, text: str) -> None:
        self.openapi = text

    @rx.event
    def set_new_host(self, text: str) -> None:
        self.new_host = text

    @rx.event
    def set_test_args(self, text: str) -> None:
        self.test_args = text

    @rx.event
    def pick_test(self, ref: str) -> None:
        self.test_ref, self.test_result = ref, ""

    @rx.event
    async def create(self):  # noqa: ANN201 (Reflex event generator)
        if not self.form["name"].strip() or not self.form["url"].strip():
            yield await input_toast(self, "agents.incomplete")
            return
        form = dict(self.form)
        await self._as_user(
            lambda rt, session, principal: agent_tools.create_tool(session, rt.keys, principal, tool_spec(form))
        )
        self.form = dict(FORM_DEFAULTS)
        await self._reload()
        yield await success_toast(self, "agents.tools.created")

    @rx.event
    async def import_openapi(self):  # noqa: ANN201 (Reflex event generator)
        document = self.openapi
        await self._as_user(
            lambda rt, session, principal: agent_tools.import_openapi(session, rt.keys, principal, document)
        )
        self.openapi = ""
        await self._reload()
        yield await success_toast(self, "agents.tools.created")

    @rx.event
    async def delete(self, tool_id: str) -> None:
        await self._as_user(lambda _rt, session, principal: agent_tools.delete_tool(session, principal, tool_id))
        await self._reload()

    @rx.event
    async def test(self):  # noqa: ANN201 (Reflex event generator)
        ref, text = self.test_ref, self.test_args
        self.testing, self.test_result = True, ""
        yield
        try:
            arguments = _json_object("Arguments", text)
            result = await self._as_user(
                lambda rt, session, principal: agent_tools.try_tool(
                    session, rt.keys, principal, ref, arguments, rt.settings.agent_tool_timeout_s
                )
            )
        except Exception as error:  # the reason shows beside the button and as a toast
            self.testing, self.test_result = False, str(getattr(error, "message", error))
            yield error_toast(error)
            return
        self.testing, self.test_result = False, _shown(result)

    @rx.event
    async def add_host(self):  # noqa: ANN201 (Reflex event generator)
        host = self.new_host.strip()
        if not host:
            return
        await self._as_user(lambda _rt, session, principal: agent_tools.add_allowed_host(session, principal, host))
        self.new_host = ""
        await self._reload()

    @rx.event
    async def remove_host(self, host_id: str) -> None:
        await self._as_user(
            lambda _rt, session, principal: agent_tools.remove_allowed_host(session, principal, host_id)
        )
        await self._reload()
