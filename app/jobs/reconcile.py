"""``redrain reconcile``: prove Redis and the database agree (SPEC §5, invariant 3).

For every round that has ended, once its stream is drained: Redis's counters
(draws, users, wins per prize, draws per user) against the database's rows.
Because a draw id is ``<round_id>:<seq>`` and Redis numbers a round's draws
1..n, a gap in the stored sequence numbers names exactly the missing draws,
and a number above n names a row Redis never made. (With K buckets, bucket b
numbers its draws b+1, b+1+K, …: the same holds bucket by bucket.) ``repair`` re-drives
missing draws from what the stream still holds and says what it could not.
No printing here: the CLI renders :class:`RoundCheck`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.domain.records import ReconcileRun
from app.domain.runtime import Runtime, prize_of
from app.domain.types import ActivityId, RoundPlan
from app.services.clock import Clock
from app.services.runtimes import RuntimeCache
from app.store.redis import keys, ledger
from app.store.redis.store import RedisStore
from app.store.redis.streams import StreamState, fields_of
from app.store.sql.database import Database

MAX_NAMED = 20  # ids listed per problem; the counts are always complete


@dataclass
class RoundCheck:
    round_id: str
    redis_draws: int = 0
    db_draws: int = 0
    redis_users: int = 0
    db_users: int = 0
    wins: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (redis, db)
    missing: list[str] = field(default_factory=list)  # draw ids Redis made, not in the DB
    extra: list[str] = field(default_factory=list)  # draw ids in the DB Redis never made
    users_off: list[tuple[str, int, int]] = field(default_factory=list)  # (user, redis, db)
    undelivered: int = 0
    pending: int = 0
    in_redis: bool = True
    repaired: int = 0
    unrepairable: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return (
            self.in_redis
            and self.redis_draws == self.db_draws
            and self.redis_users == self.db_users
            and all(r == d for r, d in self.wins.values())
            and not self.missing
            and not self.extra
            and not self.users_off
        )

    @property
    def drained(self) -> bool:
        return self.undelivered == 0 and self.pending == 0

    @property
    def status(self) -> str:
        if self.agrees:
            return "ok"
        return "drift" if self.drained else "not drained"

    def problems(self) -> list[str]:
        """One line per disagreement, naming what differs."""
        out: list[str] = []
        if not self.in_redis:
            out.append("Redis has no record of this round")
        if not self.drained:
            out.append(
                f"stream not drained: {self.undelivered} undelivered, {self.pending} pending "
                "(is `redrain worker` running?)"
            )
        if self.redis_draws != self.db_draws:
            out.append(f"draws: Redis {self.redis_draws}, database {self.db_draws}")
        for key, (r, d) in sorted(self.wins.items()):
            if r != d:
                out.append(f"wins of {key}: Redis {r}, database {d}")
        if self.missing:
            out.append(f"{len(self.missing)} draws missing in the database: {_names(self.missing)}")
        if self.extra:
            out.append(f"{len(self.extra)} database rows Redis never made: {_names(self.extra)}")
        if self.users_off:
            shown = ", ".join(f"{u} ({r}/{d})" for u, r, d in self.users_off[:MAX_NAMED])
            out.append(f"{len(self.users_off)} users' draw counts differ (Redis/database): {shown}")
        if self.repaired:
            out.append(f"repaired {self.repaired} draws from the stream")
        if self.unrepairable:
            out.append(
                f"cannot repair {len(self.unrepairable)}: no longer in Redis: "
                f"{_names(self.unrepairable)}"
            )
        return out


def _names(ids: list[str]) -> str:
    more = len(ids) - MAX_NAMED
    return ", ".join(ids[:MAX_NAMED]) + (f" and {more} more" if more > 0 else "")


class Reconciler:
    def __init__(
        self,
        redis: RedisStore,
        db: Database,
        *,
        runtimes: RuntimeCache | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.redis = redis
        self.streams = redis.streams
        self.db = db
        self.runtimes = runtimes or RuntimeCache(redis.catalogue)
        self.clock = clock or Clock(int(redis.offset))

    async def ended_rounds(
        self, activity_ids: list[ActivityId] | None, since_ms: int | None
    ) -> tuple[list[RoundPlan], int]:
        """Rounds that have ended (by the Redis clock), ended after ``since_ms``
        when given; also how many rounds were skipped because they are not over."""
        now = await self.redis.now_ms()
        chosen: list[RoundPlan] = []
        skipped = 0
        for aid in activity_ids or await self.redis.catalogue.active_activities():
            rt = await self.runtime(aid)
            if rt is None:
                continue
            for rnd in rt.timeline.rounds:
                if rnd.end_ms > now:
                    skipped += rnd.start_ms <= now
                elif since_ms is None or rnd.end_ms >= since_ms:
                    chosen.append(rnd)
        return chosen, skipped

    async def runtime(self, aid: ActivityId) -> Runtime | None:
        return await self.runtimes.current(aid)

    async def _drained(self, rnd: RoundPlan, buckets: int, wait: float) -> StreamState:
        deadline = time.monotonic() + wait
        while True:
            st = await self.streams.round_state(rnd.activity_id, rnd.sfx, buckets)
            if (st.undelivered == 0 and st.pending == 0) or time.monotonic() >= deadline:
                return st
            await asyncio.sleep(0.2)

    async def check(self, rnd: RoundPlan, *, wait: float = 0.0) -> RoundCheck:
        k = await self.redis.catalogue.buckets(rnd.activity_id)
        spaces = [keys.bucket(b, k) for b in range(k)]
        st = await self._drained(rnd, k, wait)
        c = RoundCheck(rnd.round_id, undelivered=st.undelivered, pending=st.pending)
        parts = [await self.streams.round_counters(rnd, s) for s in spaces]
        led = await self.db.draws.round_ledger(rnd.round_id)
        c.db_draws, c.db_users = led.draws, led.users
        if any(p is None for p in parts):
            c.in_redis = False
            c.extra = [
                f"{rnd.round_id}:{s}" for s in sorted(await self.db.draws.round_seqs(rnd.round_id))
            ]
            return c
        counters = [p for p in parts if p is not None]
        c.redis_draws = sum(p[0] for p in counters)
        c.redis_users = sum(p[1] for p in counters)
        redis_wins: dict[str, int] = {}
        for p in counters:
            for key, n in p[2].items():
                redis_wins[key] = redis_wins.get(key, 0) + n
        c.wins = {
            key: (redis_wins.get(key, 0), led.wins.get(key, 0)) for key in {*redis_wins, *led.wins}
        }
        if k > 1 or (led.draws, led.min_seq, led.max_seq) != (
            c.redis_draws,
            min(1, c.redis_draws),
            c.redis_draws,
        ):
            seqs = set(await self.db.draws.round_seqs(rnd.round_id))
            # Bucket b numbers its draws b+1, b+1+k, … (lua/draw.lua).
            made = {b + 1 + k * j for b, p in enumerate(counters) for j in range(p[0])}
            c.missing = [f"{rnd.round_id}:{s}" for s in sorted(made - seqs)]
            c.extra = [f"{rnd.round_id}:{s}" for s in sorted(seqs - made)]
        if c.redis_draws or c.db_draws:
            redis_users: dict[str, int] = {}
            for s in spaces:
                redis_users.update(await self.streams.round_user_counts(rnd, s))
            db_users = await self.db.draws.round_user_counts(rnd.round_id)
            c.users_off = sorted(
                (u, redis_users.get(u, 0), db_users.get(u, 0))
                for u in {*redis_users, *db_users}
                if redis_users.get(u, 0) != db_users.get(u, 0)
            )
        return c

    async def repair(self, rnd: RoundPlan, check: RoundCheck) -> RoundCheck:
        """Write the missing draws the stream still holds; re-check."""
        if not check.missing:
            again = await self.check(rnd)
            again.unrepairable = list(check.extra)
            return again
        wanted = set(check.missing)
        found = {}
        k = await self.redis.catalogue.buckets(rnd.activity_id)
        entries = []
        for b in range(k):
            entries += await self.streams.entries(
                rnd.activity_id, keys.lane(rnd.sfx, keys.bucket(b, k))
            )
        for entry in entries:
            fields = fields_of(entry)
            draw_id = fields.get(ledger.F["drawId"])
            if draw_id in wanted:
                found[draw_id] = ledger.parse(entry.id, fields)
        rt = await self.runtime(rnd.activity_id)
        result = await self.db.draws.store(
            [(rec, prize_of(rt, rec)) for rec in found.values()],
            buckets={rnd.round_id: k},
        )
        again = await self.check(rnd)
        again.repaired = result.inserted
        again.unrepairable = [d for d in check.missing if d not in found] + list(check.extra)
        return again

    async def run(
        self,
        rounds: list[RoundPlan],
        *,
        repair: bool = False,
        wait: float = 0.0,
        progress: Callable[[RoundPlan], None] | None = None,
    ) -> list[RoundCheck]:
        out = []
        for rnd in rounds:
            c = await self.check(rnd, wait=wait)
            if repair and not c.agrees:
                c = await self.repair(rnd, c)
            out.append(c)
            if progress is not None:
                progress(rnd)
        return out

    async def record(self, checks: list[RoundCheck]) -> ReconcileRun:
        """Keep this run's result for ``/metrics`` (``redrain_reconcile_*``):
        the drift and not-run alerts read it. Wall-clock time, not the draw
        clock: Prometheus compares it with its own ``time()``, and
        REDRAIN_CLOCK_OFFSET must not age it."""
        now = int(time.time() * 1000)
        bad = [c for c in checks if not c.agrees]
        run = ReconcileRun(
            run_ms=now,
            ok_ms=None if bad else now,
            checked=len(checks),
            drift=sum(c.status == "drift" for c in bad),
            not_drained=sum(c.status == "not drained" for c in bad),
            repaired=sum(c.repaired for c in checks),
        )
        await self.redis.reconciled.record(run)
        return run
