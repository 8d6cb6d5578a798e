"""User-created scheduled lotteries (SPEC §3): the state machine. Pure: no I/O.

    open (0) ──one minute before draw_at──▶ drawing (1) ──at draw_at──▶ drawn (2)
      └──────────── cancel by the creator ──▶ canceled (9)

Joins, leaves and cancels are refused from one minute before ``draw_at``
even if no worker has recorded "drawing" yet, so the answer does not depend on
when a worker last ran. The worker makes each transition with a conditional
UPDATE (``WHERE status = from``), and the draw itself — winners and every
participant's notification — is one transaction: two workers, or a crash,
cannot draw a lottery twice or half-way (``app.services.lotteries``).
"""

from __future__ import annotations

import datetime as dt

from app.domain import fairness
from app.domain.errors import Conflict, Forbidden, LimitReached, ValidationFailed
from app.domain.records import LotteryRecord

OPEN, DRAWING, DRAWN, CANCELED = 0, 1, 2, 9
NAMES = {OPEN: "open", DRAWING: "drawing", DRAWN: "drawn", CANCELED: "canceled"}
CLOSE_LEAD = dt.timedelta(minutes=1)
MIN_AHEAD = dt.timedelta(minutes=2)
MAX_AHEAD = dt.timedelta(days=365)


def winners(record: LotteryRecord, users: list[str]) -> list[str]:
    return fairness.lottery_winners(record.seed, users, record.quantity)


def status(rec: LotteryRecord, now: dt.datetime) -> int:
    """The status as users see it: "drawing" from one minute before draw_at."""
    if rec.status == OPEN and now >= rec.draw_at - CLOSE_LEAD:
        return DRAWING
    return rec.status


def open_until(rec: LotteryRecord) -> dt.datetime:
    """Joins, leaves and cancels are accepted strictly before this (naive UTC)."""
    return rec.draw_at - CLOSE_LEAD


def draw_time(draw_at: dt.datetime, now: dt.datetime) -> dt.datetime:
    """A requested ``draw_at`` (aware) as naive UTC, if it is far enough ahead."""
    at = draw_at.astimezone(dt.UTC).replace(tzinfo=None)
    if at < now + MIN_AHEAD:
        raise ValidationFailed(
            "draw_at: must be at least 2 minutes from now (joins close a minute before)",
            field="draw_at",
        )
    if at > now + MAX_AHEAD:
        raise ValidationFailed("draw_at: must be within a year", field="draw_at")
    return at


def refuse_unless_open(rec: LotteryRecord, now: dt.datetime, what: str) -> None:
    current = status(rec, now)
    if current != OPEN:
        raise Conflict(
            f"cannot {what}: the lottery is {NAMES[current]}",
            code="lottery_not_open",
            status=NAMES[current],
        )


def refuse_unless_creator(rec: LotteryRecord, user: str, what: str) -> None:
    if rec.creator != user:
        raise Forbidden(f"only the creator can {what} a lottery", code="not_creator")


def refuse_unless_deletable(rec: LotteryRecord, now: dt.datetime) -> None:
    current = status(rec, now)
    if current not in (OPEN, CANCELED):
        raise Conflict(
            f"cannot delete a lottery that is {NAMES[current]}", code="lottery_not_deletable"
        )


class NoLongerOpen(Conflict):
    """The lottery closed between reading it and writing the change."""

    code = "lottery_not_open"

    def __init__(self, what: str) -> None:
        super().__init__(f"cannot {what}: the lottery is no longer open")


class NotDeletable(Conflict):
    code = "lottery_not_deletable"

    def __init__(self) -> None:
        super().__init__("cannot delete an open lottery that has participants: cancel it first")


class TooManyOpen(LimitReached):
    """The creator already has the most open lotteries one user may have
    (REDRAIN_MAX_OPEN_LOTTERIES); one must be drawn, canceled or deleted first."""

    code = "too_many_lotteries"

    def __init__(self, most: int) -> None:
        super().__init__(
            f"you already have {most} open lotteries, the most one user may have; "
            "cancel one or wait for a draw"
        )
