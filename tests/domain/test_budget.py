"""The console's calendar and budget: known configurations, figures worked out
by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.domain.activity import parse_config
from app.domain.budget import budget, calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_ms(day: str, hhmmss: str, zone: ZoneInfo = SHANGHAI) -> int:
    d = dt.date.fromisoformat(day)
    t = dt.time.fromisoformat(hhmmss)
    return int(dt.datetime.combine(d, t, tzinfo=zone).timestamp() * 1000)


def prize(key: str, qty: int, p: float | None = None, **kw: Any) -> dict[str, Any]:
    out = {"key": key, "type": "coupon", "name": key.upper(), "value": key, "quantity": qty}
    if p is not None:
        out["probability"] = p
    return out | kw


def config(prizes: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {
        "name": "Double 12",
        "kind": "time",
        "timezone": "Asia/Shanghai",
        "start_date": "2030-12-10",
        "end_date": "2030-12-12",
        "sessions": [{"start": "10:00:00", "end": "10:01:00", "pools": [{"prizes": prizes}]}],
    } | kw


def test_the_calendar_lists_every_round_and_slice() -> None:
    cfg = parse_config(
        config(
            [prize("c2", 2000, 0.5), prize("c5", 1000, 0.2, release={"slices": 1})],
            release={"slices": 3, "lead_seconds": 5},
            sessions=[
                {
                    "start": "10:00:00",
                    "end": "10:01:00",
                    "pools": [{"prizes": [prize("c2", 2000, 0.5)]}],
                },
                {
                    "start": "20:00:00",
                    "end": "20:30:00",
                    "pools": [
                        {
                            "prizes": [
                                prize("c2", 1001, 0.5),
                                prize("c5", 10, 0.1, release={"slices": 1}),
                            ]
                        }
                    ],
                },
            ],
        )
    )
    rounds, total = calendar(cfg, 100)
    assert total == 6 and [r.sfx for r in rounds][:3] == ["20301210:0", "20301210:1", "20301211:0"]
    first, evening = rounds[0], rounds[1]
    assert (first.start_ms, first.end_ms) == (
        local_ms("2030-12-10", "10:00:00"),
        local_ms("2030-12-10", "10:01:00"),
    )
    # 2000 in three slices (remainder to the first) at 0, 20 and 40 s, each 5 s early
    # but never before the start.
    assert [(s.prize, s.at_ms - first.start_ms, s.quantity) for s in first.slices] == [
        ("c2", 0, 668),
        ("c2", 15_000, 666),
        ("c2", 35_000, 666),
    ]
    assert [
        (s.prize, (s.at_ms - evening.start_ms) // 1000, s.quantity) for s in evening.slices
    ] == [
        ("c2", 0, 335),
        ("c2", 595, 333),
        ("c2", 1195, 333),
        ("c5", 0, 10),  # its own release: all at the start
    ]
    assert len(calendar(cfg, 2)[0]) == 2 and calendar(cfg, 2)[1] == 6


def test_manual_odds_run_out_when_the_picks_reach_the_stock() -> None:
    """10,000 players, one tap each, spread over a minute: c2 (p 0.5) is picked
    5,000 times, so its 2,000 are gone after 24 s; c5 (p 0.2, 1,000) after 30 s."""
    cfg = parse_config(config([prize("c2", 2000, 0.5, cost=2), prize("c5", 1000, 0.2, cost=5)]))
    b = budget(cfg, 10_000, 1, 10)
    start = b.rounds[0].start_ms
    outs = {p.key: (p.expected_wins, p.runs_out_ms) for p in b.rounds[0].prizes}
    assert outs["c2"][0] == pytest.approx(2000) and outs["c2"][1] == start + 24_000
    assert outs["c5"][0] == pytest.approx(1000) and outs["c5"][1] == start + 30_000
    assert b.rounds_total == 3 and b.draws == pytest.approx(30_000)
    assert b.expected_cost == pytest.approx(3 * (2000 * 2 + 1000 * 5))
    assert b.max_cost == pytest.approx(b.expected_cost) and b.uncosted == ()
    # 1,000 players pick c2 500 times: it lasts, and costs what is won.
    b = budget(cfg, 1000, 1, 10)
    p = {p.key: p for p in b.rounds[0].prizes}
    assert p["c2"].expected_wins == pytest.approx(500) and p["c2"].runs_out_ms is None
    assert b.expected_cost == pytest.approx(3 * (500 * 2 + 200 * 5))
    assert b.max_cost == pytest.approx(27_000)


def test_a_slice_not_yet_out_cannot_be_won() -> None:
    """Two slices of 100 at 0 and 30 s; 6,000 picks a minute: the first 100 are
    gone after 1 s, the second 100 after 31 s."""
    cfg = parse_config(config([prize("c2", 200, 1.0)], release={"slices": 2}))
    p = budget(cfg, 6000, 1, 1).rounds[0].prizes[0]
    assert p.expected_wins == pytest.approx(200)
    assert p.runs_out_ms == budget(cfg, 6000, 1, 1).rounds[0].start_ms + 31_000
    assert budget(cfg, 6000, 1, 1).uncosted == ("c2",)


def test_auto_odds_share_the_draws_by_weight_and_stock() -> None:
    """Auto odds: every draw wins while anything is left, so 300 draws take
    all 300 units; with 150 draws, the shares follow weight × left."""
    cfg = parse_config(
        config(
            [prize("a", 100, weight=1), prize("b", 200, weight=1)],
            probability="auto",
        )
    )
    b = budget(cfg, 300, 1, 1)
    wins = {p.key: p.expected_wins for p in b.rounds[0].prizes}
    assert wins["a"] + wins["b"] == pytest.approx(300, rel=1e-3)
    b = budget(cfg, 150, 1, 1)
    wins = {p.key: p.expected_wins for p in b.rounds[0].prizes}
    assert wins["a"] + wins["b"] == pytest.approx(150)
    assert wins["b"] > wins["a"] > 0  # twice the stock, a larger share


def test_limits_cap_the_taps() -> None:
    """Five taps a round asked for; per_round 2 allows two, per_day 3 allows
    three a day over two sessions, total 4 four in all."""
    two_sessions = [
        {"start": "10:00:00", "end": "10:01:00", "pools": [{"prizes": [prize("c", 10**6, 0.1)]}]},
        {"start": "20:00:00", "end": "20:01:00", "pools": [{"prizes": [prize("c", 10**6, 0.1)]}]},
    ]
    cases = [({"per_round": 2}, 3 * 2 * 2), ({"per_day": 3}, 3 * 3), ({"total": 4}, 4)]
    for limits, draws in cases:
        cfg = parse_config(config([], sessions=two_sessions, limits=limits))
        assert budget(cfg, 1, 5, 10).draws == pytest.approx(draws), limits


def test_count_levels_follow_the_players_draws() -> None:
    """A level pass: the n-th draw plays level n; past the last level a draw
    is refused (and counts against nothing) unless the last level repeats."""
    levels = [{"nth": n, "prizes": [prize(f"l{n}", 10**6, 1.0)]} for n in (1, 2, 3)]
    base = config(
        [], kind="count", sessions=[{"start": "10:00:00", "end": "10:01:00", "pools": levels}]
    )
    b = budget(parse_config(base), 10, 2, 10)  # 3 days × 2 draws: levels 1, 2 | 3 | –
    per_round = [[round(p.expected_wins, 6) for p in r.prizes] for r in b.rounds]
    assert per_round == [[10, 10, 0], [0, 0, 10], [0, 0, 0]]
    b = budget(parse_config(base | {"after_last_pool": "repeat_last"}), 10, 2, 10)
    assert [[round(p.expected_wins, 6) for p in r.prizes] for r in b.rounds] == [
        [10, 10, 0],
        [0, 0, 20],
        [0, 0, 20],
    ]


def test_a_year_of_hourly_rounds_is_covered() -> None:
    """8,760 rounds: the budget sums them all, the listing stops at the limit."""
    cfg = parse_config(
        config(
            [],
            start_date="2030-01-01",
            end_date="2030-12-31",
            sessions=[
                {
                    "start": f"{h:02d}:00:00",
                    "end": f"{h:02d}:30:00",
                    "pools": [{"prizes": [prize("p", 100, 0.01, cost=1.5)]}],
                }
                for h in range(24)
            ],
        )
    )
    b = budget(cfg, 1000, 2, 60)
    assert b.rounds_total == 8760 and len(b.rounds) == 60
    assert b.wins_by_prize["p"] == pytest.approx(8760 * 20)
    assert b.expected_cost == pytest.approx(8760 * 20 * 1.5)
