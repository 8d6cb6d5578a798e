"""User-created scheduled lotteries: the state machine of
:mod:`app.domain.lotteries` over the database. The worker calls
:meth:`Lotteries.run_due` once a second."""

from __future__ import annotations

import datetime as dt

from app.domain import lotteries as rules
from app.domain.errors import Conflict, NotFound
from app.domain.records import LotteryRecord
from app.services.clock import Clock
from app.services.limits import PlayerLimits
from app.store.sql.database import Database


class Lotteries:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        limits: PlayerLimits | None = None,
        max_open: int = 0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.limits = limits  # None: the worker, which writes for no player
        self.max_open = max_open  # REDRAIN_MAX_OPEN_LOTTERIES per creator; 0 no cap

    async def _count(self, user: str, *, creating: bool = False) -> None:
        """A player's write against the per-user rate limits (429 past them)."""
        if self.limits is not None:
            await (self.limits.lottery(user) if creating else self.limits.write(user))

    def status(self, rec: LotteryRecord) -> int:
        """The status as users see it: "drawing" from one minute before draw_at."""
        return rules.status(rec, self.clock.now_utc())

    async def create(
        self, creator: str, title: str, draw_at: dt.datetime, prize: str, quantity: int
    ) -> LotteryRecord:
        at = rules.draw_time(draw_at, self.clock.now_utc())
        await self._count(creator, creating=True)
        return await self.db.lotteries.create(
            creator, title, at, prize, quantity, now=self.clock.stamp(), max_open=self.max_open
        )

    async def get(self, lottery_id: int) -> LotteryRecord:
        rec = await self.db.lotteries.get(lottery_id)
        if rec is None:
            raise NotFound(f"lottery {lottery_id} does not exist", code="lottery_not_found")
        return rec

    async def of_user(self, user: str, limit: int = 100) -> list[tuple[LotteryRecord, bool, bool]]:
        """The lotteries ``user`` created or joined, newest first, with
        (joined, won)."""
        return await self.db.lotteries.of_user(user, limit=limit)

    async def is_participant(self, lottery_id: int, user_id: str) -> bool:
        return await self.db.lotteries.is_participant(lottery_id, user_id)

    async def join(self, lottery_id: int, user: str) -> bool:
        await self._count(user)
        rec = await self.get(lottery_id)
        rules.refuse_unless_open(rec, self.clock.now_utc(), "join")
        return await self.db.lotteries.join(
            lottery_id, user, now=self.clock.now_utc(), open_until=rules.open_until(rec)
        )

    async def leave(self, lottery_id: int, user: str) -> None:
        await self._count(user)
        rec = await self.get(lottery_id)
        rules.refuse_unless_open(rec, self.clock.now_utc(), "leave")
        left = await self.db.lotteries.leave(
            lottery_id, user, now=self.clock.now_utc(), open_until=rules.open_until(rec)
        )
        if not left:
            raise NotFound("you have not joined this lottery", code="not_participant")

    async def cancel(self, lottery_id: int, user: str) -> LotteryRecord:
        await self._count(user)
        rec = await self.get(lottery_id)
        rules.refuse_unless_creator(rec, user, "cancel")
        rules.refuse_unless_open(rec, self.clock.now_utc(), "cancel")
        moved = await self.db.lotteries.move(
            lottery_id, rules.OPEN, rules.CANCELED, now=self.clock.stamp()
        )
        if not moved:
            raise Conflict("cannot cancel: the lottery is no longer open", code="lottery_not_open")
        return await self.get(lottery_id)

    async def delete(self, lottery_id: int, user: str) -> None:
        await self._count(user)
        rec = await self.get(lottery_id)
        rules.refuse_unless_creator(rec, user, "delete")
        rules.refuse_unless_deletable(rec, self.clock.now_utc())
        await self.db.lotteries.delete(lottery_id)

    async def run_due(self) -> tuple[int, int]:
        """Close lotteries a minute before their draw and draw those due:
        ``(closed, drawn)`` by this call. Safe to run from several workers."""
        lotteries = self.db.lotteries
        closing, drawing = await lotteries.due(self.clock.now_utc(), lead=rules.CLOSE_LEAD)
        closed = 0
        for i in closing:
            closed += await lotteries.move(i, rules.OPEN, rules.DRAWING, now=self.clock.stamp())
        drawn = 0
        for lottery_id in drawing:
            if await lotteries.draw(lottery_id, rules.winners, now=self.clock.stamp()) is not None:
                drawn += 1
        return closed, drawn
