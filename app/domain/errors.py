"""The one exception hierarchy of redrain.

Every error redrain raises on purpose derives from :class:`RedrainError` and
carries a stable snake_case ``code``. Lower layers (domain, Redis, database,
upstream services) raise these; library errors are translated where they are
caught, with ``raise X from exc``; the HTTP edge maps each class to its
status, and ``retry_after`` to a ``Retry-After`` header, in one place
(``app/http/errors.py``, as Starlette keeps ``HTTPException`` at the web
layer and httpx's exceptions carry no status), and the CLI prints
``message`` on one line. Catch by category with the mid-level bases (as
httpx's ``TransportError``); the statuses the edge gives are shown::

    RedrainError                      500 error
     ├── ConfigError                  500 invalid_setting   bad settings or install; start-up stops
     ├── ClientError                  4xx the request is at fault; nothing changed
     │    ├── InvalidRequest          400 malformed request (bad JSON, bad header)
     │    ├── Unauthorized            401 missing, forged or expired credentials
     │    ├── Forbidden               403 authenticated but not allowed
     │    ├── NotFound                404
     │    ├── Conflict                409 state does not allow it (round closed, ...)
     │    ├── PayloadTooLarge         413
     │    ├── UnsupportedMediaType    415 a body sent as something other than JSON
     │    ├── ValidationFailed        422 well-formed but invalid (names the field)
     │    ├── HeadersTooLarge         431 too many request headers, or too long
     │    └── LimitReached            429 a limit refuses it (retry_after when known)
     ├── DependencyError              5xx something redrain depends on failed; retry later
     │    ├── BadGateway              502 an upstream service (WeChat) failed or timed out
     │    ├── Unavailable             503 Redis or the database cannot be reached
     │    └── Busy                    503 busy: past this worker's capacity (admission)
     └── InternalError                500 a bug or bad data: logged, never retried blindly
          ├── Rejected                    the database refused data
          │    └── Duplicate              a unique key refused a row
          ├── MalformedEntry              a ledger stream entry that can never become a row
          └── ContractError               a script answered outside its documented contract

Imports nothing else from the package.
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

    # Seconds after which a retry may succeed, when known (the edge sends it
    # as Retry-After).
    retry_after: int | None = None


class ConfigError(RedrainError):
    """A setting is missing or invalid; ``message`` is one line naming it."""

    code = "invalid_setting"


class ClientError(RedrainError):
    """The request is at fault; nothing changed."""


class InvalidRequest(ClientError):
    code = "invalid_request"


class Unauthorized(ClientError):
    code = "unauthorized"


class Forbidden(ClientError):
    code = "forbidden"


class NotFound(ClientError):
    code = "not_found"


class Conflict(ClientError):
    code = "conflict"


class PayloadTooLarge(ClientError):
    code = "payload_too_large"


class UnsupportedMediaType(ClientError):
    code = "unsupported_media_type"


class HeadersTooLarge(ClientError):
    code = "headers_too_large"


class ValidationFailed(ClientError):
    code = "validation_error"


class LimitReached(ClientError):
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


class DependencyError(RedrainError):
    """Something redrain depends on failed; a retry later may succeed."""


class BadGateway(DependencyError):
    code = "upstream_unavailable"


class Unavailable(DependencyError):
    code = "unavailable"
    retry_after = 1


class Busy(DependencyError):
    """Refused before any work: the worker is past its capacity (docs/api.md)."""

    code = "busy"

    def __init__(
        self, retry_after: int = 1, message: str = "too many draws right now; retry after a moment"
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InternalError(RedrainError):
    code = "internal_error"


class Rejected(InternalError):
    code = "rejected"


class Duplicate(Rejected):
    code = "duplicate"


class MalformedEntry(InternalError):
    code = "malformed_entry"


class ContractError(InternalError):
    code = "internal_error"
