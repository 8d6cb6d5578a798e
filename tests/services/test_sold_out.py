"""409 sold_out (SPEC §3): once every prize of a round's pool is won and no
slice is left to release, a time activity stops taking draws; nothing is
consumed by the refusal. Same tests on fakeredis and real Redis."""

from __future__ import annotations

import asyncio

import pytest

from app.domain.errors import Conflict, LimitReached
from tests.conftest import ServiceFactory
from tests.helpers import BY, DAY, local, prize, rain
from tests.services.test_draw import at, prize_stats, published

SFX = "20300601:0"


async def test_a_time_round_stops_when_every_prize_is_won(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    cfg = rain(
        [prize("c2", 2, 0.5), prize("c5", 1, 0.5), prize("none", None, 0.0, type="empty")],
        sessions=[("10:00:00", "11:00:00"), ("12:00:00", "13:00:00")],
        limits={"per_round": 1},
        stop_when_sold_out=None,  # the product default for kind time
    )
    aid = await published(svc, cfg)
    won = 0
    for i in range(40):  # c2 and c5 share all the odds: 3 wins come long before 40
        won += (await svc.draws.draw(f"u{i}", aid))[1].won
        if won == 3:
            break
    assert won == 3
    with pytest.raises(Conflict) as err:
        await svc.draws.draw("late", aid)
    assert err.value.code == "sold_out"
    assert err.value.details["next_round_start"] == "2030-06-01T12:00:00+08:00"
    before = await prize_stats(svc, aid, SFX)

    # Nothing was consumed: after a top-up the refused player still has
    # this round's one draw.
    await svc.activities.topup(aid, f"{aid}:{SFX}", "c5", 1, BY)
    assert (await prize_stats(svc, aid, SFX))["draws"] == before["draws"]
    await svc.draws.draw("late", aid)  # a draw, not a refusal: the top-up made stock
    with pytest.raises(LimitReached):
        await svc.draws.draw("late", aid)


async def test_not_sold_out_while_a_slice_is_still_to_come(make_service: ServiceFactory) -> None:
    # 2 units in 2 slices: 10:00 and 10:30.
    cfg = rain([prize("c2", 2, 1.0)], release={"slices": 2}, stop_when_sold_out=None)
    aid = await published(make_service(), cfg)
    early = at(make_service, local(DAY, 10, 5))
    assert (await early.draws.draw("a", aid))[1].won
    lost = (await early.draws.draw("b", aid))[1]
    assert not lost.won  # the second slice is still to come: a loss, not sold_out
    late = at(make_service, local(DAY, 10, 35))
    assert (await late.draws.draw("c", aid))[1].won
    with pytest.raises(Conflict) as err:
        await late.draws.draw("d", aid)
    assert err.value.code == "sold_out"
    assert "next_round_start" not in err.value.details  # the last round of the activity


@pytest.mark.parametrize("setting", [False, "count"])
async def test_draws_go_on_when_not_asked_to_stop(
    make_service: ServiceFactory, setting: object
) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    if setting == "count":  # kind count defaults to going on
        cfg = rain([prize("c2", 1, 1.0)], stop_when_sold_out=None)
        cfg["kind"] = "count"
        cfg["sessions"][0]["pools"][0]["nth"] = 1
        cfg["after_last_pool"] = "repeat_last"
    else:
        cfg = rain([prize("c2", 1, 1.0)], stop_when_sold_out=False)
    aid = await published(svc, cfg)
    results = [(await svc.draws.draw(f"u{i}", aid))[1].won for i in range(4)]
    assert results == [True, False, False, False]


async def test_concurrent_draws_sell_out_exactly(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 30, 0.5)], stop_when_sold_out=None))
    res = await asyncio.gather(
        *[svc.draws.draw(f"u{i}", aid) for i in range(300)], return_exceptions=True
    )
    wins = sum(1 for r in res if not isinstance(r, BaseException) and r[1].won)
    losses = sum(1 for r in res if not isinstance(r, BaseException) and not r[1].won)
    sold_out = [r for r in res if isinstance(r, Conflict) and r.code == "sold_out"]
    assert wins == 30
    assert len(sold_out) == 300 - wins - losses > 0
    st = await prize_stats(svc, aid, SFX)
    assert (st["draws"], st["c2"].won) == (wins + losses, 30)


async def test_a_process_remembers_sold_out_for_a_second(make_service: ServiceFactory) -> None:
    """The tail of a rain costs no Redis call: stock added behind this process's
    back (another API process's top-up) is seen only once the memory lapses;
    a top-up through this process is seen at once."""
    svc = at(make_service, local(DAY, 10, 5))
    svc.runtimes.sold_out_memory = 0.3
    aid = await published(svc, rain([prize("c2", 1, 1.0)], stop_when_sold_out=True))
    assert (await svc.draws.draw("first", aid))[1].won
    with pytest.raises(Conflict):
        await svc.draws.draw("second", aid)
    await svc.redis.catalogue.topup(aid, SFX, "c2", 1, 1)  # as another process would
    with pytest.raises(Conflict) as err:
        await svc.draws.draw("second", aid)  # remembered: Redis was not asked
    assert err.value.code == "sold_out"
    await asyncio.sleep(0.35)
    assert (await svc.draws.draw("second", aid))[1].won  # the memory lapsed

    with pytest.raises(Conflict):
        await svc.draws.draw("third", aid)
    await svc.activities.topup(aid, f"{aid}:{SFX}", "c2", 1, BY)  # through this process
    assert (await svc.draws.draw("third", aid))[1].won


async def test_a_retry_of_the_last_win_is_replayed_not_refused(
    make_service: ServiceFactory,
) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 1, 1.0)], stop_when_sold_out=True))
    _, won = await svc.draws.draw("winner", aid, idempotency_key="tap-1")
    assert won.won
    with pytest.raises(Conflict):
        await svc.draws.draw("other", aid, idempotency_key="tap-2")  # remembered now
    _, again = await svc.draws.draw("winner", aid, idempotency_key="tap-1")
    assert again.replayed and again.draw_id == won.draw_id and again.won
    with pytest.raises(Conflict):
        await svc.draws.draw("winner", aid, idempotency_key="tap-3")  # a new tap
