"""The one exception hierarchy of redrain.

Every error redrain raises on purpose derives from :class:`RedrainError` and
carries a stable snake_case ``code``. Lower layers (domain, Redis, database)
raise these; the HTTP edge maps each class to a status once (``app.api``) and
the CLI prints ``message`` on one line. Library errors are translated where
they are caught, with ``raise X from exc``.

    RedrainError
     ├── ConfigError          bad settings; start-up stops
     ├── InvalidRequest       400 malformed request (bad JSON, bad header)
     ├── ValidationFailed     422 well-formed but invalid (names the field)
     ├── PayloadTooLarge      413
     ├── Unauthorized         401 missing, forged or expired credentials
     ├── Forbidden            403 authenticated but not allowed
     ├── NotFound             404
     ├── Conflict             409 state does not allow it (round closed, ...)
     ├── LimitReached         429 a limit refuses it (retry_after when known)
     ├── Unavailable          503 Redis or the database cannot be reached
     ├── BadGateway           502 an upstream service (WeChat) failed or timed out
     └── Rejected             the database refused data (a bug or bad data; not retried)
"""

from __future__ import annotations

from typing import Any


class RedrainError(Exception):
    """Base class. ``details`` are extra JSON-safe fields for the error body."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class ConfigError(RedrainError):
    code = "invalid_setting"


class InvalidRequest(RedrainError):
    code = "invalid_request"


class ValidationFailed(RedrainError):
    code = "validation_error"


class PayloadTooLarge(RedrainError):
    code = "payload_too_large"


class Unauthorized(RedrainError):
    code = "unauthorized"


class Forbidden(RedrainError):
    code = "forbidden"


class NotFound(RedrainError):
    code = "not_found"


class Conflict(RedrainError):
    code = "conflict"


class LimitReached(RedrainError):
    """A limit refused the request; ``retry_after`` is whole seconds, or None."""

    code = "limit_reached"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after: int | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, code=code, **details)
        self.retry_after = retry_after


class Unavailable(RedrainError):
    code = "unavailable"


class Rejected(RedrainError):
    code = "rejected"


class BadGateway(RedrainError):
    code = "upstream_unavailable"
