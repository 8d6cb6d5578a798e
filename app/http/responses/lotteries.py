"""Scheduled lotteries and notifications."""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

from app.domain import lotteries
from app.domain.records import LotteryRecord, Notice
from app.http.responses.common import mask, utc
from app.http.responses.draws import Prize

# -- lotteries and notifications ------------------------------------------------------


class LotteryPrize(TypedDict):
    name: str
    quantity: int


class Lottery(TypedDict):
    id: int
    title: str
    creator: str  # masked
    draw_at: str | None
    prize: LotteryPrize
    status: Literal["open", "drawing", "drawn", "canceled"]
    status_code: Literal[0, 1, 2, 9]
    participants: int
    seed_hash: str
    seed: str | None  # revealed once drawn
    drawn_at: str | None
    winners: list[str] | None  # masked, once drawn


class LotteryForViewer(Lottery):
    """What a signed-in player also sees."""

    is_creator: bool
    joined: bool
    won: bool | None  # once drawn


def lottery(rec: LotteryRecord, status: int) -> Lottery:
    drawn = status == lotteries.DRAWN
    return {
        "id": rec.id,
        "title": rec.title,
        "creator": mask(rec.creator),
        "draw_at": utc(rec.draw_at),
        "prize": {"name": rec.prize_name, "quantity": rec.quantity},
        "status": _LOTTERY_STATUS[status],
        "status_code": _LOTTERY_CODE[status],
        "participants": rec.participants,
        "seed_hash": rec.seed_hash,
        "seed": rec.seed if drawn else None,
        "drawn_at": utc(rec.drawn_at),
        "winners": [mask(u) for u in rec.winners] if drawn else None,
    }


def lottery_for(rec: LotteryRecord, status: int, user: str, joined: bool) -> LotteryForViewer:
    drawn = status == lotteries.DRAWN
    body = lottery(rec, status)
    if drawn and user == rec.creator:
        # The creator hands the prize over, so sees who won; everyone else a mask.
        body["winners"] = list(rec.winners)
    return {
        **body,
        "is_creator": user == rec.creator,
        "joined": joined,
        "won": (user in rec.winners) if drawn else None,
    }


class MyLottery(TypedDict):
    """One of a player's lotteries, as /lotteries lists it."""

    id: int
    title: str
    draw_at: str | None
    prize: LotteryPrize
    status: Literal["open", "drawing", "drawn", "canceled"]
    participants: int
    is_creator: bool
    joined: bool
    won: bool | None  # once drawn


class MyLotteries(TypedDict):
    lotteries: list[MyLottery]


def my_lottery(rec: LotteryRecord, status: int, user: str, joined: bool, won: bool) -> MyLottery:
    return {
        "id": rec.id,
        "title": rec.title,
        "draw_at": utc(rec.draw_at),
        "prize": {"name": rec.prize_name, "quantity": rec.quantity},
        "status": _LOTTERY_STATUS[status],
        "participants": rec.participants,
        "is_creator": user == rec.creator,
        "joined": joined,
        "won": won if status == lotteries.DRAWN else None,
    }


_LOTTERY_STATUS: dict[int, Literal["open", "drawing", "drawn", "canceled"]] = {
    lotteries.OPEN: "open",
    lotteries.DRAWING: "drawing",
    lotteries.DRAWN: "drawn",
    lotteries.CANCELED: "canceled",
}
_LOTTERY_CODE: dict[int, Literal[0, 1, 2, 9]] = {
    lotteries.OPEN: 0,
    lotteries.DRAWING: 1,
    lotteries.DRAWN: 2,
    lotteries.CANCELED: 9,
}


class PrizeWon(TypedDict):
    id: int
    kind: Literal["prize_won"]
    created_at: str | None
    draw_id: str
    activity_id: int
    round_id: str
    prize: Prize | None


class LotteryResult(TypedDict):
    id: int
    kind: Literal["lottery_result"]
    created_at: str | None
    lottery_id: int
    title: str
    won: bool
    prize: str | None


class Notifications(TypedDict):
    notifications: list[PrizeWon | LotteryResult]
    next_cursor: str | None


def notification(n: Notice) -> dict[str, Any]:
    """``{"id", "kind", "created_at", **payload}``: a :class:`PrizeWon` or a
    :class:`LotteryResult` (the payload was written with what it announces)."""
    return {"id": n.id, "kind": n.kind, "created_at": utc(n.created_at), **n.payload}
