"""What one configuration may make planning, previewing and publishing cost
(issue 23, item 6): every input that multiplies work is bounded with a 422
naming the field, and the budget's work is bounded whatever the players."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from app.domain import budget as plan
from app.domain.activity import (
    MAX_PLAN_ENTRIES,
    MAX_PRIZES,
    MAX_ROUND_COPIES,
    MAX_ROUND_SLICES,
    ActivityConfig,
    check_size,
    parse_config,
)
from app.domain.errors import ValidationFailed


def tod(s: int) -> str:
    return "24:00:00" if s == 86_400 else f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def wide(
    *,
    sessions: int = 1,
    days: int = 1,
    pools: int = 1,
    prizes: int = 1,
    slices: int = 1,
    quantity: int = 100_000,
    kind: str = "time",
    **extra: Any,
) -> dict[str, Any]:
    """``days`` × ``sessions`` rounds, each with ``pools`` × ``prizes`` prizes
    released in ``slices`` slices."""
    span = 86_400 // sessions
    out = []
    for i in range(sessions):
        made = []
        for p in range(pools):
            pool: dict[str, Any] = {
                "prizes": [
                    {
                        "key": f"p{p}_{k}",
                        "type": "coupon",
                        "name": "c",
                        "quantity": quantity,
                        "probability": round(0.9 / (pools * prizes), 6),
                        "cost": 1,
                    }
                    for k in range(prizes)
                ]
            }
            if kind == "count":
                pool["nth"] = p + 1
            elif kind == "amount":
                pool |= {"amount_min": p * 100, "amount_max": p * 100 + 100}
            made.append(pool)
        out.append({"start": tod(i * span), "end": tod((i + 1) * span), "pools": made})
    end = dt.date(2030, 1, 1) + dt.timedelta(days=days - 1)
    return {
        "name": "wide",
        "kind": kind,
        "timezone": "Asia/Shanghai",
        "start_date": "2030-01-01",
        "end_date": end.isoformat(),
        "release": {"slices": slices},
        "sessions": out,
    } | extra


def refused(data: dict[str, Any]) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        parse_config(data)
    return info.value


def test_the_probe_of_issue_23_is_refused_naming_the_release() -> None:
    """~20,000 rounds × 5 prizes × 1,000 slices (a 49 KB body) took 47 s and
    3.3 GB to preview: ~100 million slices to plan."""
    err = refused(wide(sessions=96, days=208, prizes=5, slices=1000))
    assert err.details["field"] == "release"
    assert "99,939,840 prizes and release slices" in err.message
    assert f"{MAX_PLAN_ENTRIES:,}" in err.message


def test_every_multiplier_is_bounded_with_its_field() -> None:
    # Prizes over all sessions and pools.
    err = refused(wide(sessions=2, pools=11, prizes=50, kind="count"))
    assert err.details["field"] == "sessions" and f"{MAX_PRIZES:,}" in err.message
    # Slices of one round: a prize's own release schedule is named.
    data = wide(prizes=11, slices=1000)
    err = refused(data)
    assert err.details["field"] == "release" and f"{MAX_ROUND_SLICES:,}" in err.message
    data = wide(prizes=20)
    data["sessions"][0]["pools"][0]["prizes"][3]["release"] = {"slices": 1000}
    for p in data["sessions"][0]["pools"][0]["prizes"][4:15]:
        p["release"] = {"slices": 900}
    err = refused(data)
    assert err.details["field"] == "sessions[0].pools[0].prizes[3].release"
    # Rounds × buckets: one script call each at publish.
    err = refused(wide(sessions=10, days=100, buckets=64))
    assert err.details["field"] == "buckets" and f"{MAX_ROUND_COPIES:,}" in err.message
    # Many prizes in every round, few slices: the sessions are named.
    err = refused(wide(sessions=20, days=365, prizes=40))
    assert err.details["field"] == "sessions"
    # Slices over every round (each under the per-round bound).
    err = refused(wide(sessions=4, days=100, prizes=2, slices=1000))
    assert err.details["field"] == "release"


def test_a_short_quantity_is_one_slice() -> None:
    """``slices: 1000`` on a quantity of 5 releases it at once (remainder to
    the first): it does not count as 1,000."""
    cfg = parse_config(wide(sessions=4, days=100, prizes=2, slices=1000, quantity=5))
    rounds, _ = plan.calendar(cfg, 1)
    assert len(rounds[0].slices) == 2


def test_the_largest_accepted_configurations() -> None:
    """At the bounds: every multiplier at its largest, accepted."""
    for data in (
        wide(sessions=96, days=208, prizes=10),  # 19,968 rounds × 10 prizes × 1 slice
        wide(sessions=1, days=39, prizes=10, slices=1000),  # 10,000 slices a round
        wide(sessions=1, days=199, pools=100, prizes=10, kind="count"),  # 1,000 prizes
        wide(sessions=5, days=125, buckets=64),  # 40,000 round copies
    ):
        check_size(parse_config(data))


def test_a_stored_configuration_beyond_the_bounds_still_loads() -> None:
    """The bounds guard what is created, replaced, previewed and published, not
    what was stored before them: a live activity keeps drawing."""
    raw = ActivityConfig.model_validate(wide(sessions=96, days=208, prizes=5, slices=1000))
    with pytest.raises(ValidationFailed):
        check_size(raw)


def test_the_calendar_lists_a_bounded_number_of_slices() -> None:
    cfg = parse_config(wide(sessions=1, days=39, prizes=10, slices=1000))
    rounds, total = plan.calendar(cfg, 400)
    assert total == 39
    assert 1 <= len(rounds) < 39
    assert sum(len(r.slices) for r in rounds) <= plan.LISTED_SLICES
    # One round is always listed, however many slices it has.
    rounds, _ = plan.calendar(cfg, 400, slices=10)
    assert len(rounds) == 1 and len(rounds[0].slices) == 10_000


def played(cfg: ActivityConfig, players: int, taps: int) -> int:
    """Prize-steps the budget follows (what its cost is proportional to)."""
    seen = 0
    real = plan._play

    def counting(*args: Any) -> Any:
        nonlocal seen
        rnd, draws = args[1], args[2]
        seen += plan.STEPS * sum(
            p.last - p.first + 1 for p, d in zip(rnd.pools, draws, strict=True) if d > 0
        )
        return real(*args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plan, "_play", counting)
        plan.budget(cfg, players, taps, 60)
    return seen


def test_the_budgets_work_does_not_grow_with_players() -> None:
    """A fluid model: 1 player or 10^8 follow the same prize-steps."""
    cfg = parse_config(wide(sessions=24, days=30, prizes=10, limits={"per_day": 5}))
    few, many = played(cfg, 1, 3), played(cfg, 100_000_000, 3)
    assert few == many <= plan.MAX_WORK


def test_a_level_pass_follows_only_the_levels_played() -> None:
    """1,000 prizes in 100 levels: each round plays one level, so the budget
    follows each level once (not every prize in every round)."""
    cfg = parse_config(
        wide(sessions=1, days=199, pools=100, prizes=10, kind="count", after_last_pool="refuse")
    )
    assert played(cfg, 10**8, 1) == plan.STEPS * 1000


def test_a_budget_past_its_work_bound_is_refused_naming_players() -> None:
    """1,000 prizes every round, and rounds that play out in three different
    ways (a partial round at the total limit; a day 23 hours long when clocks
    spring forward in New York): past MAX_WORK, refused rather than run."""
    # 40 taps a round reach the total of 1,500 in the 38th round.
    data = wide(sessions=1, days=60, pools=20, prizes=50, kind="amount", limits={"total": 1500})
    data |= {"timezone": "America/New_York", "start_date": "2030-02-20", "end_date": "2030-04-20"}
    cfg = parse_config(data)
    with pytest.raises(ValidationFailed) as info:
        plan.budget(cfg, 1000, 40, 60)
    assert info.value.details["field"] == "players"
    # The calendar of the same configuration is fine.
    assert plan.calendar(cfg, 400)[1] == 60
