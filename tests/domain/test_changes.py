"""What a started activity may still change (app/domain/changes.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from app.domain.activity import parse_config
from app.domain.changes import check_started_change
from app.domain.errors import ValidationFailed
from tests.helpers import DAY, prize, rain

LIVE = parse_config(rain([prize("a", 5, 0.5), prize("b", 5, 0.1)], end=DAY + dt.timedelta(days=2)))


def refused(**change: object) -> str:
    cfg = rain([prize("a", 5, 0.5), prize("b", 5, 0.1)], end=DAY + dt.timedelta(days=2))
    cfg.update(change)
    with pytest.raises(ValidationFailed) as err:
        check_started_change(LIVE, parse_config(cfg))
    field: str = err.value.details["field"]
    return field


def test_names_display_and_a_later_end_may_change() -> None:
    cfg = rain(
        [prize("a", 5, 0.5, name="Gold"), prize("b", 5, 0.1, image_url="https://x.test/b.png")],
        end=DAY + dt.timedelta(days=9),
        name="Renamed",
        description="Now with a description",
        display={"game": "wheel"},
    )
    check_started_change(LIVE, parse_config(cfg))  # no error


def test_the_prizes_of_rounds_not_started_may_change() -> None:
    """Quantities, odds, prizes added or removed and the release: only the
    rounds that have not started take them (app/domain/versions.py)."""
    for prizes in (
        [prize("a", 6, 0.5), prize("b", 5, 0.1)],
        [prize("a", 5, 0.5), prize("b", 5, 0.2)],
        [prize("a", 5, 0.5)],
        [prize("a", 5, 0.5), prize("b", 5, 0.1), prize("c", 1, 0.01)],
    ):
        cfg = rain(prizes, end=DAY + dt.timedelta(days=2), release={"slices": 4})
        check_started_change(LIVE, parse_config(cfg))  # no error


def test_everything_else_is_locked_naming_the_field() -> None:
    assert refused(end_date=DAY.isoformat()) == "end_date"
    assert refused(limits={"per_round": 1}) == "limits.per_round"
    assert refused(timezone="UTC") == "timezone"
    assert refused(probability="auto") == "probability"
    moved = rain(sessions=[("10:00:00", "11:30:00")])["sessions"]
    assert refused(sessions=moved) == "sessions[0].end"
    two = rain(sessions=[("10:00:00", "11:00:00"), ("12:00:00", "13:00:00")])["sessions"]
    assert refused(sessions=two) == "sessions"
