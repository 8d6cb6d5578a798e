"""The console's planning answers: the calendar and budget of a configuration
not saved yet, and the live outcome counts of an activity."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from typing_extensions import TypedDict

from app.domain.budget import Budget, RoundOutlook
from app.domain.runtime import iso
from app.domain.text import Localized
from app.services.planning import Preview


class PreviewSlice(TypedDict):
    prize: str
    at: str  # ISO-8601 in the activity's time zone
    quantity: int


class PreviewRound(TypedDict):
    round: str  # "YYYYMMDD:session": the round id without the activity id
    session: int
    start: str
    end: str
    slices: list[PreviewSlice]


class OutlookPrize(TypedDict):
    key: str
    name: Localized
    quantity: int
    cost: float | None
    expected_wins: float
    runs_out: str | None  # when the round's whole quantity is likely won


class OutlookRound(TypedDict):
    round: str
    session: int
    start: str
    end: str
    draws: float
    expected_cost: float
    max_cost: float
    prizes: list[OutlookPrize]


class BudgetOutlook(TypedDict):
    players: int
    taps: int
    rounds_total: int
    draws: float
    expected_cost: float  # over every round
    max_cost: float  # every unit of every round won
    wins_by_prize: dict[str, float]
    uncosted: list[str]  # prizes with stock but no cost
    rounds: list[OutlookRound]  # the first rounds


class PlanPreview(TypedDict):
    timezone: str
    rounds_total: int
    rounds: list[PreviewRound]
    budget: BudgetOutlook | None


def _round(r: RoundOutlook, zone: ZoneInfo) -> OutlookRound:
    return {
        "round": r.sfx,
        "session": r.session_index,
        "start": iso(r.start_ms, zone),
        "end": iso(r.end_ms, zone),
        "draws": round(r.draws, 2),
        "expected_cost": round(r.expected_cost, 2),
        "max_cost": round(r.max_cost, 2),
        "prizes": [
            {
                "key": p.key,
                "name": p.name,
                "quantity": p.quantity,
                "cost": p.cost,
                "expected_wins": round(p.expected_wins, 2),
                "runs_out": None if p.runs_out_ms is None else iso(p.runs_out_ms, zone),
            }
            for p in r.prizes
        ],
    }


def _budget(b: Budget, zone: ZoneInfo) -> BudgetOutlook:
    return {
        "players": b.players,
        "taps": b.taps,
        "rounds_total": b.rounds_total,
        "draws": round(b.draws, 2),
        "expected_cost": round(b.expected_cost, 2),
        "max_cost": round(b.max_cost, 2),
        "wins_by_prize": {k: round(v, 2) for k, v in b.wins_by_prize.items()},
        "uncosted": list(b.uncosted),
        "rounds": [_round(r, zone) for r in b.rounds],
    }


def plan_preview(p: Preview) -> PlanPreview:
    zone = p.config.zone
    return {
        "timezone": p.config.timezone,
        "rounds_total": p.rounds_total,
        "rounds": [
            {
                "round": r.sfx,
                "session": r.session_index,
                "start": iso(r.start_ms, zone),
                "end": iso(r.end_ms, zone),
                "slices": [
                    {"prize": s.prize, "at": iso(s.at_ms, zone), "quantity": s.quantity}
                    for s in r.slices
                ],
            }
            for r in p.rounds
        ],
        "budget": None if p.budget is None else _budget(p.budget, zone),
    }


class Outcomes(TypedDict):
    activity_id: int
    outcomes: dict[str, int]  # won, lost, and each refusal code: answers so far
