"""Compact losses (SPEC §5): a generated rain adds at most W + U + N/1000 + 20
ledger rows, comes back draw for draw, stays exactly-once under replays,
reordering and two writers at once, and pages through a player's history
newest first. MariaDB and SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import zlib

import orjson
from sqlalchemy import func, select, text

from app.domain import fairness
from app.domain.losses import BLOCK, block_of, history_key
from app.domain.records import StoredDraw
from app.domain.types import DrawRecord, PrizePlan, PrizeType
from app.store.sql.database import Database
from app.store.sql.models import DrawRow, LossBlockRow, LossUserRow, NotificationRow
from tests import helpers

NOW = dt.datetime(2030, 6, 1, 2, 0, 7)
PRIZE = PrizePlan(1, "c2", PrizeType.COUPON, "2 元券", "CPN-2", 10, 10**8, 1)
T0 = 1_906_509_900_000
SEED = bytes(range(32))  # every round's here: a kept loss's random value follows from it


async def rounds_of(db: Database, aid: int, *days: str) -> None:
    """The activity and its rounds, with :data:`SEED`, as a publish stores them."""
    async with db.session() as s:
        conn = await s.connection()
        await conn.execute(
            text(
                "INSERT INTO activities (id, name, kind, timezone, start_date, end_date, config,"
                " version, status, created_at, updated_at) VALUES (:id, 'rain', 'time', 'UTC',"
                " :d, :d, :cfg, 1, 'draft', :t, :t)"
            ),
            {
                "id": aid,
                "d": dt.date(2030, 6, 1),
                "t": NOW,
                "cfg": orjson.dumps(helpers.rain()).decode(),
            },
        )
        for day in days:
            await conn.execute(
                text(
                    "INSERT INTO rounds (id, activity_id, day, session_index, starts_at_ms,"
                    " ends_at_ms, seed, seed_hash) VALUES (:id, :aid, :day, 0, 0, :end, :seed, 'h')"
                ),
                {
                    "id": f"{aid}:{day}:0",
                    "aid": aid,
                    "day": dt.date(2030, 6, 1),
                    "end": T0 + 10**7,
                    "seed": SEED.hex(),
                },
            )


def rain(
    aid: int,
    day: str,
    *,
    n: int,
    users: int,
    buckets: int,
    seed: int,
    t0: int = T0,
    who: str = "p",
) -> list[DrawRecord]:
    """``n`` draws of one round by ``users`` players, ~1% wins, numbered as
    lua/draw.lua numbers a round with ``buckets`` lanes (a user keeps a lane)."""
    rng = random.Random(seed)
    round_id = f"{aid}:{day}:0"
    made = [0] * buckets
    nonces: dict[str, int] = {}
    out = []
    for i in range(n):
        user = f"{who}{rng.randrange(users)}"
        lane = zlib.crc32(user.encode()) % buckets
        seq = made[lane] * buckets + lane + 1
        made[lane] += 1
        nonces[user] = nonces.get(user, 0) + 1
        won = rng.random() < 0.01
        at = t0 + i // 3  # three draws a millisecond: ties in time are common
        cseed = rng.choice(["", "lucky", "🧧"])
        out.append(
            DrawRecord(
                f"{round_id}:{seq}",
                aid,
                round_id,
                seq,
                user,
                nonces[user],
                cseed,
                1 if won else rng.choice([0, 0, 2]),
                won,
                "c2" if won else None,
                fairness.draw_random(fairness.user_key(SEED, user, cseed), nonces[user]),
                at,
                f"{at + rng.randrange(3)}-{i % 7}",
                1,
            )
        )
    return out


def batches(draws: list[DrawRecord], rng: random.Random) -> list[list[DrawRecord]]:
    """Batches as the worker cuts them, some replayed, in a shuffled order."""
    out, i = [], 0
    while i < len(draws):
        size = rng.choice([1, 7, 90, 400, 1000, 1700])
        out.append(draws[i : i + size])
        i += size
    out += [list(b) for b in rng.sample(out, len(out) // 5)]  # redelivered after a crash
    rng.shuffle(out)
    return out


async def rows_in(db: Database, model: type, aid: int) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).where(model.activity_id == aid)) or 0)


def prize_for(rec: DrawRecord) -> PrizePlan | None:
    return PRIZE if rec.won else None


async def test_a_rain_adds_rows_by_prizes_and_players_not_taps(database: Database) -> None:
    for aid, buckets in ((7101, 1), (7102, 3)):
        await rounds_of(database, aid, "20300601")
        draws = rain(aid, "20300601", n=12_000, users=150, buckets=buckets, seed=aid)
        rng = random.Random(aid)
        stored = duplicates = 0
        for batch in batches(draws, rng):
            res = await database.draws.store(
                [(r, prize_for(r)) for r in batch],
                buckets={draws[0].round_id: buckets},
            )
            assert res.collisions == []
            stored += res.inserted
            duplicates += res.duplicates
        n, w = len(draws), sum(r.won for r in draws)
        users = {r.user_id for r in draws}
        winners = {r.user_id for r in draws if r.won}
        assert stored == n  # each draw once, whatever the replays
        assert duplicates > 0
        rows = await rows_in(database, DrawRow, aid)
        blocks = await rows_in(database, LossBlockRow, aid)
        index = await rows_in(database, LossUserRow, aid)
        # A player with a win row needs no index row: the row finds the round.
        assert rows == w and index == len({r.user_id for r in draws if not r.won} - winners)
        # Each lane's blocks are full but its last: at most N/BLOCK + K of them.
        assert blocks <= n // BLOCK + buckets, blocks
        bound = w + len(users) + n / 1000 + 20
        assert rows + blocks + index <= bound
        async with database.session() as s:
            notices = await s.scalar(
                select(func.count()).where(NotificationRow.ref.startswith(f"{aid}:"))
            )
            sent = await s.scalar(
                select(func.count()).where(DrawRow.activity_id == aid, DrawRow.notice.is_not(None))
            )
        # Each win still sends its one notification, on its own row: players
        # here win several times each, and the whole database keeps the bound.
        assert (notices, sent) == (0, w) and w > len(winners)
        assert rows + blocks + index + notices <= bound
        # Everything comes back as it was drawn, in draw order.
        back = (await database.draws.round_draws(draws[0].round_id)).draws
        assert [d.record for d in back] == sorted(draws, key=lambda r: r.seq)
        assert [d.record.seq for d in back] == sorted(r.seq for r in draws)
        led = await database.draws.round_ledger(draws[0].round_id)
        assert (led.draws, led.users, led.wins) == (n, len({r.user_id for r in draws}), {"c2": w})
        assert led.min_seq == 1 and led.max_seq == max(r.seq for r in draws)
        counts = await database.draws.round_user_counts(draws[0].round_id)
        assert sum(counts.values()) == n and counts["p7"] == sum(r.user_id == "p7" for r in draws)
        assert await database.draws.count(aid) == n


async def test_a_draw_id_reused_with_other_content_is_a_collision(database: Database) -> None:
    await rounds_of(database, 7103, "20300601")
    draws = rain(7103, "20300601", n=1000, users=20, buckets=1, seed=3)
    await database.draws.store([(r, prize_for(r)) for r in draws])
    loss = next(r for r in draws if not r.won)
    win = next(r for r in draws if r.won)
    forged = [
        (loss._replace(user_id="mallory"), None),  # the same loss, another player
        (loss._replace(won=True, prize_key="c2", pick=1), PRIZE),  # the loss, now a win
        (win._replace(won=False, prize_key=None, pick=0), None),  # the win, now a loss
    ]
    res = await database.draws.store(forged)
    assert res.inserted == 0 and len(res.collisions) == 3
    back = {
        d.record.draw_id: d.record for d in (await database.draws.round_draws(loss.round_id)).draws
    }
    assert back[loss.draw_id] == loss and back[win.draw_id] == win
    assert len(back) == 1000 and await rows_in(database, DrawRow, 7103) == sum(r.won for r in draws)


async def test_two_writers_at_once_store_each_draw_once(database: Database) -> None:
    await rounds_of(database, 7104, "20300601")
    draws = rain(7104, "20300601", n=6000, users=80, buckets=2, seed=4)
    rid = draws[0].round_id
    other = Database(database.url, audit_key=database.audit_key)
    try:
        # Two workers given overlapping batches (a claim racing a read).
        halves = [draws[:4000], draws[2000:]]
        results = await asyncio.gather(
            *[
                db.draws.store([(r, prize_for(r)) for r in part], buckets={rid: 2})
                for db, part in zip((database, other), halves, strict=True)
            ]
        )
    finally:
        await other.close()
    assert sum(r.inserted for r in results) == 6000
    assert sum(r.duplicates for r in results) == 2000
    back = (await database.draws.round_draws(rid)).draws
    assert [d.record for d in back] == sorted(draws, key=lambda r: r.seq)


async def test_history_pages_across_rows_and_compact_losses(database: Database) -> None:
    # One player in three rounds of two activities, with other players around.
    mine: list[DrawRecord] = []
    await rounds_of(database, 7105, "20300601", "20300602")
    await rounds_of(database, 7106, "20300601")
    for aid, day, t0 in (
        (7105, "20300601", T0),
        (7105, "20300602", T0 + 5000),
        (7106, "20300601", T0 + 2000),
    ):
        draws = rain(
            aid,
            day,
            n=3000,
            users=15,
            buckets=2 if aid == 7106 else 1,
            seed=aid + t0,
            t0=t0,
            who="hist-",
        )
        for part in batches(draws, random.Random(t0)):
            await database.draws.store(
                [(r, prize_for(r)) for r in part],
                buckets={draws[0].round_id: 2 if aid == 7106 else 1},
            )
        mine += [r for r in draws if r.user_id == "hist-3"]
    assert any(r.won for r in mine) and sum(not r.won for r in mine) > 100
    for activity in (None, 7105, 7106):
        want = sorted(
            (r for r in mine if activity is None or r.activity_id == activity),
            key=history_key,
            reverse=True,
        )
        got: list[StoredDraw] = []
        before = None
        while True:
            page = await database.draws.of_user(
                "hist-3", activity_id=activity, limit=37, before=before
            )
            got += page
            if len(page) < 37:
                break
            before = history_key(page[-1].record)
        assert [d.record for d in got] == want, activity
    one = await database.draws.get(mine[0].draw_id)
    assert one is not None and one.record == mine[0]
    assert await database.draws.get(f"{mine[0].round_id}:999999") is None


def test_a_lane_numbers_its_own_blocks() -> None:
    # Bucket b of K numbers its draws b+1, b+1+K, …: its j-th draw is in block j // BLOCK.
    assert (
        block_of(1, 1) == (0, 0)
        and block_of(BLOCK, 1) == (0, 0)
        and block_of(BLOCK + 1, 1) == (0, 1)
    )
    assert block_of(3, 4) == (2, 0) and block_of(3 + 4 * BLOCK, 4) == (2, 1)
    assert block_of(4 * BLOCK, 4) == (3, 0)


async def test_deleting_a_draw_touches_only_its_own_block(database: Database) -> None:
    # Lanes interleave their draw numbers, so their blocks' ranges overlap.
    await rounds_of(database, 7107, "20300601")
    draws = rain(7107, "20300601", n=3000, users=40, buckets=3, seed=7)
    rid = draws[0].round_id
    await database.draws.store([(r, prize_for(r)) for r in draws], buckets={rid: 3})
    win = next(r for r in draws if r.won)
    loss = next(r for r in draws if not r.won and r.seq > 3)
    assert await database.draws.delete([win.draw_id, loss.draw_id]) == 2
    back = {d.record.draw_id: d.record for d in (await database.draws.round_draws(rid)).draws}
    assert set(back) == {r.draw_id for r in draws} - {win.draw_id, loss.draw_id}
    assert (await database.draws.round_draws(rid)).damaged == []
    # Both can be stored again: the row's mark went with the row.
    again = await database.draws.store([(win, PRIZE), (loss, None)], buckets={rid: 3})
    assert (again.inserted, again.collisions) == (2, [])
    assert await database.draws.count(7107) == 3000
