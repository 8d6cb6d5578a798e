"""The one error hierarchy: every class knows its code and HTTP status, and the
mid-level bases group them the way callers catch them."""

from __future__ import annotations

import pytest

from app.domain import errors as e
from app.domain.lotteries import NoLongerOpen, NotDeletable
from app.domain.operators import CsrfFailed


def concrete() -> list[type[e.RedrainError]]:
    out, todo = [], [e.RedrainError]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        out.append(cls)
    return out


@pytest.mark.parametrize("cls", concrete(), ids=lambda c: c.__name__)
def test_every_error_has_a_code_and_a_status_of_its_category(cls: type[e.RedrainError]) -> None:
    made = {
        NoLongerOpen: lambda: NoLongerOpen("join"),
        NotDeletable: NotDeletable,
        CsrfFailed: CsrfFailed,
    }
    err = made.get(cls, lambda: cls("x"))()  # type: ignore[call-arg]
    assert err.code and err.code == err.code.lower()
    if issubclass(cls, e.ClientError):
        assert 400 <= err.status < 500
    elif issubclass(cls, e.DependencyError):
        assert err.status in (502, 503)
    else:
        assert err.status == 500


def test_statuses_and_headers() -> None:
    assert (e.ValidationFailed("v").status, e.NotFound("n").status) == (422, 404)
    assert e.LimitReached("slow", retry_after=3).headers() == {"Retry-After": "3"}
    assert e.LimitReached("slow").headers() == {}
    assert e.Unavailable("down").headers() == {"Retry-After": "1"}
    detail = e.Conflict("closed", code="round_closed", next_round_start="2030-06-01T12:00:00+08:00")
    assert detail.code == "round_closed" and detail.details["next_round_start"].startswith("2030")
    # A unique-key clash is a refusal of data, an internal error: never a 4xx or 503.
    assert issubclass(e.Duplicate, e.Rejected) and issubclass(e.Rejected, e.InternalError)
    assert issubclass(e.ConfigError, e.RedrainError) and not issubclass(e.ConfigError, ValueError)
