"""The draw path through the service, on real Redis + MariaDB and on fakeredis +
SQLite: time windows, limits, even award, idempotency, publish, top-up."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest

from app.domain.errors import Conflict, LimitReached, NotFound, ValidationFailed
from app.services.container import Services
from app.store.redis import keys
from tests.conftest import ServiceFactory
from tests.helpers import BY, DAY, local, offset_to, prize, rain, snapshot


async def published(svc: Services, cfg: dict[str, Any]) -> int:
    rec = await svc.activities.create(cfg, BY)
    await svc.activities.publish(rec.id, BY)
    return rec.id


def at(make: ServiceFactory, when: dt.datetime, **kw: Any) -> Services:
    return make(offset_to(when), **kw)


async def prize_stats(svc: Services, aid: int, round_ref: str) -> dict[str, Any]:
    _, rounds = await svc.activities.stats(aid, round_ref)
    (st,) = rounds
    return {"draws": st.draws, "users": st.users, **{p.key: p for p in st.prizes}}


async def test_draw_inside_a_round(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 30))
    aid = await published(svc, rain([prize("c2", 5, 1.0)]))
    _, res = await svc.draws.draw("alice", aid)
    assert res.won and res.prize is not None and res.prize.key == "c2"
    assert res.round_id == f"{aid}:20300601:0"
    assert res.draw_id == f"{aid}:20300601:0:1"
    assert res.nonce == 1 and res.counts.round == 1
    st = await prize_stats(svc, aid, "20300601:0")
    assert st["draws"] == 1 and st["users"] == 1
    assert (st["c2"].quantity, st["c2"].released, st["c2"].won) == (5, 5, 1)


async def test_time_window_refusals(make_service: ServiceFactory) -> None:
    cfg = rain(sessions=[("10:00:00", "10:01:00"), ("12:00:00", "12:01:00")])
    aid = await published(make_service(), cfg)

    async def refusal(when: dt.datetime) -> Conflict:
        with pytest.raises(Conflict) as err:
            await at(make_service, when).draws.draw("bob", aid)
        return err.value

    before = await refusal(local(DAY - dt.timedelta(days=1), 23))
    assert before.code == "activity_not_started"
    assert before.details["next_round_start"] == "2030-06-01T10:00:00+08:00"
    early = await refusal(local(DAY, 9, 59, 58))
    assert early.code == "round_closed"
    between = await refusal(local(DAY, 11))
    assert between.code == "round_closed"
    assert between.details["next_round_start"] == "2030-06-01T12:00:00+08:00"
    after = await refusal(local(DAY, 12, 2))
    assert after.code == "activity_ended"
    # Inside the second round it works.
    _, res = await at(make_service, local(DAY, 12, 0, 30)).draws.draw("bob", aid)
    assert res.round_id.endswith(":20300601:1")


async def test_unknown_or_unpublished_activity(make_service: ServiceFactory) -> None:
    svc = make_service()
    with pytest.raises(NotFound) as err:
        await svc.draws.draw("bob", 999_999)
    assert err.value.code == "activity_not_found"
    rec = await svc.activities.create(rain(), BY)
    with pytest.raises(NotFound):
        await svc.draws.draw("bob", rec.id)


async def test_limits(make_service: ServiceFactory) -> None:
    cfg = rain(
        [prize("c2", 1000, 0.5)],
        sessions=[("10:00:00", "10:10:00"), ("12:00:00", "12:10:00")],
        end=DAY + dt.timedelta(days=1),
        limits={"per_round": 2, "per_day": 3, "total": 5},
    )
    aid = await published(make_service(), cfg)
    day1_r0 = at(make_service, local(DAY, 10, 5))
    day1_r1 = at(make_service, local(DAY, 12, 5))
    day2_r0 = at(make_service, local(DAY + dt.timedelta(days=1), 10, 5))
    day2_r1 = at(make_service, local(DAY + dt.timedelta(days=1), 12, 5))

    for _ in range(2):
        await day1_r0.draws.draw("u", aid)
    with pytest.raises(LimitReached) as err:
        await day1_r0.draws.draw("u", aid)
    assert err.value.code == "round_limit"
    assert err.value.retry_after is not None and 6890 <= err.value.retry_after <= 6910

    _, res = await day1_r1.draws.draw("u", aid)
    assert (res.counts.round, res.counts.day, res.counts.total) == (1, 3, 3)
    with pytest.raises(LimitReached) as err:
        await day1_r1.draws.draw("u", aid)
    assert err.value.code == "day_limit"

    for _ in range(2):
        await day2_r0.draws.draw("u", aid)
    with pytest.raises(LimitReached) as err:
        await day2_r1.draws.draw("u", aid)
    assert err.value.code == "total_limit"
    # No later round helps: not before the activity's end (SPEC §3: every 429 says when).
    assert err.value.retry_after is not None and 0 < err.value.retry_after <= 3 * 86_400
    # Another user is unaffected.
    await day2_r1.draws.draw("v", aid)


async def test_wins_total(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 100, 1.0)], limits={"wins_total": 2}))
    for _ in range(2):
        assert (await svc.draws.draw("w", aid))[1].won
    with pytest.raises(LimitReached) as err:
        await svc.draws.draw("w", aid)
    assert err.value.code == "win_limit"
    assert err.value.retry_after is not None and 0 < err.value.retry_after <= 3 * 86_400


async def test_refusal_changes_nothing(
    make_service: ServiceFactory, stack: tuple[Any, Any]
) -> None:
    client, _ = stack
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 100, 0.5)], limits={"per_round": 1}))
    await svc.draws.draw("x", aid)
    before = await snapshot(client)
    for _ in range(3):
        with pytest.raises(LimitReached):
            await svc.draws.draw("x", aid)
    with pytest.raises(Conflict):
        await at(make_service, local(DAY, 12)).draws.draw("y", aid)
    assert await snapshot(client) == before


async def test_even_award_slices_and_carry_over(make_service: ServiceFactory) -> None:
    # 9 units of an always-win prize in 3 slices: 10:00, 10:20, 10:40.
    cfg = rain([prize("c2", 9, 1.0)], release={"slices": 3})
    aid = await published(make_service(), cfg)
    sfx = "20300601:0"

    async def wins_at(when: dt.datetime, draws: int) -> int:
        svc = at(make_service, when)
        won = 0
        for i in range(draws):
            won += (await svc.draws.draw(f"{when:%H%M%S}-{i}", aid))[1].won
        return won

    async def released(when: dt.datetime) -> int:
        return (await prize_stats(at(make_service, when), aid, sfx))["c2"].released

    assert await released(local(DAY, 9, 59, 50)) == 0
    assert await wins_at(local(DAY, 10, 0, 5), 2) == 2  # 3 released, 2 won: 1 left over
    assert await released(local(DAY, 10, 19, 55)) == 3
    assert await wins_at(local(DAY, 10, 19, 55), 5) == 1  # the carry-over, and no more
    assert await released(local(DAY, 10, 20, 5)) == 6
    assert await wins_at(local(DAY, 10, 20, 5), 5) == 3
    assert await wins_at(local(DAY, 10, 40, 5), 10) == 3
    st = await prize_stats(make_service(), aid, sfx)
    assert (st["c2"].released, st["c2"].won) == (9, 9)


async def test_lead_seconds_release_early_but_not_before_start(
    make_service: ServiceFactory,
) -> None:
    cfg = rain([prize("c2", 4, 1.0)], release={"slices": 2, "lead_seconds": 600})
    aid = await published(make_service(), cfg)

    async def released(when: dt.datetime) -> int:
        svc = at(make_service, when)
        return (await prize_stats(svc, aid, "20300601:0"))["c2"].released

    assert await released(local(DAY, 9, 55)) == 0  # lead never goes before the start
    assert await released(local(DAY, 10, 0, 5)) == 2
    assert await released(local(DAY, 10, 19, 55)) == 2
    assert await released(local(DAY, 10, 20, 5)) == 4  # 10:30 − 10 minutes


async def test_manual_no_repick_when_stock_is_out(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("gone", 0, 0.5), prize("b", 10_000, 0.5)]))
    results = [(await svc.draws.draw(f"u{i}", aid))[1] for i in range(400)]
    wins = [r for r in results if r.won]
    assert all(r.prize is not None and r.prize.key == "b" for r in wins)
    # Without re-picking, b is won about half the time (3σ ≈ 30), not always.
    assert 140 < len(wins) < 260


async def test_idempotency_key(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 10, 1.0)], limits={"per_round": 5}))
    _, first = await svc.draws.draw("k", aid, idempotency_key="tap-1")
    _, again = await svc.draws.draw("k", aid, idempotency_key="tap-1")
    assert again.replayed and not first.replayed
    assert (again.draw_id, again.won, again.nonce, again.counts) == (
        first.draw_id,
        first.won,
        first.nonce,
        first.counts,
    )
    assert again.prize == first.prize
    st = await prize_stats(svc, aid, "20300601:0")
    assert st["draws"] == 1 and st["c2"].won == 1
    # Same key, another user: a separate draw.
    _, other = await svc.draws.draw("k2", aid, idempotency_key="tap-1")
    assert other.draw_id != first.draw_id
    # Many concurrent retries of one key: one draw.
    res = await asyncio.gather(
        *[svc.draws.draw("k3", aid, idempotency_key="burst") for _ in range(30)]
    )
    assert len({r.draw_id for _, r in res}) == 1
    assert (await prize_stats(svc, aid, "20300601:0"))["draws"] == 3


async def test_an_idempotency_key_is_the_users_across_activities(
    make_service: ServiceFactory,
) -> None:
    """Issue 23, item 12: the key reused with another activity_id made a new
    draw (its stored answer lives in the first activity's slot)."""
    svc = at(make_service, local(DAY, 10, 5))
    a = await published(svc, rain([prize("c2", 50, 1.0)], limits={"per_round": 50}))
    b = await published(svc, rain([prize("c2", 50, 1.0)], limits={"per_round": 50}))
    _, first = await svc.draws.draw("k", a, idempotency_key="tap-1")
    with pytest.raises(ValidationFailed) as refused:
        await svc.draws.draw("k", b, idempotency_key="tap-1")
    assert refused.value.code == "idempotency_key_reused"
    assert (await prize_stats(svc, b, "20300601:0"))["draws"] == 0
    _, again = await svc.draws.draw("k", a, idempotency_key="tap-1")
    assert again.replayed and again.draw_id == first.draw_id
    # Another user's key of the same name, and draws without a key, are their own.
    _, other = await svc.draws.draw("k2", b, idempotency_key="tap-1")
    assert not other.replayed
    await svc.draws.draw("k", b)
    assert (await prize_stats(svc, b, "20300601:0"))["draws"] == 2

    # Concurrent: one key, two activities. One draw; every request for the
    # other activity is 422, every one for the same activity its replay.
    for n in (2, 40):
        key = f"race-{n}"
        res = await asyncio.gather(
            *[svc.draws.draw("k3", (a, b)[i % 2], idempotency_key=key) for i in range(n)],
            return_exceptions=True,
        )
        drawn = [r[1] for r in res if isinstance(r, tuple)]
        reused = [r for r in res if isinstance(r, ValidationFailed)]
        assert len(drawn) + len(reused) == n, res
        assert len({d.draw_id for d in drawn}) == 1 and len(drawn) == len(reused) == n // 2
        assert all(r.code == "idempotency_key_reused" for r in reused)
        assert sum(not d.replayed for d in drawn) == 1
    draws = [(await prize_stats(svc, x, "20300601:0"))["draws"] for x in (a, b)]
    assert sum(draws) == 5  # k, k2, k without a key, one per race


async def test_republish_is_idempotent_and_keeps_stock(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 10, 1.0)]))
    seed_before = await svc.runtimes.seed_of(
        await svc.runtimes.get(aid), (await svc.runtimes.get(aid)).timeline.rounds[0]
    )
    for i in range(4):
        await svc.draws.draw(f"r{i}", aid)
    summary = await svc.activities.publish(aid, BY)
    assert summary.kept == 1 and summary.loaded == 0
    st = await prize_stats(svc, aid, "20300601:0")
    assert (st["draws"], st["c2"].won, st["c2"].released) == (4, 4, 10)
    fresh = make_service()
    rt = await fresh.runtimes.get(aid)
    assert await fresh.runtimes.seed_of(rt, rt.timeline.rounds[0]) == seed_before


async def test_replace_before_start_goes_live_when_published(
    make_service: ServiceFactory,
) -> None:
    early = at(make_service, local(DAY - dt.timedelta(days=2), 12))
    aid = await published(early, rain([prize("c2", 10, 1.0)]))
    rt = await early.runtimes.get(aid)
    seed = await early.runtimes.seed_of(rt, rt.timeline.rounds[0])
    await early.activities.topup(aid, "20300601:0", "c2", 5, BY)  # top-ups survive a re-plan
    rec = await early.activities.replace(aid, rain([prize("c2", 20, 1.0)], name="renamed"), BY)
    assert rec.version == 2 and rec.config.name == "renamed"
    assert rec.published_version == 1 and rec.live.name != "renamed"
    # Players still draw against version 1 until a publisher publishes version 2.
    assert (await prize_stats(early, aid, "20300601:0"))["c2"].quantity == 15
    assert (await early.runtimes.fresh(aid)).version == 1
    await early.activities.publish(aid, BY)
    # A process still caching version 1 reloads transparently (STALE) and draws.
    during = at(make_service, local(DAY, 10, 5))
    during.runtimes._runtimes[aid] = rt  # as if it had cached the old version
    _, res = await during.draws.draw("s", aid)
    assert res.won
    st = await prize_stats(during, aid, "20300601:0")
    assert st["c2"].quantity == 25
    rt2 = await during.runtimes.get(aid)
    assert await during.runtimes.seed_of(rt2, rt2.timeline.rounds[0]) == seed  # seed never changes
    # Once started, what spans rounds is locked (422 naming the field).
    with pytest.raises(ValidationFailed) as err:
        await during.activities.replace(
            aid, rain([prize("c2", 1, 1.0)], sessions=[("10:00:00", "11:30:00")]), BY
        )
    assert err.value.details["field"] == "sessions[0].end"
    with pytest.raises(ValidationFailed) as err:
        await during.activities.replace(
            aid, rain([prize("c2", 20, 1.0)], end=DAY - dt.timedelta(days=1)), BY
        )
    assert err.value.details["field"] == "end_date"
    renamed = rain([prize("c2", 20, 1.0, name="Shiny coupon")], name="Rain, renamed")
    renamed["display"] = {"skin": "candy"}
    rec = await during.activities.replace(aid, renamed, BY)
    assert rec.version == 3 and rec.published_version == 2  # a new version, for a publisher
    assert (await during.activities.publish(aid, BY)).version == 3
    assert (await prize_stats(during, aid, "20300601:0"))["c2"].quantity == 25  # stock kept


async def test_python_clock_disagreeing_with_redis_is_corrected(
    make_service: ServiceFactory,
) -> None:
    cfg = rain(sessions=[("10:00:00", "10:30:00"), ("10:30:00", "11:00:00")])
    aid = await published(make_service(), cfg)
    svc = at(make_service, local(DAY, 10, 45))
    # This process's own clock is 20 minutes behind: it guesses round 0, the
    # script (Redis clock) says round 1 is open, and the draw lands there.
    real = time.time
    svc.clock.wall = lambda: real() - 1200
    _, res = await svc.draws.draw("skew", aid)
    assert res.round_id.endswith(":20300601:1")


async def test_topup(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 1, 1.0), prize("t", None, 0.0, type="empty")]))
    assert (await svc.draws.draw("a", aid))[1].won
    assert not (await svc.draws.draw("b", aid))[1].won
    out = await svc.activities.topup(aid, f"{aid}:20300601:0", "c2", 2, BY)
    assert (out.quantity, out.released) == (3, 3)
    assert (await svc.draws.draw("c", aid))[1].won
    with pytest.raises(NotFound):
        await svc.activities.topup(aid, "20300601:0", "nope", 1, BY)
    with pytest.raises(NotFound):
        await svc.activities.topup(aid, "20300602:0", "c2", 1, BY)
    with pytest.raises(ValidationFailed):
        await svc.activities.topup(aid, "20300601:0", "t", 1, BY)
    with pytest.raises(Conflict) as err:
        await at(make_service, local(DAY, 11, 5)).activities.topup(aid, "20300601:0", "c2", 1, BY)
    assert err.value.code == "round_ended"


async def test_in_process_concurrency_never_oversells(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 25, 1.0)], limits={"per_round": 2}))
    res = await asyncio.gather(
        *[svc.draws.draw(f"u{i % 40}", aid) for i in range(200)], return_exceptions=True
    )
    wins = [r for r in res if not isinstance(r, BaseException) and r[1].won]
    refused = [r for r in res if isinstance(r, LimitReached)]
    assert len(wins) == 25
    assert len(refused) == 200 - 80
    st = await prize_stats(svc, aid, "20300601:0")
    assert (st["draws"], st["users"], st["c2"].won) == (80, 40, 25)


async def test_first_burst_compiles_the_activity_once(
    make_service: ServiceFactory, stack: tuple[Any, Any]
) -> None:
    aid = await published(make_service(), rain([prize("c2", 1000, 0.5)]))
    svc = at(make_service, local(DAY, 10, 5))  # a fresh process: nothing cached
    loads = 0
    real_load = svc.redis.catalogue.activity_config

    async def counting(activity_id: int) -> Any:
        nonlocal loads
        loads += 1
        return await real_load(activity_id)

    svc.redis.catalogue.activity_config = counting  # type: ignore[method-assign]
    await asyncio.gather(*[svc.draws.draw(f"b{i}", aid) for i in range(100)])
    assert loads == 1
    # Another process re-publishes (new version): the next burst gets STALE from
    # the script and reloads once, not once per request.
    await stack[0].hincrby(keys.cfg(aid), "ver", 1)
    await asyncio.gather(*[svc.draws.draw(f"c{i}", aid) for i in range(100)])
    assert loads == 2
