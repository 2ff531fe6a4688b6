"""Agent tools: built-ins (ICD-10 lookup, clinical unit converter) and the tenant's custom HTTP
tools (from a form or an OpenAPI document), with their auth secret sealed; the hosts a tenant
registered are the only ones a tool call may reach; every call has a timeout.

A tool is named in graphs and chat agents by reference: ``builtin:<name>`` or the custom tool's id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from sqlmodel import Session, select

from backend.adapters.envelope import KeyRing
from backend.errors import ErrorCode, MedAIError
from backend.models import AgentAllowedHost, AgentTool
from backend.models.base import utcnow
from backend.services.agents import icd10 as agent_icd10
from backend.services.agents import units as agent_units
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, in_tenant
from backend.services.identity.permissions import Action, Area

BUILTIN_PREFIX = "builtin:"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_RESPONSE_CHARS = 20_000
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,253})(:[0-9]{1,5})?$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class BuiltinTool:
    name: str
    description: str
    parameters: dict[str, Any]
    call: Callable[[dict[str, Any]], Any]


BUILTINS: dict[str, BuiltinTool] = {
    tool.name: tool
    for tool in (
        BuiltinTool(
            "icd10_lookup",
            "Look up ICD-10 codes by code prefix or by words of the disease name (English or Chinese).",
            {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "A code such as E11, or words such as 'diabetes'"},
                    "limit": {"type": "integer", "description": "Most matches to return", "default": 10},
                },
                "required": ["query"],
            },
            agent_icd10.lookup_tool,
        ),
        BuiltinTool(
            "unit_convert",
            "Convert clinical units: glucose/cholesterol/creatinine... mg/dL <-> mmol/L or umol/L, "
            "HbA1c % <-> mmol/mol, kg <-> lb, cm <-> in, C <-> F.",
            {
                "type": "object",
                "properties": {
                    "value": {"type": "number"},
                    "from_unit": {"type": "string", "description": "e.g. mg/dL"},
                    "to_unit": {"type": "string", "description": "e.g. mmol/L"},
                    "analyte": {"type": "string", "description": "for concentrations, e.g. glucose"},
                },
                "required": ["value", "from_unit", "to_unit"],
            },
            agent_units.convert_tool,
        ),
    )
}


@dataclass(frozen=True)
class ToolInfo:
    """One tool as pickers and models see it."""

    ref: str  # builtin:<name> or the tool's id
    name: str
    description: str
    parameters: dict[str, Any]
    builtin: bool


@dataclass(frozen=True)
class ToolSpec:
    name: str
    url: str
    method: str = "GET"
    description: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)  # JSON schema of the arguments
    auth_header: str = ""
    auth_secret: str | None = None  # None keeps the stored one on update; "" removes it
    timeout_s: float = 10.0


def _audit(
    session: Session, principal: Principal, action: str, kind: str, row_id: str, tenant_id: str, **detail: Any
) -> None:
    audit.record_by(session, principal, action, kind, row_id, tenant_id=tenant_id, **detail)


def host_of(url: str) -> tuple[str, str]:
    """(hostname, hostname:port) of an http(s) URL, lowercase; DATA_INVALID otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MedAIError(ErrorCode.DATA_INVALID, f"'{url[:200]}' is not an http(s) URL.", "Give a full http(s) URL.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname.lower(), f"{parts.hostname.lower()}:{port}"


def _check_spec(spec: ToolSpec) -> None:
    if not _NAME.match(spec.name):
        raise MedAIError(ErrorCode.DATA_INVALID, f"'{spec.name}' is not a valid tool name.", "Use letters, digits, _.")
    if spec.method.upper() not in METHODS:
        raise MedAIError(ErrorCode.DATA_INVALID, f"Method {spec.method} is not supported.", ", ".join(METHODS))
    host_of(spec.url.replace("{", "").replace("}", ""))
    if not 0 < spec.timeout_s <= 300:
        raise MedAIError(ErrorCode.DATA_INVALID, "The timeout must be between 0 and 300 s.", "Fix the timeout.")
    if not isinstance(spec.parameters, dict) or spec.parameters.get("type", "object") != "object":
        raise MedAIError(ErrorCode.DATA_INVALID, "Parameters must be a JSON schema of an object.", "Fix the schema.")
    if spec.auth_secret and not spec.auth_header:
        raise MedAIError(ErrorCode.DATA_INVALID, "A secret needs the header it goes in.", "e.g. Authorization.")


def _context(tool_id: str) -> str:
    return f"agent_tool:{tool_id}"


def _apply(tool: AgentTool, spec: ToolSpec, keys: KeyRing) -> None:
    tool.name, tool.url, tool.method = spec.name, spec.url, spec.method.upper()
    tool.description, tool.headers = spec.description[:1000], dict(spec.headers)
    tool.parameters = spec.parameters or {"type": "object", "properties": {}}
    tool.auth_header, tool.timeout_s, tool.updated_at = spec.auth_header, spec.timeout_s, utcnow()
    if spec.auth_secret is not None:
        tool.auth_secret = keys.seal(spec.auth_secret, _context(tool.id)) if spec.auth_secret else None


def _unique_name(session: Session, tenant_id: str, name: str, own_id: str = "") -> None:
    found = session.exec(select(AgentTool).where(AgentTool.tenant_id == tenant_id, AgentTool.name == name)).first()
    if found is not None and found.id != own_id:
        raise MedAIError(ErrorCode.CONFLICT, f"A tool '{name}' exists.", "Choose another name.")


def create_tool(session: Session, keys: KeyRing, principal: Principal, spec: ToolSpec) -> AgentTool:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.CREATE)
    assert tenant_id is not None
    _check_spec(spec)
    _unique_name(session, tenant_id, spec.name)
    tool = AgentTool(tenant_id=tenant_id, name=spec.name, url=spec.url, created_by=principal.label)
    tool.created_by_id = principal.user_id
    _apply(tool, spec, keys)
    session.add(tool)
    session.flush()
    _audit(session, principal, "agent_tool.create", "agent_tool", tool.id, tenant_id, name=tool.name)
    return tool


def update_tool(session: Session, keys: KeyRing, principal: Principal, tool_id: str, spec: ToolSpec) -> AgentTool:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.UPDATE)
    tool = in_tenant(session, AgentTool, tool_id, tenant_id, "tool", "Reload the tool list.")
    _check_spec(spec)
    _unique_name(session, tool.tenant_id, spec.name, tool.id)
    _apply(tool, spec, keys)
    session.add(tool)
    _audit(session, principal, "agent_tool.update", "agent_tool", tool.id, tool.tenant_id, name=tool.name)
    return tool


def delete_tool(session: Session, principal: Principal, tool_id: str) -> None:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.DELETE)
    tool = in_tenant(session, AgentTool, tool_id, tenant_id, "tool", "Reload the tool list.")
    session.delete(tool)
    _audit(session, principal, "agent_tool.delete", "agent_tool", tool.id, tool.tenant_id, name=tool.name)


def get_tool(session: Session, principal: Principal, tool_id: str) -> AgentTool:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    return in_tenant(session, AgentTool, tool_id, tenant_id, "tool", "Reload the tool list.")


def list_tools(session: Session, principal: Principal) -> list[ToolInfo]:
    """Built-ins, then the tenant's HTTP tools (what the canvas's tool pickers list)."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    assert tenant_id is not None
    return [*builtin_infos(), *(_info(t) for t in _tenant_tools(session, tenant_id))]


def builtin_infos() -> list[ToolInfo]:
    return [ToolInfo(BUILTIN_PREFIX + b.name, b.name, b.description, b.parameters, True) for b in BUILTINS.values()]


def _tenant_tools(session: Session, tenant_id: str) -> list[AgentTool]:
    return list(session.exec(select(AgentTool).where(AgentTool.tenant_id == tenant_id).order_by(AgentTool.name)))


def _info(tool: AgentTool) -> ToolInfo:
    return ToolInfo(tool.id, tool.name, tool.description, tool.parameters, False)


def tool_info(session: Session, tenant_id: str, ref: str) -> ToolInfo:
    """The tool ``ref`` names in ``tenant_id`` (for the runtime, which already authorized the run)."""
    if ref.startswith(BUILTIN_PREFIX):
        builtin = BUILTINS.get(ref.removeprefix(BUILTIN_PREFIX))
        if builtin is None:
            raise MedAIError(ErrorCode.NOT_FOUND, f"No built-in tool '{ref}'.", "Pick a tool from the list.")
        return ToolInfo(ref, builtin.name, builtin.description, builtin.parameters, True)
    tool = session.get(AgentTool, ref)
    if tool is None or tool.tenant_id != tenant_id:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such tool in this tenant.", "Pick a tool from the list.")
    return _info(tool)


# --- the hosts a tenant's tools may reach ---------------------------------------------------


def _normal_host(host: str) -> str:
    text = host.strip().lower()
    if "://" in text:
        text = urlsplit(text).netloc
    if not _HOST.match(text):
        raise MedAIError(ErrorCode.DATA_INVALID, f"'{host[:100]}' is not a host name.", "e.g. api.example.org:8443")
    return text


def list_allowed_hosts(session: Session, principal: Principal) -> list[AgentAllowedHost]:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    query = select(AgentAllowedHost).where(AgentAllowedHost.tenant_id == tenant_id).order_by(AgentAllowedHost.host)
    return list(session.exec(query))


def add_allowed_host(session: Session, principal: Principal, host: str) -> AgentAllowedHost:
    """Let the tenant's tools reach ``host`` (any port) or ``host:port``: a tenant admin's decision."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.APPROVE)
    assert tenant_id is not None
    name = _normal_host(host)
    found = session.exec(
        select(AgentAllowedHost).where(AgentAllowedHost.tenant_id == tenant_id, AgentAllowedHost.host == name)
    ).first()
    if found is not None:
        return found
    row = AgentAllowedHost(tenant_id=tenant_id, host=name, created_by=principal.label)
    session.add(row)
    session.flush()
    _audit(session, principal, "agent_host.allow", "agent_allowed_host", row.id, tenant_id, host=name)
    return row


def remove_allowed_host(session: Session, principal: Principal, host_id: str) -> None:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.APPROVE)
    row = in_tenant(session, AgentAllowedHost, host_id, tenant_id, "allowed host", "Reload the host list.")
    session.delete(row)
    _audit(session, principal, "agent_host.remove", "agent_allowed_host", row.id, row.tenant_id, host=row.host)


def host_allowed(session: Session, tenant_id: str, url: str) -> bool:
    host, host_port = host_of(url)
    registered = set(session.exec(select(AgentAllowedHost.host).where(AgentAllowedHost.tenant_id == tenant_id)))
    return host in registered or host_port in registered


# --- calling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedCall:
    """Everything an HTTP tool call needs, read from the database before the call."""

    name: str
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, Any]
    body: dict[str, Any] | None
    timeout_s: float


def prepare_call(
    session: Session, keys: KeyRing, tenant_id: str, tool_id: str, arguments: dict[str, Any], max_timeout_s: float
) -> PreparedCall:
    """Fill the URL's placeholders, put the rest in the query or the JSON body, add the auth header;
    FORBIDDEN when the resulting host is not registered by the tenant."""
    tool = session.get(AgentTool, tool_id)
    if tool is None or tool.tenant_id != tenant_id:
        raise MedAIError(ErrorCode.NOT_FOUND, "No such tool in this tenant.", "Pick a tool from the list.")
    rest = dict(arguments)
    url = _PLACEHOLDER.sub(lambda m: quote(str(rest.pop(m.group(1), "")), safe=""), tool.url)
    if not host_allowed(session, tenant_id, url):
        raise MedAIError(
            ErrorCode.FORBIDDEN,
            f"Tool '{tool.name}' may not reach {host_of(url)[1]}: the tenant has not registered that host.",
            "Ask a tenant admin to add the host under Agents > Tools > Allowed hosts.",
        )
    headers = {str(k): str(v) for k, v in tool.headers.items()}
    if tool.auth_header and tool.auth_secret:
        headers[tool.auth_header] = keys.open(tool.auth_secret, _context(tool.id))
    with_body = tool.method in ("POST", "PUT", "PATCH")
    return PreparedCall(
        tool.name,
        tool.method,
        url,
        headers,
        {} if with_body else rest,
        rest if with_body else None,
        min(tool.timeout_s, max_timeout_s),
    )


def send(call: PreparedCall) -> Any:
    """Make the HTTP call (no redirects: they could lead to another host); the JSON or text answer."""
    try:
        with httpx.Client(timeout=call.timeout_s, follow_redirects=False, trust_env=False) as client:
            response = client.request(call.method, call.url, headers=call.headers, params=call.params, json=call.body)
    except httpx.TimeoutException as error:
        raise MedAIError(
            ErrorCode.UPSTREAM_TIMEOUT, f"Tool '{call.name}' did not answer in {call.timeout_s:g} s.", "Retry later."
        ) from error
    except httpx.HTTPError as error:
        raise MedAIError(ErrorCode.UPSTREAM_FAILED, f"Tool '{call.name}' could not be reached.", "Check it.") from error
    if response.status_code >= 400:
        raise MedAIError(
            ErrorCode.UPSTREAM_FAILED,
            f"Tool '{call.name}' answered {response.status_code}: {response.text[:300]}",
            "Check the tool's URL, arguments and secret.",
        )
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:MAX_RESPONSE_CHARS]


def call_tool(
    session: Session, keys: KeyRing, tenant_id: str, ref: str, arguments: dict[str, Any], max_timeout_s: float
) -> Any:
    """Run tool ``ref`` of ``tenant_id`` with ``arguments`` (the runtime's way in; it authorized the run)."""
    if ref.startswith(BUILTIN_PREFIX):
        builtin = BUILTINS.get(ref.removeprefix(BUILTIN_PREFIX))
        if builtin is None:
            raise MedAIError(ErrorCode.NOT_FOUND, f"No built-in tool '{ref}'.", "Pick a tool from the list.")
        return builtin.call(arguments)
    return send(prepare_call(session, keys, tenant_id, ref, arguments, max_timeout_s))


def try_tool(
    session: Session, keys: KeyRing, principal: Principal, ref: str, arguments: dict[str, Any], max_timeout_s: float
) -> Any:
    """The tool form's test button: one real call with the given arguments."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.UPDATE)
    assert tenant_id is not None
    tool_info(session, tenant_id, ref)
    _audit(session, principal, "agent_tool.test", "agent_tool", ref, tenant_id)
    return call_tool(session, keys, tenant_id, ref, arguments, max_timeout_s)


# --- OpenAPI ---------------------------------------------------------------------------------


def specs_from_openapi(document: dict[str, Any] | str) -> list[ToolSpec]:
    """One ToolSpec per operation of an OpenAPI 3 document (servers[0] + path; path, query and
    JSON-body parameters merged into one object schema)."""
    doc = json.loads(document) if isinstance(document, str) else document
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise MedAIError(ErrorCode.DATA_INVALID, "This is not an OpenAPI document (no paths).", "Paste OpenAPI 3 JSON.")
    servers = doc.get("servers") or [{}]
    base = str(servers[0].get("url", "")).rstrip("/")
    specs = []
    for path, operations in doc["paths"].items():
        for method, operation in (operations or {}).items():
            if method.upper() not in METHODS or not isinstance(operation, dict):
                continue
            name = re.sub(r"[^A-Za-z0-9_]", "_", operation.get("operationId") or f"{method}_{path}").strip("_")
            specs.append(
                ToolSpec(
                    name=name[:64] or "operation",
                    url=base + path,
                    method=method.upper(),
                    description=str(operation.get("summary") or operation.get("description") or "")[:1000],
                    parameters=_operation_schema(operation),
                )
            )
    return specs


def _operation_schema(operation: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in operation.get("parameters") or []:
        if isinstance(parameter, dict) and parameter.get("in") in ("path", "query") and parameter.get("name"):
            properties[parameter["name"]] = {
                **(parameter.get("schema") or {"type": "string"}),
                "description": parameter.get("description", ""),
            }
            if parameter.get("required"):
                required.append(parameter["name"])
    body = (((operation.get("requestBody") or {}).get("content") or {}).get("application/json") or {}).get("schema")
    if isinstance(body, dict):
        properties.update(body.get("properties") or {})
        required += list(body.get("required") or [])
    return {"type": "object", "properties": properties, "required": required}


def import_openapi(
    session: Session, keys: KeyRing, principal: Principal, document: dict[str, Any] | str
) -> list[AgentTool]:
    """Create one tool per operation; all or none (a name already taken refuses the whole import)."""
    authorize(session, principal, Area.AGENTS, Action.CREATE)
    specs = specs_from_openapi(document)
    if not specs:
        raise MedAIError(ErrorCode.DATA_INVALID, "The document has no operations.", "Check its paths.")
    return [create_tool(session, keys, principal, spec) for spec in specs]  # the caller's rollback undoes all
