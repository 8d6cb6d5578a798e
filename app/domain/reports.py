"""The daily report of an activity (issue 25): per campaign day, draws,
players, wins and what the wins cost, per prize. Pure: the counts come from
the ledger (app/store/sql/reports.py), the costs from the configuration."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.domain.activity import ActivityConfig
from app.domain.text import Localized


@dataclass(frozen=True, slots=True)
class DayCount:
    day: dt.date  # the campaign day of the round (its own time zone)
    draws: int
    players: int  # distinct users who drew that day
    wins: int


@dataclass(frozen=True, slots=True)
class PrizeWins:
    day: dt.date
    key: str
    wins: int


@dataclass(frozen=True, slots=True)
class PrizeLine:
    key: str
    name: Localized
    wins: int
    cost: float | None  # wins × unit cost; None when the prize has no cost


@dataclass(frozen=True, slots=True)
class ReportDay:
    day: dt.date
    draws: int
    players: int
    wins: int
    cost: float | None  # the day's prizes' cost, None when no won prize has a cost
    prizes: tuple[PrizeLine, ...]  # every winnable prize, in configuration order


@dataclass(frozen=True, slots=True)
class Report:
    days: tuple[ReportDay, ...]  # oldest first
    draws: int
    wins: int
    cost: float | None
    prizes: tuple[PrizeLine, ...]  # totals per prize


@dataclass(frozen=True, slots=True)
class Sample:
    """A round's saved draws in one step of time (the live charts' history)."""

    at_ms: int  # the step's start
    draws: int
    wins: dict[str, int]  # prize key → wins in the step


def _catalogue(cfg: ActivityConfig) -> dict[str, tuple[Localized, float | None]]:
    """Each winnable prize once, by key: its name and unit cost (the first
    session that names it decides)."""
    out: dict[str, tuple[Localized, float | None]] = {}
    for session in cfg.sessions:
        for pool in session.pools:
            for p in pool.prizes:
                if p.round_quantity > 0 and p.key not in out:
                    out[p.key] = (p.name, p.cost)
    return out


def _total(costs: list[float | None]) -> float | None:
    known = [c for c in costs if c is not None]
    return round(sum(known), 2) if known else None


def _lines(
    cat: dict[str, tuple[Localized, float | None]], wins: dict[str, int]
) -> tuple[PrizeLine, ...]:
    lines = []
    for key, (name, unit) in cat.items():
        n = wins.get(key, 0)
        lines.append(PrizeLine(key, name, n, None if unit is None else round(n * unit, 2)))
    for key in sorted(set(wins) - set(cat)):  # a prize no longer configured
        lines.append(PrizeLine(key, key, wins[key], None))
    return tuple(lines)


def build(cfg: ActivityConfig, days: list[DayCount], prize_wins: list[PrizeWins]) -> Report:
    cat = _catalogue(cfg)
    by_day: dict[dt.date, dict[str, int]] = {}
    for w in prize_wins:
        by_day.setdefault(w.day, {})[w.key] = w.wins
    out = []
    for d in sorted(days, key=lambda d: d.day):
        lines = _lines(cat, by_day.get(d.day, {}))
        out.append(
            ReportDay(
                d.day, d.draws, d.players, d.wins, _total([p.cost for p in lines if p.wins]), lines
            )
        )
    totals: dict[str, int] = {}
    for w in prize_wins:
        totals[w.key] = totals.get(w.key, 0) + w.wins
    lines = _lines(cat, totals)
    return Report(
        tuple(out),
        sum(d.draws for d in days),
        sum(d.wins for d in days),
        _total([p.cost for p in lines if p.wins]),
        lines,
    )
