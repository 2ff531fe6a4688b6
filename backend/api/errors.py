"""Every error leaves the API as ``{"error": {"code", "message", "remedy"}}``, never a trace."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.errors import ErrorCode, MedAIError, as_medai_error

_HTTP_CODES = {
    400: ErrorCode.DATA_INVALID,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.DATA_INVALID,
    409: ErrorCode.CONFLICT,
    429: ErrorCode.RATE_LIMITED,
}


def error_response(error: MedAIError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s is not None else None
    if error.http_status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(status_code=error.http_status, content=error.to_payload(), headers=headers)


async def _medai_error(_request: Request, exc: Exception) -> JSONResponse:
    return error_response(as_medai_error(exc))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for item in exc.errors()[:5]:
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
    message = "The request is invalid: " + "; ".join(problems)
    return error_response(
        MedAIError(ErrorCode.DATA_INVALID, message, "Fix the named fields and send the request again.")
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.INTERNAL if exc.status_code >= 500 else ErrorCode.DATA_INVALID)
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
    return error_response(MedAIError(code, detail, http_status=exc.status_code))


def install_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(MedAIError, _medai_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(Exception, _medai_error)


unknown_path_router = APIRouter(include_in_schema=False)


@unknown_path_router.api_route("/api/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@unknown_path_router.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def _unknown_path(request: Request) -> JSONResponse:
    return error_response(
        MedAIError(
            ErrorCode.NOT_FOUND,
            f"No endpoint {request.method} {request.url.path}.",
            "Check the path against /openapi.json.",
        )
    )
