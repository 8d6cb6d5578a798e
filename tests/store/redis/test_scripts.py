"""The Lua scripts on real Redis and on fakeredis: identical results, and exactly
the construction docs/fairness.md documents."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain import fairness
from app.store.redis.fakes import fake_client
from app.store.redis.replies import Code, Drawn, Outcome, Refused
from tests.conftest import real_redis
from tests.helpers import prize, rain
from tests.scriptkit import Loaded, load

SEED = bytes(range(100, 132))

MANUAL = rain(
    [prize("a", 30, 0.2), prize("b", 5, 0.3), prize("t", None, 0.1, type="empty")],
    limits={"per_round": 3},
    release={"slices": 2},
)
AUTO = rain(
    [
        prize("a", 20, None, weight=1),
        prize("b", 10, None, weight=5),
        prize("t", None, None, type="empty"),
    ],
    probability="auto",
    limits={"per_round": 3},
)


def drawn(out: Outcome) -> Drawn:
    assert isinstance(out, Drawn), out
    return out


async def run_sequence(loaded: Loaded) -> list[Outcome]:
    out: list[Outcome] = []
    for i in range(60):
        user = f"user{i % 17}"
        res = await loaded.draw(
            user, client_seed=f"cs{i % 3}", idem=f"k{i}" if i % 5 == 0 else None
        )
        if i % 5 == 0:
            # A retry of a drawn key replays it; a refusal was not stored (it
            # consumed nothing), so its retry is simply evaluated again.
            again = await loaded.draw(user, client_seed=f"cs{i % 3}", idem=f"k{i}")
            if isinstance(res, Drawn):
                assert again == res._replace(replayed=True)
            else:
                assert again == res
        if isinstance(res, Drawn):
            assert res.client_seed == f"cs{i % 3}"
            res = res._replace(at_ms=0)  # the clocks differ
        out.append(res)
    return out


@pytest.mark.integration
@pytest.mark.parametrize("cfg", [MANUAL, AUTO], ids=["manual", "auto"])
async def test_identical_on_redis_and_fakeredis(cfg: dict[str, Any]) -> None:
    real = await real_redis()
    fake = fake_client()
    try:
        a = await run_sequence(await load(real, cfg, seed=SEED))
        b = await run_sequence(await load(fake, cfg, seed=SEED))
    finally:
        await real.aclose()
        await fake.aclose()
    assert a == b
    assert any(isinstance(r, Drawn) for r in a)
    assert Refused(Code.ROUND_LIMIT) in a


async def test_results_follow_the_documented_construction(redis_client: Any) -> None:
    loaded = await load(redis_client, MANUAL, seed=SEED, minute=45)  # both slices released
    ppbs = [p.ppb for p in loaded.round.prizes]
    stock = {p.index: p.quantity for p in loaded.round.prizes}
    for i in range(40):
        user, cs = f"p{i % 10}", f"seed-{i}"
        res = await loaded.draw(user, cs)
        if res == Refused(Code.ROUND_LIMIT):
            continue
        d = drawn(res)
        key = fairness.user_key(SEED, user, cs)
        assert d.random == fairness.draw_random(key, d.nonce)
        assert d.pick == fairness.pick_manual(d.random, ppbs)
        pick = d.pick
        expect_win = pick > 0 and not loaded.round.prizes[pick - 1].empty and stock[pick] > 0
        assert d.won == expect_win
        if d.won:
            stock[pick] -= 1


async def test_auto_mode_weights_by_released_remaining(redis_client: Any) -> None:
    loaded = await load(redis_client, AUTO, seed=SEED)
    prizes = loaded.round.prizes
    left = {p.index: p.quantity for p in prizes}
    for i in range(60):
        res = drawn(await loaded.draw(f"q{i}"))
        weighted = [0 if p.empty else p.weight * left[p.index] for p in prizes]
        assert res.pick == fairness.pick_auto(res.random, weighted)
        if res.won:
            left[res.pick] -= 1
    # 60 draws, 30 units: everything is won and later draws are empty.
    assert sum(left.values()) == 0
    assert not drawn(await loaded.draw("late")).won


async def test_stale_version_and_wrong_round(redis_client: Any) -> None:
    loaded = await load(
        redis_client, rain(sessions=[("10:00:00", "10:30:00"), ("10:30:00", "11:00:00")])
    )
    loaded.version = 99
    assert await loaded.draw("x") == Refused(Code.STALE)
    loaded.version = 1
    loaded.redis.offset = str(int(loaded.redis.offset) + 40 * 60_000)  # now 10:45
    assert await loaded.draw("x") == Refused(Code.WRONG_ROUND, "20300601:1")


async def test_scripts_reload_after_script_flush(redis_client: Any) -> None:
    loaded = await load(redis_client, rain([prize("c2", 10, 1.0)]))
    await redis_client.script_flush()
    assert isinstance(await loaded.draw("after-flush"), Drawn)
