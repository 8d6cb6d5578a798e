"""User-created scheduled lotteries (SPEC §3): the state machine. No HTTP.

    open (0) ──one minute before draw_at──▶ drawing (1) ──at draw_at──▶ drawn (2)
      └──────────── cancel by the creator ──▶ canceled (9)

Joins, leaves and cancels are refused from one minute before ``draw_at``
even if no worker has recorded "drawing" yet, so the answer does not depend on
when a worker last ran. The worker makes each transition with a conditional
UPDATE (``WHERE status = from``), and the draw itself — winners and every
participant's notification — is one transaction: two workers, or a crash,
cannot draw a lottery twice or half-way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from app import fairness
from app.exceptions import Conflict, Forbidden, NotFound, ValidationFailed
from app.repository import Database, LotteryRecord

OPEN, DRAWING, DRAWN, CANCELED = 0, 1, 2, 9
NAMES = {OPEN: "open", DRAWING: "drawing", DRAWN: "drawn", CANCELED: "canceled"}
CLOSE_LEAD = dt.timedelta(minutes=1)
MIN_AHEAD = dt.timedelta(minutes=2)
MAX_AHEAD = dt.timedelta(days=365)


def winners(record: LotteryRecord, users: list[str]) -> list[str]:
    return fairness.lottery_winners(record.seed, users, record.quantity)


class Lotteries:
    def __init__(self, db: Database, now: Callable[[], dt.datetime]) -> None:
        self.db = db
        self.now = now  # naive UTC, with the operator's clock offset

    def status(self, rec: LotteryRecord) -> int:
        """The status as users see it: "drawing" from one minute before draw_at."""
        if rec.status == OPEN and self.now() >= rec.draw_at - CLOSE_LEAD:
            return DRAWING
        return rec.status

    async def create(
        self, creator: str, title: str, draw_at: dt.datetime, prize: str, quantity: int
    ) -> LotteryRecord:
        at = draw_at.astimezone(dt.UTC).replace(tzinfo=None)
        now = self.now()
        if at < now + MIN_AHEAD:
            raise ValidationFailed(
                "draw_at: must be at least 2 minutes from now (joins close a minute before)",
                field="draw_at",
            )
        if at > now + MAX_AHEAD:
            raise ValidationFailed("draw_at: must be within a year", field="draw_at")
        return await self.db.create_lottery(creator, title, at, prize, quantity)

    async def get(self, lottery_id: int) -> LotteryRecord:
        rec = await self.db.get_lottery(lottery_id)
        if rec is None:
            raise NotFound(f"lottery {lottery_id} does not exist", code="lottery_not_found")
        return rec

    def _refuse_unless_open(self, rec: LotteryRecord, what: str) -> None:
        status = self.status(rec)
        if status != OPEN:
            raise Conflict(
                f"cannot {what}: the lottery is {NAMES[status]}",
                code="lottery_not_open",
                status=NAMES[status],
            )

    async def join(self, lottery_id: int, user: str) -> bool:
        rec = await self.get(lottery_id)
        self._refuse_unless_open(rec, "join")
        try:
            return await self.db.join_lottery(
                lottery_id, user, now=self.now(), open_until=rec.draw_at - CLOSE_LEAD
            )
        except LookupError as exc:
            raise Conflict(
                "cannot join: the lottery is no longer open", code="lottery_not_open"
            ) from exc

    async def leave(self, lottery_id: int, user: str) -> None:
        rec = await self.get(lottery_id)
        self._refuse_unless_open(rec, "leave")
        try:
            left = await self.db.leave_lottery(
                lottery_id, user, now=self.now(), open_until=rec.draw_at - CLOSE_LEAD
            )
        except LookupError as exc:
            raise Conflict(
                "cannot leave: the lottery is no longer open", code="lottery_not_open"
            ) from exc
        if not left:
            raise NotFound("you have not joined this lottery", code="not_participant")

    async def cancel(self, lottery_id: int, user: str) -> LotteryRecord:
        rec = await self.get(lottery_id)
        if rec.creator != user:
            raise Forbidden("only the creator can cancel a lottery", code="not_creator")
        self._refuse_unless_open(rec, "cancel")
        if not await self.db.move_lottery(lottery_id, OPEN, CANCELED):
            raise Conflict("cannot cancel: the lottery is no longer open", code="lottery_not_open")
        return await self.get(lottery_id)

    async def delete(self, lottery_id: int, user: str) -> None:
        rec = await self.get(lottery_id)
        if rec.creator != user:
            raise Forbidden("only the creator can delete a lottery", code="not_creator")
        if self.status(rec) not in (OPEN, CANCELED):
            raise Conflict(
                f"cannot delete a lottery that is {NAMES[self.status(rec)]}",
                code="lottery_not_deletable",
            )
        try:
            await self.db.delete_lottery(lottery_id, only_if_empty_when_open=True)
        except LookupError as exc:
            raise Conflict(
                "cannot delete an open lottery that has participants: cancel it first",
                code="lottery_not_deletable",
            ) from exc

    async def run_due(self) -> tuple[int, int]:
        """Close lotteries a minute before their draw and draw those due:
        ``(closed, drawn)`` by this call. Safe to run from several workers."""
        closing, drawing = await self.db.due_lotteries(self.now(), lead=CLOSE_LEAD)
        closed = sum([await self.db.move_lottery(i, OPEN, DRAWING) for i in closing])
        drawn = 0
        for lottery_id in drawing:
            if await self.db.draw_lottery(lottery_id, winners) is not None:
                drawn += 1
        return closed, drawn
