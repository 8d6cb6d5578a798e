"""Rounds and even-award slices (SPEC §1.5)."""

from __future__ import annotations

import datetime as dt

from app.domain.activity import parse_config
from app.domain.schedule import (
    Timeline,
    activity_window,
    plan_rounds,
    planned_by,
    released_at,
    round_slices,
)
from tests.helpers import DAY, local, prize, rain


def ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def test_rounds_are_days_times_sessions() -> None:
    cfg = parse_config(
        rain(
            sessions=[("10:00:00", "10:01:00"), ("12:00:00", "12:01:00"), ("18:00:00", "18:01:00")],
            end=DAY + dt.timedelta(days=2),
        )
    )
    rounds = plan_rounds(42, cfg)
    assert [r.round_id for r in rounds[:4]] == [
        "42:20300601:0",
        "42:20300601:1",
        "42:20300601:2",
        "42:20300602:0",
    ]
    assert len(rounds) == 9
    assert rounds[0].start_ms == ms(local(DAY, 10))
    assert rounds[0].end_ms == ms(local(DAY, 10, 1))
    start, end = activity_window(cfg)
    assert start == ms(local(DAY, 0))
    assert end == ms(local(DAY + dt.timedelta(days=3), 0))


def test_slices_equal_parts_remainder_first_and_lead() -> None:
    cfg = parse_config(rain([prize("a", 10, 0.5)], release={"slices": 4, "lead_seconds": 300}))
    (r,) = plan_rounds(1, cfg)
    (slices,) = round_slices(cfg, r)
    # 10 over 4 slices: 2 each, remainder 2 to the first → 4,2,2,2
    # k-th at start + k×15min − 5min, never before start (k=0 clamps).
    start = ms(local(DAY, 10))
    assert [(s.at_ms - start) // 60_000 for s in slices] == [0, 10, 25, 40]
    assert [s.amount for s in slices] == [4, 2, 2, 2]
    assert released_at(slices, start - 1) == 0
    assert released_at(slices, start) == 4
    assert released_at(slices, start + 10 * 60_000 - 1) == 4
    assert released_at(slices, start + 10 * 60_000) == 6
    assert released_at(slices, start + 3_600_000) == 10


def test_explicit_schedule_shares() -> None:
    cfg = parse_config(
        rain(
            [prize("a", 8000, 0.5)],
            sessions=[("00:00:00", "24:00:00")],
            release={
                "at": [
                    ["00:00:00", 2000],
                    ["06:00:00", 2000],
                    ["12:00:00", 2000],
                    ["18:00:00", 2000],
                ]
            },
        )
    )
    (r,) = plan_rounds(1, cfg)
    (slices,) = round_slices(cfg, r)
    assert [(s.at_ms - r.start_ms) // 3_600_000 for s in slices] == [0, 6, 12, 18]
    assert [s.amount for s in slices] == [2000] * 4
    # Shares are proportions: 10 units over shares 1:1:1 → 4,3,3.
    cfg = parse_config(
        rain(
            [prize("a", 10, 0.5)],
            release={"at": [["10:00:00", 1], ["10:20:00", 1], ["10:40:00", 1]]},
        )
    )
    assert [s.amount for s in round_slices(cfg, plan_rounds(1, cfg)[0])[0]] == [4, 3, 3]


def test_prize_level_release_overrides_activity() -> None:
    cfg = parse_config(
        rain([prize("a", 6, 0.2), prize("b", 6, 0.2, release={"slices": 3})], release={"slices": 2})
    )
    a, b = round_slices(cfg, plan_rounds(1, cfg)[0])
    assert (len(a), len(b)) == (2, 3)


def test_empty_prize_has_no_stock() -> None:
    cfg = parse_config(rain([prize("a", 5, 0.5), prize("t", None, 0.5, type="empty")]))
    (r,) = plan_rounds(1, cfg)
    assert r.prizes[1].empty and r.prizes[1].quantity == 0
    assert round_slices(cfg, r)[1] == ()


def test_timeline_open_and_next() -> None:
    cfg = parse_config(rain(sessions=[("10:00:00", "10:01:00"), ("12:00:00", "12:01:00")]))
    tl = Timeline(plan_rounds(1, cfg))
    current, nxt = tl.at(ms(local(DAY, 10, 0, 30)))
    assert current is not None and current.sfx == "20300601:0"
    assert nxt is not None and nxt.sfx == "20300601:1"
    current, nxt = tl.at(ms(local(DAY, 10, 1)))  # end is exclusive
    assert current is None and nxt is not None and nxt.sfx == "20300601:1"
    current, nxt = tl.at(ms(local(DAY, 13)))
    assert current is None and nxt is None
    assert tl.nearest(ms(local(DAY, 13))) is tl.rounds[-1]


def test_the_even_plan_is_a_straight_line_over_the_round() -> None:
    start, end = 1_000_000, 1_000_000 + 3_600_000  # one hour
    assert planned_by(600, start, end, start - 1) == 0
    assert planned_by(600, start, end, start) == 0
    assert planned_by(600, start, end, start + 360_000) == 60  # a tenth of the hour
    assert planned_by(600, start, end, start + 1_799_999) == 299  # never ahead of the line
    assert planned_by(600, start, end, end) == 600
    assert planned_by(600, start, end, end + 1) == 600
    assert planned_by(7, start, start, start) == 0  # an empty window plans nothing
