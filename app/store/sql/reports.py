"""The counts behind an activity's daily report, from the ledger: two grouped
queries over the activity's draws, joined to their rounds for the campaign
day (``app/domain/reports.py`` adds names and costs)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, distinct, func, select

from app.domain.reports import DayCount, PrizeWins, Sample
from app.domain.types import ActivityId
from app.store.sql.connection import Connection
from app.store.sql.draws import in_round
from app.store.sql.models import DrawRow, RoundRow


def _day(value: object) -> dt.date:
    # SQLite answers a DATE column of a grouped query as text.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


class Reports:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def daily(self, activity_id: ActivityId) -> tuple[list[DayCount], list[PrizeWins]]:
        joined = RoundRow.id == DrawRow.round_id
        days = (
            select(
                RoundRow.day,
                func.count(),
                func.count(distinct(DrawRow.user_id)),
                func.sum(case((DrawRow.won.is_(True), 1), else_=0)),
            )
            .select_from(DrawRow)
            .join(RoundRow, joined)
            .where(DrawRow.activity_id == activity_id)
            .group_by(RoundRow.day)
        )
        # Wins alone: the (activity_id, won) index finds them without the losses.
        wins = (
            select(RoundRow.day, DrawRow.prize_key, func.count())
            .select_from(DrawRow)
            .join(RoundRow, joined)
            .where(DrawRow.activity_id == activity_id, DrawRow.won.is_(True))
            .group_by(RoundRow.day, DrawRow.prize_key)
        )
        async with self.db.session() as s:
            counted = [
                DayCount(_day(day), int(n), int(players), int(won or 0))
                for day, n, players, won in await s.execute(days)
            ]
            prizes = [
                PrizeWins(_day(day), str(key), int(n))
                for day, key, n in await s.execute(wins)
                if key is not None
            ]
        return counted, prizes

    async def recent(self, round_id: str, since_ms: int, step_ms: int) -> list[Sample]:
        """The round's saved draws since ``since_ms`` in steps of ``step_ms``,
        oldest first (steps without a draw left out). A range of the draw_id
        index: one round's draws."""
        bucket = DrawRow.drawn_at_ms - DrawRow.drawn_at_ms % step_ms
        query = (
            select(bucket, DrawRow.won, DrawRow.prize_key, func.count())
            .where(in_round(round_id), DrawRow.drawn_at_ms >= since_ms)
            .group_by(bucket, DrawRow.won, DrawRow.prize_key)
        )
        draws: dict[int, int] = {}
        wins: dict[int, dict[str, int]] = {}
        async with self.db.session() as s:
            for at, won, key, n in await s.execute(query):
                draws[int(at)] = draws.get(int(at), 0) + int(n)
                step = wins.setdefault(int(at), {})
                if won and key is not None:
                    step[str(key)] = step.get(str(key), 0) + int(n)
        return [Sample(at, draws[at], wins[at]) for at in sorted(draws)]
