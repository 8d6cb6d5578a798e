"""Draws for players: the hot path, and the ledger once it is flushed.

A draw guesses the open round from this process's clock, derives the user's
key from that round's seed, and makes one call of ``lua/draw.lua``. The
script is the authority (Redis clock, stock, limits): it may answer that the
configuration moved (STALE: reload it) or that another round is open
(WRONG_ROUND: draw there), and the loop retries a few times.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence

from app.config import Settings
from app.domain import fairness, ids
from app.domain.buckets import bucket_of
from app.domain.errors import (
    Conflict,
    ContractError,
    Forbidden,
    LimitReached,
    NotFound,
    RedrainError,
    Unavailable,
    ValidationFailed,
)
from app.domain.records import StoredDraw
from app.domain.runtime import Runtime, iso, seconds_until
from app.domain.types import ActivityId, DrawBatch, DrawCounts, DrawResult
from app.services.clock import Clock
from app.services.runtimes import RuntimeCache
from app.store.redis import keys
from app.store.redis.draw import RoundCall
from app.store.redis.replies import Batch, Code, Drawn, Refused
from app.store.redis.store import RedisStore
from app.store.sql.database import Database
from app.upstream.risk import RiskHook

log = logging.getLogger("redrain.draws")

MAX_ATTEMPTS = 4  # STALE / WRONG_ROUND retries before giving up


def _not_started(rt: Runtime, r: Refused, now: int) -> RedrainError:
    return Conflict(
        "the activity has not started yet",
        code="activity_not_started",
        next_round_start=iso(r.ms, rt.config.zone),
    )


def _round_closed(rt: Runtime, r: Refused, now: int) -> RedrainError:
    return Conflict(
        "no round is open now", code="round_closed", next_round_start=iso(r.ms, rt.config.zone)
    )


def _sold_out(rt: Runtime, r: Refused | None, now: int) -> RedrainError:
    nxt = rt.timeline.next_after(now)
    details = {"next_round_start": iso(nxt.start_ms, rt.config.zone)} if nxt else {}
    return Conflict("every prize of this round has been won", code="sold_out", **details)


# Every 429 carries Retry-After (SPEC §3): the next round or day that can
# answer otherwise, else the activity's end: no draw of this user succeeds
# before it (nor after; the header says only "not sooner").
def _round_limit(rt: Runtime, r: Refused, now: int) -> RedrainError:
    nxt = rt.timeline.next_after(now)
    return LimitReached(
        "you have used every draw of this round",
        code="round_limit",
        retry_after=seconds_until(nxt.start_ms if nxt else rt.window[1], now),
    )


def _day_limit(rt: Runtime, r: Refused, now: int) -> RedrainError:
    current, _ = rt.timeline.at(now)
    nxt = rt.timeline.next_after(now, other_day_than=current.date_key if current else None)
    return LimitReached(
        "you have used every draw of today",
        code="day_limit",
        retry_after=seconds_until(nxt.start_ms if nxt else rt.window[1], now),
    )


def _for_good(message: str, code: str) -> Callable[[Runtime, Refused, int], RedrainError]:
    return lambda rt, r, now: LimitReached(
        message, code=code, retry_after=seconds_until(rt.window[1], now)
    )


def _missing(rt: Runtime, r: Refused, now: int) -> RedrainError:
    log.error("round state of activity %s is missing in Redis: re-publish it", rt.id)
    return Unavailable("the round's state is missing in Redis")


def _key_reused() -> RedrainError:
    return ValidationFailed(
        "Idempotency-Key was already used with another request body",
        code="idempotency_key_reused",
    )


def _fixed(error: Callable[[], RedrainError]) -> Callable[[Runtime, Refused, int], RedrainError]:
    return lambda rt, r, now: error()


# Every refusal of the draw script, mapped once to what the player is told.
REFUSALS: dict[Code, Callable[[Runtime, Refused, int], RedrainError]] = {
    Code.ACTIVITY_NOT_FOUND: lambda rt, r, now: NotFound(
        f"activity {rt.id} is not published", code="activity_not_found"
    ),
    Code.NOT_STARTED: _not_started,
    Code.ENDED: _fixed(lambda: Conflict("the activity has ended", code="activity_ended")),
    Code.ROUND_CLOSED: _round_closed,
    Code.ROUND_LIMIT: _round_limit,
    Code.DAY_LIMIT: _day_limit,
    Code.TOTAL_LIMIT: _for_good("you have used every draw of this activity", "total_limit"),
    Code.WIN_LIMIT: _for_good("you have won the most prizes allowed", "win_limit"),
    Code.BLACKLISTED: _fixed(
        lambda: Forbidden("you cannot draw in this activity", code="blacklisted")
    ),
    Code.RATE_LIMITED: lambda rt, r, now: LimitReached(
        "too many draws; slow down", code="rate_limited", retry_after=max(1, -(-r.ms // 1000))
    ),
    Code.GRANT_NOT_FOUND: _fixed(
        lambda: NotFound("you have no such grant in this activity", code="grant_not_found")
    ),
    Code.GRANT_USED: _fixed(
        lambda: Conflict("this grant has already been drawn on", code="grant_used")
    ),
    Code.NO_MORE_LEVELS: _fixed(
        lambda: Conflict("you have drawn at every level of this activity", code="no_more_levels")
    ),
    Code.NO_POOL: _fixed(
        lambda: Conflict("no prize pool of this activity covers the grant's amount", code="no_pool")
    ),
    Code.SOLD_OUT: _sold_out,
    Code.PAUSED: _fixed(
        lambda: Conflict(
            "the organiser has paused this activity; try again later", code="activity_paused"
        )
    ),
    Code.ROUND_MISSING: _missing,
    Code.IDEM_REUSED: _fixed(_key_reused),
}


def results(rt: Runtime, draws: Sequence[Drawn]) -> tuple[DrawResult, ...]:
    """The script's draws as results: all of one round and one user (a single
    draw, or a batch), so what they share is looked up once."""
    first = draws[0]
    rnd = rt.round(first.sfx)
    prizes = rnd.prizes if rnd is not None else ()
    round_id = ids.round_id(rt.id, first.sfx)
    buckets = rt.config.buckets
    return tuple(
        DrawResult(
            f"{round_id}:{d.seq}",
            round_id,
            d.won,
            prizes[d.pick - 1] if d.won and prizes and d.pick > 0 else None,
            d.nonce,
            DrawCounts(d.nonce, d.day_count, d.total_count),
            d.random,
            d.client_seed,
            d.at_ms,
            d.replayed,
            d.pick,
            (d.seq - 1) % buckets,
            d.code or None,
        )
        for d in draws
    )


class Draws:
    def __init__(
        self,
        settings: Settings,
        redis: RedisStore,
        db: Database,
        runtimes: RuntimeCache,
        clock: Clock,
        risk: RiskHook | None = None,
    ) -> None:
        self.redis = redis
        self.db = db
        self.runtimes = runtimes
        self.clock = clock
        self.risk = risk
        self.rate_user = settings.rate_limit_user
        self.rate_ip = settings.rate_limit_ip

    async def _known_sold_out(
        self, rt: Runtime, call: RoundCall, bucket: int, user_id: str, key: str | None
    ) -> bool:
        """Sold out as this process last heard (see RuntimeCache.known_sold_out),
        unless the draw is a retry whose answer Redis kept."""
        if not self.runtimes.known_sold_out(rt.id, call.sfx, bucket):
            return False
        return not (key and await self.redis.draws.has_answer(call, user_id, key))

    async def draw(
        self,
        user_id: str,
        activity_id: ActivityId,
        *,
        client_seed: str = "",
        idempotency_key: str | None = None,
        grant_id: str | None = None,
        client_ip: str = "",
    ) -> tuple[Runtime, DrawResult]:
        rt, out = await self._call(
            user_id, activity_id, client_seed, idempotency_key, grant_id, client_ip, None
        )
        if not isinstance(out, Drawn):  # a single draw's key never holds a batch's answer
            raise ContractError("the draw script answered a single draw with a batch")
        return rt, results(rt, (out,))[0]

    async def draw_many(
        self,
        user_id: str,
        activity_id: ActivityId,
        count: int,
        *,
        client_seed: str = "",
        idempotency_key: str | None = None,
        client_ip: str = "",
    ) -> tuple[Runtime, DrawBatch]:
        """Up to ``count`` draws in one script call (SPEC §3). The first
        draw's refusal is raised as a single draw's; a later one stops the
        batch and is returned as ``stopped``."""
        rt, out = await self._call(
            user_id, activity_id, client_seed, idempotency_key, None, client_ip, count
        )
        if isinstance(out, Drawn):  # a key answered before batches kept its answer
            return rt, DrawBatch(results(rt, (out,)), None, out.replayed)
        stopped = None
        if out.stop is not None:
            stopped = REFUSALS[out.stop.code](rt, out.stop, self.clock.now_ms())
        return rt, DrawBatch(results(rt, out.draws), stopped, out.replayed)

    def _checked(self, rt: Runtime, grant_id: str | None, count: int | None) -> None:
        cfg = rt.config
        if count is not None:
            if grant_id:
                raise ValidationFailed("count: grants are drawn one at a time", field="count")
            if count > cfg.most_per_request:
                raise ValidationFailed(
                    f"count: this activity allows at most {cfg.most_per_request} draws a request",
                    field="count",
                )
        if cfg.needs_grant and not grant_id:
            raise ValidationFailed(
                "grant_id: this activity draws on a grant; name one", field="grant_id"
            )
        if grant_id and not cfg.takes_grants:
            raise ValidationFailed(
                "grant_id: this activity does not draw on grants", field="grant_id"
            )

    async def _call(
        self,
        user_id: str,
        activity_id: ActivityId,
        client_seed: str,
        idempotency_key: str | None,
        grant_id: str | None,
        client_ip: str,
        count: int | None,
    ) -> tuple[Runtime, Drawn | Batch]:
        rt = await self.runtimes.get(activity_id)
        if self.risk is not None:
            await self.risk.check(user_id, client_ip, activity_id)
        self._checked(rt, grant_id, count)
        # The key is the user's across activities: claimed first (only when
        # sent), so the same key with another activity is refused, not drawn.
        if idempotency_key and not await self.redis.draws.claim(
            user_id, idempotency_key, rt.id, client_seed, grant_id, count
        ):
            raise _key_reused()
        now = self.clock.now_ms()
        guess = rt.timeline.nearest(now)
        bucket = bucket_of(rt.id, user_id, rt.config.buckets)
        for _ in range(MAX_ATTEMPTS):
            if guess is None:
                break
            call = self.redis.draws.prepared(rt, guess, bucket)
            if await self._known_sold_out(rt, call, bucket, user_id, idempotency_key):
                raise _sold_out(rt, None, now)
            seed, _ = await self.runtimes.seed_of(rt, guess)
            out = await self.redis.draws.draw(
                call,
                version=rt.version,
                user_id=user_id,
                user_key=fairness.user_key(seed, user_id, client_seed),
                client_seed=client_seed,
                idempotency_key=idempotency_key,
                grant_id=grant_id,
                client_ip=client_ip,
                rate_user=self.rate_user,
                rate_ip=self.rate_ip,
                count=count,
            )
            if not isinstance(out, Refused):
                if isinstance(out, Batch) and out.stop and out.stop.code is Code.SOLD_OUT:
                    self.runtimes.sold_out(rt.id, guess.sfx, bucket)
                return rt, out
            if out.code is Code.STALE:
                rt = await self.runtimes.get(activity_id, stale=rt)
                self._checked(rt, grant_id, count)
                guess = rt.timeline.nearest(now)
                bucket = bucket_of(rt.id, user_id, rt.config.buckets)
            elif out.code is Code.WRONG_ROUND:
                guess = rt.round(out.detail or "")
            else:
                if out.code is Code.ACTIVITY_NOT_FOUND:
                    self.runtimes.forget(rt.id)
                elif out.code is Code.SOLD_OUT:
                    self.runtimes.sold_out(rt.id, guess.sfx, bucket)
                raise REFUSALS[out.code](rt, out, self.clock.now_ms())
        raise Conflict("the activity changed during the draw; try again", code="retry")

    async def seed_hash(self, rt: Runtime, round_id: str) -> str:
        """The published seed hash of a round of ``rt`` ("" if it has none)."""
        rnd = rt.round_of(round_id)
        return (await self.runtimes.seed_of(rt, rnd))[1] if rnd else ""

    async def user_counts(self, rt: Runtime, user_id: str) -> tuple[int, int, int, int]:
        """The user's draws in the open round, on its day (or the next round's),
        in the activity, and wins in the activity."""
        current, nxt = rt.timeline.at(self.clock.now_ms())
        rnd = current or nxt
        return await self.redis.catalogue.user_counts(
            rt.id,
            user_id,
            current.sfx if current else None,
            rnd.date_key if rnd else None,
            keys.user_space(rt.id, user_id, rt.config.buckets),
        )

    # -- the ledger (database) ------------------------------------------------------

    async def history(
        self,
        user_id: str,
        *,
        activity_id: ActivityId | None,
        limit: int,
        before: tuple[int, int] | None,
    ) -> list[StoredDraw]:
        """The user's own draws once the worker has flushed them, newest first."""
        return await self.db.draws.of_user(
            user_id, activity_id=activity_id, limit=limit, before=before
        )

    async def winners(
        self, activity_id: ActivityId, *, round_id: str | None, after_id: int, limit: int
    ) -> list[StoredDraw]:
        if await self.db.activities.get(activity_id) is None:
            raise NotFound(f"activity {activity_id} does not exist", code="activity_not_found")
        return await self.db.draws.winners(
            activity_id, round_id=round_id, after_id=after_id, limit=limit
        )

    async def all_winners(
        self, activity_id: ActivityId, *, round_id: str | None, page: int = 5000
    ) -> AsyncIterator[list[StoredDraw]]:
        after = 0
        while True:
            rows = await self.db.draws.winners(
                activity_id, round_id=round_id, after_id=after, limit=page
            )
            if not rows:
                return
            yield rows
            after = rows[-1].id
