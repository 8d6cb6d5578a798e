"""Several draws in one script call (SPEC §3 "Several draws in one request"),
on real Redis and on fakeredis: a batch of n is exactly the n single draws it
replaces, stops where a single draw would be refused, and replays whole."""

from __future__ import annotations

from typing import Any

import pytest

from app.store.redis import keys
from app.store.redis.replies import Batch, BatchOutcome, Code, Drawn, Refused
from tests.helpers import prize, rain
from tests.scriptkit import Loaded, load

SEED = bytes(range(7, 39))

# Little stock, so that wins run out within the sequence; per-round and
# per-day limits that a batch runs into; sold out stops draws.
SCARCE = rain(
    [prize("a", 6, 0.3), prize("b", 3, 0.2), prize("t", None, 0.1, type="empty")],
    limits={"per_round": 14, "per_day": 17},
    stop_when_sold_out=True,
)
AUTO = rain(
    [prize("a", 5, None, weight=1), prize("b", 9, None, weight=4)],
    probability="auto",
    limits={"per_round": 9, "wins_total": 5},
    stop_when_sold_out=True,
)


def steady(d: Drawn) -> Drawn:
    return d._replace(at_ms=0, replayed=False)  # the clock moves between calls


async def singles(loaded: Loaded, user: str, n: int) -> tuple[list[Drawn], Refused | None]:
    """What n single draws give: the draws made until the first refusal."""
    made: list[Drawn] = []
    for _ in range(n):
        out = await loaded.draw(user, client_seed="s,1")
        if isinstance(out, Refused):
            return made, out
        assert isinstance(out, Drawn)
        made.append(steady(out))
    return made, None


async def batched(loaded: Loaded, user: str, n: int) -> tuple[list[Drawn], Refused | None]:
    out = await loaded.draw(user, client_seed="s,1", count=n)
    if isinstance(out, Refused):
        return [], out
    assert isinstance(out, Batch), out
    assert not out.replayed
    return [steady(d) for d in out.draws], out.stop


async def entries(client: Any, loaded: Loaded) -> list[dict[bytes, bytes]]:
    stream = keys.stream(loaded.activity_id, loaded.round.sfx, None)
    out = []
    for _, fields in await client.xrange(stream):
        fields = dict(fields)
        # The draw id names the activity; the time is the clock's.
        fields[b"d"] = fields[b"d"].split(b":", 1)[1]
        del fields[b"t"]
        out.append(fields)
    return out


@pytest.mark.parametrize("cfg", [SCARCE, AUTO], ids=["manual", "auto"])
async def test_a_batch_is_the_single_draws_it_replaces(
    redis_client: Any, cfg: dict[str, Any]
) -> None:
    one = await load(redis_client, cfg, activity_id=7, seed=SEED)
    many = await load(redis_client, cfg, activity_id=8, seed=SEED)
    stops: set[Code] = set()
    total = 0
    for i in range(40):
        user, n = f"p{i % 3}", 1 + (i * 7) % 10
        a, a_stop = await singles(one, user, n)
        b, b_stop = await batched(many, user, n)
        assert b == a, f"request {i}: {n} draws of {user}"
        if a:  # a refusal after a draw stops the batch; before any, refuses it
            assert b_stop == a_stop
        else:
            assert a_stop is not None and b_stop == a_stop
        stops |= {a_stop.code} if a_stop else set()
        total += len(a)
        nonces = [d.nonce for d in b]
        assert nonces == list(range(nonces[0], nonces[0] + len(b))) if b else True
    assert await entries(redis_client, many) == await entries(redis_client, one)
    if cfg is SCARCE:
        assert total >= 20 and {Code.ROUND_LIMIT, Code.SOLD_OUT} <= stops
    else:
        assert total >= 12 and Code.WIN_LIMIT in stops


async def test_a_stopped_batch_gives_back_what_it_did_not_draw(redis_client: Any) -> None:
    loaded = await load(redis_client, rain([prize("a", 100, 0.5)], limits={"per_round": 4}))
    out = await loaded.draw("u", count=10)
    assert isinstance(out, Batch)
    assert [d.nonce for d in out.draws] == [1, 2, 3, 4]
    assert out.stop == Refused(Code.ROUND_LIMIT)
    # The nonces reserved for the six draws not made are given back.
    users = keys.round_users(loaded.activity_id, loaded.round.sfx, None)
    assert int(await redis_client.hget(users, "u")) == 4
    assert await loaded.draw("u", count=3) == Refused(Code.ROUND_LIMIT)
    rnd = keys.round_(loaded.activity_id, loaded.round.sfx, None)
    assert int(await redis_client.hget(rnd, "draws")) == 4


async def test_sold_out_stops_the_batch_at_the_last_unit(redis_client: Any) -> None:
    loaded = await load(redis_client, rain([prize("a", 3, 1.0)], stop_when_sold_out=True))
    out = await loaded.draw("u", count=10)
    assert isinstance(out, Batch)
    assert [d.won for d in out.draws] == [True, True, True]
    assert out.stop == Refused(Code.SOLD_OUT)
    assert await loaded.draw("v", count=2) == Refused(Code.SOLD_OUT)
    rnd = keys.round_(loaded.activity_id, loaded.round.sfx, None)
    assert await redis_client.hmget(rnd, "draws", "w1") == [b"3", b"3"]


async def test_the_rate_limit_counts_each_draw_of_a_batch(redis_client: Any) -> None:
    loaded = await load(redis_client, rain([prize("a", 100, 0.1)]))
    out = await loaded.draw("u", count=6, rate_user=4)
    assert isinstance(out, Batch)
    assert len(out.draws) == 4
    assert out.stop is not None and out.stop.code is Code.RATE_LIMITED
    assert 0 < out.stop.ms <= 1000
    refused = await loaded.draw("u", count=2, rate_user=4)
    assert isinstance(refused, Refused) and refused.code is Code.RATE_LIMITED
    # Per address as well: another player from the same address.
    out = await loaded.draw("v", count=5, client_ip="10.0.0.1", rate_ip=3)
    assert isinstance(out, Batch) and len(out.draws) == 3


async def test_a_batch_replays_whole_for_its_key(redis_client: Any) -> None:
    loaded = await load(redis_client, rain([prize("a", 100, 0.5)], limits={"per_round": 5}))
    first = await loaded.draw("u", client_seed="x,y|z", idem="k1", count=7)
    assert isinstance(first, Batch) and len(first.draws) == 5
    again = await loaded.draw("u", client_seed="x,y|z", idem="k1", count=7)
    assert isinstance(again, Batch) and again.replayed
    assert again.stop == first.stop
    assert again.draws == tuple(d._replace(replayed=True) for d in first.draws)
    assert all(d.client_seed == "x,y|z" for d in again.draws)
    # The same key with another count, or as a single draw, asked for something else.
    assert await loaded.draw("u", client_seed="x,y|z", idem="k1", count=6) == Refused(
        Code.IDEM_REUSED
    )
    assert await loaded.draw("u", client_seed="x,y|z", idem="k1") == Refused(Code.IDEM_REUSED)
    stream = keys.stream(loaded.activity_id, loaded.round.sfx, None)
    assert await redis_client.xlen(stream) == 5


async def test_count_levels_each_draw_takes_the_next_pool(redis_client: Any) -> None:
    cfg = rain(kind="count")
    pool = cfg["sessions"][0]["pools"][0]
    cfg["sessions"][0]["pools"] = [
        {**pool, "nth": k, "prizes": [prize(f"l{k}", 100, 1.0)]} for k in (1, 2, 3)
    ]
    loaded = await load(redis_client, cfg)
    out: BatchOutcome = await loaded.draw("u", count=5)
    assert isinstance(out, Batch)
    assert [d.pick for d in out.draws] == [1, 2, 3]
    assert [d.total_count for d in out.draws] == [1, 2, 3]
    assert out.stop == Refused(Code.NO_MORE_LEVELS)
    stream = keys.stream(loaded.activity_id, loaded.round.sfx, None)
    pools = [f[b"o"] for _, f in await redis_client.xrange(stream)]
    assert pools == [b"1", b"2", b"3"]
