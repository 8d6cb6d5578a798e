"""The one error hierarchy: every class has a code, the HTTP edge gives each
the status of its category (once, in app/http/errors.py), and the mid-level
bases group them the way callers catch them."""

from __future__ import annotations

import pytest

from app.domain import errors as e
from app.domain.lotteries import NoLongerOpen, NotDeletable
from app.domain.operators import CsrfFailed
from app.http.errors import headers_of, status_of


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
    assert not hasattr(err, "status")  # the domain knows no HTTP
    if issubclass(cls, e.ClientError):
        assert 400 <= status_of(err) < 500
    elif issubclass(cls, e.DependencyError):
        assert status_of(err) in (502, 503)
    else:
        assert status_of(err) == 500


def test_statuses_and_headers() -> None:
    assert (status_of(e.ValidationFailed("v")), status_of(e.NotFound("n"))) == (422, 404)
    assert status_of(CsrfFailed()) == 403 and status_of(e.Busy()) == 503
    assert headers_of(e.LimitReached("slow", retry_after=3)) == {"Retry-After": "3"}
    assert headers_of(e.LimitReached("slow")) == {}
    assert headers_of(e.Unavailable("down")) == {"Retry-After": "1"}
    detail = e.Conflict("closed", code="round_closed", next_round_start="2030-06-01T12:00:00+08:00")
    assert detail.code == "round_closed" and detail.details["next_round_start"].startswith("2030")
    # A unique-key clash is a refusal of data, an internal error: never a 4xx or 503.
    assert issubclass(e.Duplicate, e.Rejected) and issubclass(e.Rejected, e.InternalError)
    assert issubclass(e.ConfigError, e.RedrainError) and not issubclass(e.ConfigError, ValueError)
