"""The one place errors become responses."""

from __future__ import annotations

import logging

import orjson
import pytest

from app.domain.errors import (
    Conflict,
    ContractError,
    Forbidden,
    LimitReached,
    Rejected,
    Unavailable,
)
from app.http.errors import error_response


def body(resp: object) -> dict[str, object]:
    return dict(orjson.loads(resp.body))  # type: ignore[attr-defined]


def test_client_errors_carry_their_status_code_and_details() -> None:
    resp = error_response(Forbidden("no", code="blacklisted"))
    assert resp.status_code == 403
    assert body(resp) == {"error": {"code": "blacklisted", "message": "no"}}
    closed = error_response(
        Conflict("closed", code="round_closed", next_round_start="2030-06-01T12:00:00+08:00")
    )
    assert closed.status_code == 409
    assert body(closed) == {
        "error": {
            "code": "round_closed",
            "message": "closed",
            "next_round_start": "2030-06-01T12:00:00+08:00",
        }
    }  # the one key "error" (SPEC §3)
    limited = error_response(LimitReached("slow", code="rate_limited", retry_after=2))
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")


def test_outages_are_503_with_retry_after() -> None:
    resp = error_response(Unavailable("Redis cannot be reached"))
    assert (resp.status_code, resp.headers["retry-after"]) == (503, "1")
    assert body(resp)["error"] == {"code": "unavailable", "message": "Redis cannot be reached"}


@pytest.mark.parametrize("exc", [Rejected("Data too long"), ContractError("script said -99")])
def test_internal_errors_are_logged_and_shown_bare(
    exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="redrain.http"):
        resp = error_response(exc)  # type: ignore[arg-type]
    assert resp.status_code == 500
    assert body(resp) == {"error": {"code": "internal_error", "message": "internal error"}}
    assert str(exc) in caplog.text  # the operator sees it, the client does not
