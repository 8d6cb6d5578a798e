"""Redemption codes of coupon prizes (SPEC §3): the pool an operator uploads,
and which code each round's n-th win of a prize takes.

A code is in the pool while ``round_id`` is null. Publishing allots codes to
slots ``1..quantity`` of each round that has not started (:meth:`PrizeCodes.allot`);
``lua/draw.lua`` hands slot n to the n-th win. Every change of an
activity's codes runs under that activity's lock (services/activities.py),
so allotments never race each other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, insert, select, update

from app.domain.audit import AuditDraft
from app.domain.errors import Conflict, Duplicate
from app.domain.types import ActivityId
from app.store.sql.audit import append
from app.store.sql.connection import Connection
from app.store.sql.models import PrizeCodeRow

CHUNK = 1000  # rows per statement


class PrizeCodes:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def add(
        self,
        activity_id: ActivityId,
        prize_key: str,
        codes: Sequence[str],
        *,
        now: dt.datetime,
        audit: AuditDraft,
    ) -> int:
        """Add ``codes`` (distinct among themselves) to the pool, all or none:
        409 ``duplicate_codes`` naming those already there."""
        try:
            async with self.db.session() as s:
                taken: set[str] = set()
                for i in range(0, len(codes), CHUNK):
                    part = codes[i : i + CHUNK]
                    taken.update(
                        await s.scalars(
                            select(PrizeCodeRow.code).where(
                                PrizeCodeRow.activity_id == activity_id,
                                PrizeCodeRow.prize_key == prize_key,
                                PrizeCodeRow.code.in_(part),
                            )
                        )
                    )
                if taken:
                    raise _duplicates(sorted(taken))
                for i in range(0, len(codes), CHUNK):
                    await s.execute(
                        insert(PrizeCodeRow),
                        [
                            {
                                "activity_id": activity_id,
                                "prize_key": prize_key,
                                "code": c,
                                "added_at": now,
                            }
                            for c in codes[i : i + CHUNK]
                        ],
                    )
                await append(s, audit, now, self.db.audit_key)
        except Duplicate as exc:  # the same codes added at the same moment
            raise _duplicates([]) from exc
        return len(codes)

    async def available(self, activity_id: ActivityId, prize_key: str) -> int:
        """Codes in the pool, not allotted to any round."""
        async with self.db.session() as s:
            n = await s.scalar(
                select(func.count()).where(
                    PrizeCodeRow.activity_id == activity_id,
                    PrizeCodeRow.prize_key == prize_key,
                    PrizeCodeRow.round_id.is_(None),
                )
            )
        return int(n or 0)

    async def coded(self, activity_id: ActivityId) -> set[str]:
        """The prizes of the activity that have codes."""
        async with self.db.session() as s:
            keys = await s.scalars(
                select(PrizeCodeRow.prize_key)
                .where(PrizeCodeRow.activity_id == activity_id)
                .distinct()
            )
            return set(keys)

    async def counts(
        self, activity_id: ActivityId
    ) -> tuple[dict[str, int], dict[tuple[str, str, int], int]]:
        """In two grouped queries: the codes available per prize, and those
        allotted per (prize, round, pick)."""
        c = PrizeCodeRow
        async with self.db.session() as s:
            free = await s.execute(
                select(c.prize_key, func.count())
                .where(c.activity_id == activity_id, c.round_id.is_(None))
                .group_by(c.prize_key)
            )
            available = {str(k): int(n) for k, n in free}
            held = await s.execute(
                select(c.prize_key, c.round_id, c.pick, func.count())
                .where(c.activity_id == activity_id, c.round_id.is_not(None))
                .group_by(c.prize_key, c.round_id, c.pick)
            )
            allotted = {(str(k), str(r), int(p or 0)): int(n) for k, r, p, n in held}
        return available, allotted

    async def allot(
        self, activity_id: ActivityId, prize_key: str, round_id: str, pick: int, quantity: int
    ) -> dict[int, str]:
        """Slots ``1..quantity`` of the round, each with its code: the ones it
        had keep theirs, slots past ``quantity`` go back to the pool, missing
        ones take pool codes in upload order. Fewer slots than ``quantity``
        come back when the pool runs dry (the caller checked it first)."""
        mine = (PrizeCodeRow.activity_id == activity_id) & (PrizeCodeRow.prize_key == prize_key)
        here = mine & (PrizeCodeRow.round_id == round_id) & (PrizeCodeRow.pick == pick)
        async with self.db.session() as s:
            await s.execute(
                update(PrizeCodeRow)
                .where(here, PrizeCodeRow.slot > quantity)
                .values(round_id=None, pick=None, slot=None)
            )
            rows = await s.execute(select(PrizeCodeRow.slot, PrizeCodeRow.code).where(here))
            slots = {int(slot or 0): code for slot, code in rows.all()}
            missing = [n for n in range(1, quantity + 1) if n not in slots]
            if missing:
                pool = await s.execute(
                    select(PrizeCodeRow.id, PrizeCodeRow.code)
                    .where(mine, PrizeCodeRow.round_id.is_(None))
                    .order_by(PrizeCodeRow.id)
                    .limit(len(missing))
                )
                for n, (row_id, code) in zip(missing, pool.all(), strict=False):
                    await s.execute(
                        update(PrizeCodeRow)
                        .where(PrizeCodeRow.id == row_id)
                        .values(round_id=round_id, pick=pick, slot=n)
                    )
                    slots[n] = code
            return slots

    async def release(self, activity_id: ActivityId, round_id: str) -> None:
        """A round dropped from the plan gives its codes back to the pool."""
        async with self.db.session() as s:
            await s.execute(
                update(PrizeCodeRow)
                .where(PrizeCodeRow.activity_id == activity_id, PrizeCodeRow.round_id == round_id)
                .values(round_id=None, pick=None, slot=None)
            )


def _duplicates(codes: list[str]) -> Conflict:
    shown = ", ".join(codes[:10]) + (f" and {len(codes) - 10} more" if len(codes) > 10 else "")
    return Conflict(
        "codes: already added" + (f": {shown}" if shown else "; nothing was added"),
        code="duplicate_codes",
    )
