"""The one error type of the platform: a stable code, a reason and a remedy.

Services raise ``MedAIError``; the REST API turns it into
``{"error": {"code", "message", "remedy"}}`` with its HTTP status and the UI into a toast.
Anything else that escapes is logged with its stack trace and shown to the user as an
``INTERNAL`` error carrying an incident id, never as a trace.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum

logger = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    """Stable codes; clients may switch on them, so never rename one."""

    DATA_INVALID = "DATA_INVALID"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    RESOURCE_INSUFFICIENT = "RESOURCE_INSUFFICIENT"
    TASK_FAILED = "TASK_FAILED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    DB_NOT_MIGRATED = "DB_NOT_MIGRATED"
    CONFIG_INVALID = "CONFIG_INVALID"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True)
class _CodeDefaults:
    status: int
    remedy: str


_DEFAULTS: dict[ErrorCode, _CodeDefaults] = {
    ErrorCode.DATA_INVALID: _CodeDefaults(422, "Correct the input as the message says and submit it again."),
    ErrorCode.NOT_FOUND: _CodeDefaults(404, "Check the identifier, or that it belongs to your current tenant."),
    ErrorCode.CONFLICT: _CodeDefaults(409, "Reload to see the current state, then try again."),
    ErrorCode.UNAUTHENTICATED: _CodeDefaults(401, "Sign in again, or send a valid API key as a Bearer token."),
    ErrorCode.FORBIDDEN: _CodeDefaults(403, "Ask a tenant admin for a role that allows this action."),
    ErrorCode.RATE_LIMITED: _CodeDefaults(429, "Wait a moment and retry, or ask an admin to raise the limit."),
    ErrorCode.RESOURCE_INSUFFICIENT: _CodeDefaults(
        503, "Wait for resources to free up, lower the request, or ask an admin to raise the quota or priority."
    ),
    ErrorCode.TASK_FAILED: _CodeDefaults(
        500, "Read the task log for the reason, fix it and retry; resumable tasks restart from their last checkpoint."
    ),
    ErrorCode.UPSTREAM_FAILED: _CodeDefaults(
        502, "Retry; if it persists, check the upstream service's status or its standby."
    ),
    ErrorCode.UPSTREAM_TIMEOUT: _CodeDefaults(
        504, "Retry later; if it persists, check the upstream service's load or its standby."
    ),
    ErrorCode.DB_NOT_MIGRATED: _CodeDefaults(503, "Run `medai db upgrade`, then start the app again."),
    ErrorCode.CONFIG_INVALID: _CodeDefaults(500, "Correct the MEDAI_ setting named in the message and restart."),
    ErrorCode.INTERNAL: _CodeDefaults(500, "Retry; if it persists, report the incident id to an administrator."),
}


class MedAIError(Exception):
    """An error a user can act on: what failed (code, message) and what to do (remedy)."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        remedy: str | None = None,
        http_status: int | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        defaults = _DEFAULTS[code]
        self.code = code
        self.message = message
        self.remedy = remedy or defaults.remedy
        self.http_status = http_status or defaults.status
        self.retry_after_s = retry_after_s  # RATE_LIMITED: seconds until a retry can succeed

    def to_payload(self) -> dict[str, dict[str, str]]:
        """The JSON body the API returns."""
        return {"error": {"code": self.code.value, "message": self.message, "remedy": self.remedy}}

    def __repr__(self) -> str:
        return f"MedAIError({self.code.value}, {self.message!r})"


def as_medai_error(exc: BaseException) -> MedAIError:
    """Return ``exc`` itself when it is a MedAIError; otherwise log it and hide its details."""
    if isinstance(exc, MedAIError):
        return exc
    incident = uuid.uuid4().hex[:12]
    logger.error("incident %s: unexpected %s", incident, type(exc).__name__, exc_info=exc)
    return MedAIError(
        ErrorCode.INTERNAL,
        f"An unexpected error occurred (incident {incident}).",
    )
