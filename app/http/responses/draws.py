"""A draw, a player's history and grants, the winners export."""

from __future__ import annotations

from typing import NotRequired, final

from typing_extensions import TypedDict

from app.domain.records import AWAITING_ADDRESS, DeliveryRecord, GrantRecord, StoredDraw
from app.domain.runtime import Runtime, remaining
from app.domain.text import Localized
from app.domain.types import DrawBatch, DrawResult
from app.http.responses.common import utc, utc_ms

# -- draws ------------------------------------------------------------------------


class Prize(TypedDict):
    key: str
    type: str
    name: Localized | None  # as configured: a string or one per language
    value: str | None
    code: NotRequired[str]  # the win's own redemption code (a coupon prize with codes)


class Remaining(TypedDict):
    """Draws left; null where the limit is unlimited."""

    round: int | None
    day: int | None
    total: int | None


class Proof(TypedDict):
    seed_hash: str
    client_seed: str
    nonce: int
    random: str
    pick: int  # 1-based prize of the round's prize list picked; 0: the empty remainder
    bucket: int  # the bucket (SPEC §9) the draw was made in, 0..buckets-1


@final  # final: `"draws" in answer` tells a batch from a draw (mypy narrows on it)
class Draw(TypedDict):
    draw_id: str
    round_id: str
    won: bool
    prize: Prize | None
    remaining: Remaining
    proof: Proof


class BatchDraw(TypedDict):
    """One draw of a batch: a single draw's answer without ``remaining``."""

    draw_id: str
    round_id: str
    won: bool
    prize: Prize | None
    proof: Proof


class Stopped(TypedDict):
    code: str
    message: str


@final
class Batch(TypedDict):
    draws: list[BatchDraw]
    remaining: Remaining
    stopped: Stopped | None


def batch(rt: Runtime, drawn: DrawBatch, seed_hash: str) -> Batch:
    """A request's several draws (SPEC §3): each as a single draw's answer
    without ``remaining``, which the batch gives once, after its last draw."""
    draws: list[BatchDraw] = [
        {
            "draw_id": one.draw_id,
            "round_id": one.round_id,
            "won": one.won,
            "prize": _prize(one),
            "proof": _proof(one, seed_hash),
        }
        for one in drawn.draws
    ]
    stop = drawn.stopped
    stopped: Stopped | None = None
    if stop is not None:
        stopped = {"code": stop.code, "message": stop.message}
    return {"draws": draws, "remaining": _remaining(rt, drawn.draws[-1]), "stopped": stopped}


def draw(rt: Runtime, result: DrawResult, seed_hash: str) -> Draw:
    return {
        "draw_id": result.draw_id,
        "round_id": result.round_id,
        "won": result.won,
        "prize": _prize(result),
        "remaining": _remaining(rt, result),
        "proof": _proof(result, seed_hash),
    }


def _prize(result: DrawResult) -> Prize | None:
    p = result.prize
    if p is None:
        return None
    prize: Prize = {"key": p.key, "type": p.type.value, "name": p.name, "value": p.value}
    if result.code:
        prize["code"] = result.code
    return prize


def _remaining(rt: Runtime, result: DrawResult) -> Remaining:
    lim = rt.limits
    return {
        "round": remaining(lim.per_round, result.counts.round),
        "day": remaining(lim.per_day, result.counts.day),
        "total": remaining(lim.total, result.counts.total),
    }


def _proof(result: DrawResult, seed_hash: str) -> Proof:
    return {
        "seed_hash": seed_hash,
        "client_seed": result.client_seed,
        "nonce": result.nonce,
        "random": result.random,
        "pick": result.pick,
        "bucket": result.bucket,
    }


class StoredPrize(TypedDict):
    """A won prize as the ledger row names it."""

    key: str | None
    type: str | None
    name: str | None
    value: str | None
    code: NotRequired[str]  # its redemption code, when the prize has codes


class HistoryProof(TypedDict):
    client_seed: str
    nonce: int
    random: str
    pick: int  # 1-based prize of the round's prize list picked; 0: the empty remainder
    pool: int  # 1-based pool of the session the pick was made in


class HistoryEntry(TypedDict):
    draw_id: str
    delivery: NotRequired[str]  # a physical win: awaiting_address | address_given | shipped
    activity_id: int
    round_id: str
    won: bool
    prize: StoredPrize | None
    fulfilment: str | None
    grant_id: str | None
    drawn_at: str
    proof: HistoryProof


class History(TypedDict):
    draws: list[HistoryEntry]
    next_cursor: str | None


def stored_prize(d: StoredDraw) -> StoredPrize | None:
    if not d.record.won:
        return None
    out: StoredPrize = {
        "key": d.record.prize_key,
        "type": d.prize_type,
        "name": d.prize_name,
        "value": d.prize_value,
    }
    if d.record.code:
        out["code"] = d.record.code
    return out


def history_entry(d: StoredDraw) -> HistoryEntry:
    r = d.record
    return {
        "draw_id": r.draw_id,
        "activity_id": r.activity_id,
        "round_id": r.round_id,
        "won": r.won,
        "prize": stored_prize(d),
        "fulfilment": d.fulfilment,
        "grant_id": r.grant_id,
        "drawn_at": utc_ms(r.drawn_at_ms),
        "proof": {
            "client_seed": r.client_seed,
            "nonce": r.nonce,
            "random": r.random,
            "pick": r.pick,
            "pool": r.pool,
        },
    }


class Winner(TypedDict):
    draw_id: str
    round_id: str
    user_id: str
    prize_key: str | None
    prize_type: str | None
    prize_name: str | None
    prize_value: str | None
    code: str | None  # the redemption code the win took (coupon prizes with codes)
    fulfilment: str | None
    delivery: str | None  # a physical prize: awaiting_address | address_given | shipped
    tracking: str | None  # its tracking note once shipped
    drawn_at: str


class Winners(TypedDict):
    winners: list[Winner]
    next_cursor: str | None


WINNER_FIELDS = tuple(Winner.__annotations__)  # the CSV export's columns


def delivery_status(d: StoredDraw, found: dict[str, DeliveryRecord]) -> str | None:
    """A physical win's status for lists and exports; None for other draws."""
    if not d.record.won or d.prize_type != "physical":
        return None
    got = found.get(d.record.draw_id)
    return AWAITING_ADDRESS if got is None else got.status


def winner(d: StoredDraw, found: dict[str, DeliveryRecord] | None = None) -> Winner:
    """``found``: the deliveries of the physical wins, by draw id."""
    r = d.record
    shipping = (found or {}).get(r.draw_id)
    return {
        "draw_id": r.draw_id,
        "round_id": r.round_id,
        "user_id": r.user_id,
        "prize_key": r.prize_key,
        "prize_type": d.prize_type,
        "prize_name": d.prize_name,
        "prize_value": d.prize_value,
        "code": r.code,
        "fulfilment": d.fulfilment,
        "delivery": delivery_status(d, found or {}),
        "tracking": shipping.tracking if shipping else None,
        "drawn_at": utc_ms(r.drawn_at_ms),
    }


# -- grants ---------------------------------------------------------------------------


class Grant(TypedDict):
    grant_id: str
    user_id: str
    activity_id: int
    amount: int
    reference: str
    created_at: str | None
    used: bool
    draw_id: str | None


class GrantList(TypedDict):
    grants: list[Grant]


def grant(g: GrantRecord, used: bool, draw_id: str | None) -> Grant:
    return {
        "grant_id": g.id,
        "user_id": g.user_id,
        "activity_id": g.activity_id,
        "amount": g.amount,
        "reference": g.reference,
        "created_at": utc(g.created_at),
        "used": used,
        "draw_id": draw_id,
    }
