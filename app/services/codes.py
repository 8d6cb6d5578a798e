"""Redemption codes for coupon prizes (SPEC §3): the operator's pool, and
loading each round's share into Redis where the draw script hands them out.

A coupon prize is *coded* once any code was uploaded for it. Each round of a
coded prize gets one code per unit of its quantity, allotted in the database
(so a code never serves two rounds) and written to the round's codes hash
(app/store/redis/catalogue.py); the n-th win of the prize in the round takes
slot n, in the same atomic call as the win. With no code in slot n the draw
is a loss: never a win without a code.

Codes need ``buckets: 1``: a bucketed round moves stock between buckets
(SPEC §9), and a code would have to move with each unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.domain import ids
from app.domain.activity import ActivityConfig
from app.domain.errors import NotFound, ValidationFailed
from app.domain.types import ActivityId, PrizeType, RoundPlan
from app.store.redis.store import RedisStore
from app.store.sql.database import Database

CODE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
)  # no commas: the replay record splits on them
MAX_UPLOAD = 10_000


@dataclass(frozen=True, slots=True)
class Added:
    added: int
    available: int


def check_upload(cfg: ActivityConfig, prize_key: str, codes: Sequence[str]) -> None:
    """The prize takes codes and the codes are well formed and distinct."""
    types = {p.key: p.type for s in cfg.sessions for pool in s.pools for p in pool.prizes}
    if prize_key not in types:
        raise NotFound(f"the activity has no prize {prize_key!r}", code="prize_not_found")
    if PrizeType(types[prize_key]) is not PrizeType.COUPON:
        raise ValidationFailed(
            f"prize: {prize_key!r} is not a coupon; only coupons take codes", field="prize"
        )
    if cfg.buckets > 1:
        raise ValidationFailed(
            "codes: prizes with codes need buckets: 1 (stock moves between buckets)",
            field="codes",
        )
    bad = [c for c in codes if not CODE.match(c)]
    if bad:
        raise ValidationFailed(
            f"codes: {bad[0][:80]!r} is not a code (1-64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit)",
            field="codes",
        )
    if len(set(codes)) != len(codes):
        seen: set[str] = set()
        twice = next(c for c in codes if c in seen or seen.add(c))  # type: ignore[func-returns-value]
        raise ValidationFailed(f"codes: {twice!r} is there twice", field="codes")


def coded_picks(rnd: RoundPlan, coded: set[str]) -> list[tuple[int, str, int]]:
    """(prize number, key, plan quantity) of the round's coded coupon prizes."""
    return [
        (p.index, p.key, p.quantity)
        for p in rnd.prizes
        if p.key in coded and p.type is PrizeType.COUPON
    ]


class Codes:
    def __init__(self, redis: RedisStore, db: Database) -> None:
        self.redis = redis
        self.db = db

    async def coded(self, activity_id: ActivityId, cfg: ActivityConfig) -> set[str]:
        keys = await self.db.codes.coded(activity_id)
        if keys and cfg.buckets > 1:
            raise ValidationFailed(
                f"buckets: prize {sorted(keys)[0]!r} has codes, which need buckets: 1",
                field="buckets",
            )
        return keys

    async def check_enough(
        self, activity_id: ActivityId, rounds: Iterable[RoundPlan], coded: set[str]
    ) -> None:
        """422 naming the first prize whose rounds need more codes than the
        pool has (codes a round already holds count for it)."""
        free, held = await self.db.codes.counts(activity_id)  # two queries, not one per round
        need: dict[str, int] = {}
        count: dict[str, int] = {}
        for r in rounds:
            for pick, key, quantity in coded_picks(r, coded):
                got = held.get((key, r.round_id, pick), 0)
                need[key] = need.get(key, 0) + max(0, quantity - got)
                count[key] = count.get(key, 0) + 1
        for key in sorted(need):
            available = free.get(key, 0)
            if need[key] > available:
                raise ValidationFailed(
                    f"prizes: {key!r} needs {need[key]} more codes for {count[key]} round(s)"
                    f" that have not started, and {available} are available; upload more"
                    f" (POST /v1/admin/activities/{activity_id}/prizes/{key}/codes)",
                    field=f"prizes.{key}",
                )

    async def load(
        self,
        activity_id: ActivityId,
        rounds: Iterable[RoundPlan],
        coded: set[str],
        quantities: dict[tuple[str, int], int] | None = None,
    ) -> None:
        """Allot and load each round's codes: slots 1..quantity per coded prize
        (``quantities`` overrides the plan's, by (sfx, prize number), e.g. a
        topped-up round)."""
        for r in rounds:
            picks = coded_picks(r, coded)
            if not picks:
                continue
            loaded: dict[int, dict[int, str]] = {}
            for pick, key, quantity in picks:
                q = (quantities or {}).get((r.sfx, pick), quantity)
                loaded[pick] = await self.db.codes.allot(activity_id, key, r.round_id, pick, q)
            await self.redis.catalogue.load_codes(activity_id, r.sfx, loaded)

    async def drop(self, activity_id: ActivityId, sfxs: Iterable[str]) -> None:
        """Rounds dropped from the plan give their codes back."""
        for sfx in sfxs:
            await self.db.codes.release(activity_id, ids.round_id(activity_id, sfx))
            await self.redis.catalogue.drop_codes(activity_id, sfx)
