"""Deliveries of physical prizes and the operators' user lookup."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

from app.domain import reports
from app.domain.records import DeliveryRecord, StoredDraw
from app.domain.text import Localized
from app.http.responses.common import utc, utc_ms
from app.http.responses.draws import Grant, HistoryEntry, delivery_status, grant, history_entry
from app.services.support import UserFile

DeliveryStatus = Literal["awaiting_address", "address_given", "shipped"]


class Delivery(TypedDict):
    draw_id: str
    status: DeliveryStatus
    name: str | None
    phone: str | None
    address: str | None
    tracking: str | None
    updated_at: str | None
    shipped_at: str | None


def delivery(draw_id: str, d: DeliveryRecord | None) -> Delivery:
    if d is None:
        return {
            "draw_id": draw_id,
            "status": "awaiting_address",
            "name": None,
            "phone": None,
            "address": None,
            "tracking": None,
            "updated_at": None,
            "shipped_at": None,
        }
    return {
        "draw_id": d.draw_id,
        "status": "shipped" if d.status == "shipped" else "address_given",
        "name": d.name,
        "phone": d.phone,
        "address": d.address,
        "tracking": d.tracking,
        "updated_at": utc(d.updated_at),
        "shipped_at": utc(d.shipped_at),
    }


class PhysicalWin(TypedDict):
    draw_id: str
    round_id: str
    user_id: str
    prize_key: str | None
    prize_name: str | None
    delivery: Delivery


class PhysicalWins(TypedDict):
    deliveries: list[PhysicalWin]
    next_cursor: str | None


def physical_win(d: StoredDraw, found: DeliveryRecord | None) -> PhysicalWin:
    r = d.record
    return {
        "draw_id": r.draw_id,
        "round_id": r.round_id,
        "user_id": r.user_id,
        "prize_key": r.prize_key,
        "prize_name": d.prize_name,
        "delivery": delivery(r.draw_id, found),
    }


class LimitUse(TypedDict):
    activity_id: int
    round: int
    day: int
    total: int
    wins: int
    per_round: int
    per_day: int
    per_total: int
    wins_total: int


class LookupDraw(HistoryEntry):
    verify_url: str  # the /verify page checking this one draw


class UserLookup(TypedDict):
    user_id: str
    blacklisted: bool
    blacklist_reason: str | None
    draws: list[LookupDraw]
    wins: int
    grants: list[Grant]
    limits: list[LimitUse]


def user_lookup(f: UserFile) -> UserLookup:
    draws: list[LookupDraw] = []
    for d in f.draws:
        entry: LookupDraw = {**history_entry(d), "verify_url": f"/verify?draw={d.record.draw_id}"}
        status = delivery_status(d, f.deliveries)
        if status is not None:
            entry["delivery"] = status
        draws.append(entry)
    return {
        "user_id": f.user_id,
        "blacklisted": f.blacklisted is not None,
        "blacklist_reason": f.blacklisted,
        "draws": draws,
        "wins": sum(d.record.won for d in f.draws),
        "grants": [grant(g, used, draw_id) for g, used, draw_id in f.grants],
        "limits": [
            {
                "activity_id": u.activity_id,
                "round": u.in_round,
                "day": u.in_day,
                "total": u.in_total,
                "wins": u.wins,
                "per_round": u.limits.per_round,
                "per_day": u.limits.per_day,
                "per_total": u.limits.total,
                "wins_total": u.limits.wins_total,
            }
            for u in f.limits
        ],
    }


# -- the daily report -------------------------------------------------------------------


class ReportPrize(TypedDict):
    key: str
    name: Localized  # as configured
    wins: int
    cost: float | None  # wins × the prize's unit cost; None without a cost


class ReportDay(TypedDict):
    day: str  # YYYY-MM-DD, the campaign day (its own time zone)
    draws: int
    players: int  # distinct users who drew that day
    wins: int
    cost: float | None
    prizes: list[ReportPrize]


class Report(TypedDict):
    activity_id: int
    days: list[ReportDay]  # oldest first; days without a draw are left out
    draws: int
    wins: int
    cost: float | None
    prizes: list[ReportPrize]  # totals


def _prizes(lines: tuple[reports.PrizeLine, ...]) -> list[ReportPrize]:
    return [{"key": p.key, "name": p.name, "wins": p.wins, "cost": p.cost} for p in lines]


def report(activity_id: int, rep: reports.Report) -> Report:
    return {
        "activity_id": activity_id,
        "days": [
            {
                "day": d.day.isoformat(),
                "draws": d.draws,
                "players": d.players,
                "wins": d.wins,
                "cost": d.cost,
                "prizes": _prizes(d.prizes),
            }
            for d in rep.days
        ],
        "draws": rep.draws,
        "wins": rep.wins,
        "cost": rep.cost,
        "prizes": _prizes(rep.prizes),
    }


def report_csv(rep: reports.Report) -> tuple[list[str], list[dict[str, object]]]:
    """One row per day: its totals, then each prize's wins and cost."""
    keys = [p.key for p in rep.prizes]
    fields = ["day", "draws", "players", "wins", "cost"]
    fields += [f"{col}:{k}" for k in keys for col in ("wins", "cost")]
    rows: list[dict[str, object]] = []
    for d in rep.days:
        row: dict[str, object] = {
            "day": d.day.isoformat(),
            "draws": d.draws,
            "players": d.players,
            "wins": d.wins,
            "cost": d.cost,
        }
        for p in d.prizes:
            row[f"wins:{p.key}"] = p.wins
            row[f"cost:{p.key}"] = p.cost
        rows.append(row)
    return fields, rows


class Sample(TypedDict):
    at: str  # the step's start, UTC
    draws: int
    wins: dict[str, int]  # prize key → wins in the step


class RoundHistory(TypedDict):
    round_id: str
    step_seconds: int
    samples: list[Sample]  # oldest first; steps without a saved draw are left out


def round_history(round_id: str, step_ms: int, samples: list[reports.Sample]) -> RoundHistory:
    return {
        "round_id": round_id,
        "step_seconds": step_ms // 1000,
        "samples": [{"at": utc_ms(x.at_ms), "draws": x.draws, "wins": x.wins} for x in samples],
    }
