"""The one place errors become responses.

Every error body is ``{"error": {"code", "message", ...}}``; no stack traces,
no HTML. The status of each kind of :class:`RedrainError` is given here,
once (``STATUS``: the most specific class listed wins), and its
``retry_after`` becomes ``Retry-After``; an ``InternalError`` (a bug or bad
data) is logged with its traceback and shown as a bare 500, like any
unexpected exception.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.domain.errors import (
    BadGateway,
    Busy,
    ClientError,
    Conflict,
    DependencyError,
    Forbidden,
    HeadersTooLarge,
    InternalError,
    InvalidRequest,
    LimitReached,
    NotFound,
    PayloadTooLarge,
    RedrainError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)

log = logging.getLogger("redrain.http")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
INTERNAL = {"error": {"code": "internal_error", "message": "internal error"}}

STATUS: dict[type[RedrainError], int] = {
    RedrainError: 500,
    ClientError: 400,
    InvalidRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ValidationFailed: 422,
    LimitReached: 429,
    HeadersTooLarge: 431,
    DependencyError: 503,
    BadGateway: 502,
    Unavailable: 503,
    Busy: 503,
}


def status_of(exc: RedrainError) -> int:
    """The HTTP status of ``exc``: its nearest class in ``STATUS``."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def headers_of(exc: RedrainError) -> dict[str, str]:
    return {} if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(exc: RedrainError) -> JSON:
    if isinstance(exc, InternalError):
        log.error("internal error: %s", exc.message, exc_info=exc)
        return JSON(INTERNAL, status_code=500)
    if isinstance(exc, Unavailable):
        log.warning("unavailable: %s (%r)", exc.message, exc.__cause__)
    body = {"error": {"code": exc.code, "message": exc.message, **exc.details}}
    return JSON(body, status_code=status_of(exc), headers=headers_of(exc))


async def on_redrain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RedrainError)
    return error_response(exc)


async def on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSON(
        {"error": {"code": code, "message": message}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


# An exception none of these handles is logged once and answered by
# ``app.http.middleware.Outcomes``.
EXCEPTION_HANDLERS = {
    RedrainError: on_redrain_error,
    HTTPException: on_http_error,
}
