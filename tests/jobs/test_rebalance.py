"""The rebalancer (SPEC §9): stock follows the players across buckets, and a
move cut anywhere by a crash is completed with nothing lost or doubled.
Each test runs on fakeredis + SQLite and on real Redis + MariaDB."""

from __future__ import annotations

import random
from typing import Any

import pytest

from app.domain.errors import Conflict
from app.jobs.failpoints import Failpoints
from app.jobs.rebalance import Rebalancer
from app.services.container import Services
from app.services.verifier import Verifier
from app.store.redis import keys
from tests.conftest import ServiceFactory
from tests.helpers import DAY, local, prize, rain, users_in
from tests.jobs.test_worker import worker_for
from tests.services.test_draw import at, prize_stats, published

SFX = "20300601:0"


class Crash(Exception):
    pass


class CrashAt(Failpoints):
    """A failpoint that raises (an in-process "kill") at one named point."""

    def __init__(self, point: str) -> None:
        super().__init__("")
        self.point = point

    def hit(self, name: str) -> None:
        if name == self.point:
            raise Crash(name)


def rebalancer(svc: Services, failpoints: Failpoints | None = None, name: str = "r1") -> Rebalancer:
    return Rebalancer(svc.redis, svc.db, svc.runtimes, svc.clock, name=name, failpoints=failpoints)


async def quantities(svc: Services, aid: int, k: int) -> list[int]:
    return [
        int(await svc.redis.client.hget(keys.round_(aid, SFX, keys.bucket(b, 3)), "q1") or 0)
        for b in range(k)
    ]


async def test_stock_follows_the_players(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 9, 1.0)], buckets=3))
    players = users_in(aid, 0, 3, 12)  # everybody draws in bucket 0; 1 and 2 stay idle
    wins = 0
    for round_trip in range(6):
        for u in players[round_trip * 2 : round_trip * 2 + 2]:
            wins += (await svc.draws.draw(u, aid))[1].won
        await rebalancer(svc).run_once()
    assert wins == 9  # every unit was won, though two thirds started elsewhere
    st = await prize_stats(svc, aid, SFX)
    assert (st["c2"].quantity, st["c2"].won) == (9, 9)
    assert sum(await quantities(svc, aid, 3)) == 9
    moves = await svc.db.guard.moves(f"{aid}:{SFX}")
    assert sum(m.units for m in moves) == 6 and {m.to_bucket for m in moves} == {0}

    # After the round: the ledger replays with the moves, bucket by bucket.
    after = at(make_service, local(DAY, 11, 5))
    await worker_for(after).drain(30)
    report = await Verifier(after.db).verify(f"{aid}:{SFX}")
    assert report.ok, report.findings
    assert report.wins == 9


async def test_a_sold_out_round_stops_in_every_bucket(make_service: ServiceFactory) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 3, 1.0)], buckets=3, stop_when_sold_out=None))
    players = users_in(aid, 1, 3, 8)
    for u in players[:3]:
        await svc.draws.draw(u, aid)
        await rebalancer(svc).run_once()
    assert (await prize_stats(svc, aid, SFX))["c2"].won == 3
    await rebalancer(svc).run_once()  # sees the whole round sold out
    for bucket in range(3):
        with pytest.raises(Conflict) as err:
            await svc.draws.draw(users_in(aid, bucket, 3, 9)[8], aid)
        assert err.value.code == "sold_out"


@pytest.mark.parametrize("point", ["moved_out", "moved_in", "move_recorded"])
async def test_a_move_cut_by_a_crash_is_completed_once(
    make_service: ServiceFactory, point: str
) -> None:
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 30, 1.0)], buckets=3))
    busy = users_in(aid, 2, 3, 10)
    for v in busy:
        await svc.draws.draw(v, aid)  # bucket 2's 10 units won: it is dry and busy
    with pytest.raises(Crash):
        await rebalancer(svc, CrashAt(point)).run_once()
    assert sum(await quantities(svc, aid, 3)) + await in_flight(svc, aid) == 30
    await svc.redis.client.delete(keys.rebalance_lock(aid))  # the crashed one's lease ran out
    await rebalancer(svc, name="r2").run_once()
    assert sum(await quantities(svc, aid, 3)) == 30
    assert await in_flight(svc, aid) == 0
    moves = await svc.db.guard.moves(f"{aid}:{SFX}")
    assert len({m.move_id for m in moves}) == len(moves) >= 1
    for m in moves:
        logged = await svc.redis.moves.log(aid, SFX, 3, m.from_bucket)
        assert [x.state for x in logged if x.move_id == m.move_id] == ["done"]


async def in_flight(svc: Services, aid: int) -> int:
    """Units taken out of a bucket and not yet put in anywhere."""
    total = 0
    for b in range(3):
        for m in await svc.redis.moves.log(aid, SFX, 3, b):
            if m.state == "out":
                landed = await svc.redis.moves.log(aid, SFX, 3, m.peer)
                if not any(x.move_id == m.move_id for x in landed):
                    total += m.units
    return total


@pytest.mark.slow
async def test_many_random_crashes_conserve_every_unit(make_service: ServiceFactory) -> None:
    rng = random.Random(20261202)
    svc = at(make_service, local(DAY, 10, 5))
    aid = await published(svc, rain([prize("c2", 300, 1.0)], buckets=3))
    # Most players draw in bucket 0: it runs dry again and again.
    players = users_in(aid, 0, 3, 330) + users_in(aid, 1, 3, 30)
    rng.shuffle(players)
    won = crashes = 0
    for step in range(60):  # bounded: 60 rounds of draws, each followed by a look
        for u in players[step * 6 : step * 6 + 6]:
            won += (await svc.draws.draw(u, aid))[1].won
        point = rng.choice([None, "moved_out", "moved_in", "move_recorded"])
        try:
            await rebalancer(svc, CrashAt(point) if point else None, name=f"r{step}").run_once()
        except Crash:
            crashes += 1
        await svc.redis.client.delete(keys.rebalance_lock(aid))
        assert sum(await quantities(svc, aid, 3)) + await in_flight(svc, aid) == 300
    await rebalancer(svc, name="final").run_once()
    assert sum(await quantities(svc, aid, 3)) == 300 and await in_flight(svc, aid) == 0
    assert crashes > 5
    st = await prize_stats(svc, aid, SFX)
    assert st["c2"].won == won <= 300
    moves: Any = await svc.db.guard.moves(f"{aid}:{SFX}")
    assert len({m.move_id for m in moves}) == len(moves)
