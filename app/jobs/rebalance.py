"""The rebalancer (SPEC §9), run by ``redrain worker``: move unwon released
stock between the buckets of an open round, to where players draw.

A move spans two Redis slots, so it cannot be one atomic call. Its protocol:

1. take out (``lua/move_out.lua``, source bucket): released and quantity go
   down by the units, and the source's move log says ``out``;
2. put in (``lua/move_in.lua``, destination): up by the same units, and the
   destination's log says ``in`` — idempotent by move id;
3. record the move in the database (``stock_moves``, unique move id), so
   ``redrain verify`` replays each bucket's stock;
4. mark it ``done`` in the source's log.

A crash anywhere leaves at most a move whose source says ``out``: whoever
runs next finds it and completes steps 2-4 (each harmless to repeat). Units
taken out and not yet put in are "in flight", never lost: the round's total
(quantity summed over buckets, plus in flight) is the same at every point.
One worker at a time rebalances an activity (a lock in Redis).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets

from app.domain.errors import NotFound
from app.domain.rebalance import plan
from app.domain.records import StockMove
from app.domain.runtime import Runtime
from app.domain.types import RoundPlan, RoundStats
from app.jobs.failpoints import Failpoints
from app.services.clock import Clock
from app.services.runtimes import RuntimeCache
from app.store.redis import keys
from app.store.redis.moves import MoveRef, OutCode
from app.store.redis.store import RedisStore
from app.store.sql.database import Database

log = logging.getLogger("redrain.rebalance")

LOCK_MS = 5_000


class Rebalancer:
    def __init__(
        self,
        redis: RedisStore,
        db: Database,
        runtimes: RuntimeCache,
        clock: Clock,
        *,
        name: str,
        failpoints: Failpoints | None = None,
    ) -> None:
        self.redis = redis
        self.db = db
        self.runtimes = runtimes
        self.clock = clock
        self.name = name
        self.failpoints = failpoints or Failpoints("")
        self._seen: dict[str, list[int]] = {}  # round id -> draws per bucket at the last look
        self.moved = 0  # units moved by this rebalancer

    async def run_once(self) -> int:
        """One look at every bucketed activity's open round (and a recovery of
        the previous one's half-done moves); units moved."""
        before = self.moved
        for aid in await self.redis.catalogue.active_activities():
            k = await self.redis.catalogue.buckets(aid)
            if k <= 1 or not await self.redis.moves.lock(aid, self.name, LOCK_MS):
                continue
            try:
                rt = await self.runtimes.get(aid)
            except NotFound:
                continue
            now = self.clock.now_ms()
            current, _ = rt.timeline.at(now)
            started = [r for r in rt.timeline.rounds if r.start_ms <= now]
            for rnd in started[-2:]:
                await self.recover(rt, rnd)
            if current is not None:
                await self.balance(rt, current)
        return self.moved - before

    async def recover(self, rt: Runtime, rnd: RoundPlan) -> None:
        """Complete every move a crash left half done in ``rnd``."""
        k = rt.config.buckets
        for b in range(k):
            for logged in await self.redis.moves.log(rt.id, rnd.sfx, k, b):
                if logged.state == "out":
                    log.warning(
                        "completing stock move %s of round %s", logged.move_id, rnd.round_id
                    )
                    ref = MoveRef(
                        rt.id,
                        rnd.sfx,
                        k,
                        b,
                        logged.peer,
                        logged.move_id,
                        logged.prize,
                        logged.units,
                    )
                    await self._complete(rnd, ref, logged.at_ms)

    async def balance(self, rt: Runtime, rnd: RoundPlan) -> None:
        k = rt.config.buckets
        parts: list[RoundStats] = []
        for b in range(k):
            st = await self.redis.catalogue.bucket_stats(rnd, keys.bucket(b, k))
            if st is None:
                return
            parts.append(st)
        draws = [p.draws for p in parts]
        prev = self._seen.get(rnd.round_id) or [0] * k
        self._seen[rnd.round_id] = draws
        busy = [d > prev[b] for b, d in enumerate(draws)]
        for i, prize in enumerate(rnd.prizes, start=1):
            if prize.empty:
                continue
            left = [p.prizes[i - 1].released - p.prizes[i - 1].won for p in parts]
            for m in plan(left, busy):
                await self._move(rt, rnd, i, m.src, m.dst, m.units)
        if rt.config.stops_when_sold_out and self._sold_out(rnd, parts):
            await self.redis.moves.mark_sold_out(rt.id, rnd.sfx, k)

    @staticmethod
    def _sold_out(rnd: RoundPlan, parts: list[RoundStats]) -> bool:
        """Every unit of every prize released and won, in every bucket (units in
        flight are not counted as won, so a move under way keeps it open)."""
        real = [i for i, p in enumerate(rnd.prizes) if not p.empty]
        return bool(real) and all(
            sum(p.prizes[i].won for p in parts) == sum(p.prizes[i].quantity for p in parts)
            and all(p.prizes[i].released == p.prizes[i].quantity for p in parts)
            for i in real
        )

    async def _move(
        self, rt: Runtime, rnd: RoundPlan, prize: int, src: int, dst: int, units: int
    ) -> None:
        move_id = f"{self.clock.now_ms()}.{secrets.token_hex(4)}"
        ref = MoveRef(rt.id, rnd.sfx, rt.config.buckets, src, dst, move_id, prize, units)
        out = await self.redis.moves.take_out(ref)
        if isinstance(out, OutCode):
            return  # drawn meanwhile, or the round ended: nothing taken
        taken, at_ms = out
        self.failpoints.hit("moved_out")
        await self._complete(rnd, dataclasses.replace(ref, units=taken), at_ms)

    async def _complete(self, rnd: RoundPlan, m: MoveRef, out_at_ms: int) -> None:
        in_at = await self.redis.moves.put_in(m)
        if in_at is None:
            log.error("stock move %s: round %s is gone from Redis", m.move_id, rnd.round_id)
            return
        self.failpoints.hit("moved_in")
        await self.db.guard.record_move(
            rnd.round_id,
            StockMove(
                m.move_id, rnd.prizes[m.prize - 1].key, m.src, m.dst, m.units, out_at_ms, in_at
            ),
        )
        self.failpoints.hit("move_recorded")
        await self.redis.moves.finish(m, out_at_ms)
        self.moved += m.units
