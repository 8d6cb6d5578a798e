"""The scheduled-lottery state machine, without a database."""

from __future__ import annotations

import datetime as dt

import pytest

from app.domain import lotteries as rules
from app.domain.errors import Conflict, Forbidden, ValidationFailed
from app.domain.records import LotteryRecord

DRAW_AT = dt.datetime(2030, 6, 1, 12, 0)


def lottery(status: int = rules.OPEN) -> LotteryRecord:
    return LotteryRecord(1, "carol", "t", DRAW_AT, "cake", 2, status, "00", "h", None, 0, ())


def test_users_see_drawing_from_a_minute_before_draw_at() -> None:
    rec = lottery()
    assert rules.status(rec, DRAW_AT - dt.timedelta(minutes=1, seconds=1)) == rules.OPEN
    assert rules.status(rec, DRAW_AT - dt.timedelta(minutes=1)) == rules.DRAWING
    assert rules.status(lottery(rules.DRAWN), DRAW_AT) == rules.DRAWN
    assert rules.open_until(rec) == DRAW_AT - rules.CLOSE_LEAD


def test_draw_time_is_between_two_minutes_and_a_year_ahead() -> None:
    now = dt.datetime(2030, 6, 1, 10, 0)
    aware = dt.datetime(2030, 6, 1, 19, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert rules.draw_time(aware, now) == dt.datetime(2030, 6, 1, 11, 0)  # naive UTC
    with pytest.raises(ValidationFailed, match="2 minutes"):
        rules.draw_time(aware, now + dt.timedelta(minutes=59))
    with pytest.raises(ValidationFailed, match="within a year"):
        rules.draw_time(aware, now - dt.timedelta(days=366))


def test_refusals_name_the_reason() -> None:
    late = DRAW_AT - dt.timedelta(seconds=30)
    with pytest.raises(Conflict) as closed:
        rules.refuse_unless_open(lottery(), late, "join")
    assert closed.value.code == "lottery_not_open" and closed.value.details["status"] == "drawing"
    rules.refuse_unless_open(lottery(), DRAW_AT - dt.timedelta(hours=1), "join")
    with pytest.raises(Forbidden) as who:
        rules.refuse_unless_creator(lottery(), "mallory", "cancel")
    assert who.value.code == "not_creator"
    rules.refuse_unless_deletable(lottery(rules.CANCELED), late)
    with pytest.raises(Conflict) as drawn:
        rules.refuse_unless_deletable(lottery(rules.DRAWN), late)
    assert drawn.value.code == "lottery_not_deletable"
