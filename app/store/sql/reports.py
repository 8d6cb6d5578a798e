"""The counts behind an activity's daily report, from the ledger: grouped
queries over the activity's draw rows and compact loss blocks, joined to their
rounds for the campaign day (``app/domain/reports.py`` adds names and costs)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, func, select, union

from app.domain.reports import DayCount, PrizeWins, Sample
from app.domain.types import ActivityId
from app.store.sql import losses
from app.store.sql.connection import Connection
from app.store.sql.draws import in_round
from app.store.sql.models import DrawRow, LossBlockRow, LossUserRow, RoundRow


def _day(value: object) -> dt.date:
    # SQLite answers a DATE column of a grouped query as text.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


class Reports:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def daily(self, activity_id: ActivityId) -> tuple[list[DayCount], list[PrizeWins]]:
        joined = RoundRow.id == DrawRow.round_id
        days = (
            select(RoundRow.day, func.count(), func.sum(case((DrawRow.won.is_(True), 1), else_=0)))
            .select_from(DrawRow)
            .join(RoundRow, joined)
            .where(DrawRow.activity_id == activity_id)
            .group_by(RoundRow.day)
        )
        b = LossBlockRow
        lost = (
            select(RoundRow.day, func.sum(b.draws))
            .select_from(b)
            .join(RoundRow, RoundRow.id == b.round_id)
            .where(b.activity_id == activity_id)
            .group_by(RoundRow.day)
        )
        # Players: those with a row and those with a compact loss, once each.
        u = LossUserRow
        pairs = union(
            select(RoundRow.day, DrawRow.user_id.label("user_id"))
            .select_from(DrawRow)
            .join(RoundRow, joined)
            .where(DrawRow.activity_id == activity_id),
            select(RoundRow.day, u.user_id.label("user_id"))
            .select_from(u)
            .join(RoundRow, RoundRow.id == u.round_id)
            .where(u.activity_id == activity_id),
        ).subquery()
        players = select(pairs.c.day, func.count()).group_by(pairs.c.day)
        # Wins alone: the (activity_id, won) index finds them without the losses.
        wins = (
            select(RoundRow.day, DrawRow.prize_key, func.count())
            .select_from(DrawRow)
            .join(RoundRow, joined)
            .where(DrawRow.activity_id == activity_id, DrawRow.won.is_(True))
            .group_by(RoundRow.day, DrawRow.prize_key)
        )
        async with self.db.session() as s:
            draws: dict[dt.date, list[int]] = {}
            for day, n, won in await s.execute(days):
                draws[_day(day)] = [int(n), int(won or 0)]
            for day, n in await s.execute(lost):
                draws.setdefault(_day(day), [0, 0])[0] += int(n or 0)
            people = {_day(day): int(n) for day, n in await s.execute(players)}
            prizes = [
                PrizeWins(_day(day), str(key), int(n))
                for day, key, n in await s.execute(wins)
                if key is not None
            ]
        counted = [DayCount(d, n, people.get(d, 0), w) for d, (n, w) in sorted(draws.items())]
        return counted, prizes

    async def recent(self, round_id: str, since_ms: int, step_ms: int) -> list[Sample]:
        """The round's saved draws since ``since_ms`` in steps of ``step_ms``,
        oldest first (steps without a draw left out). Rows: a range of the
        draw_id index; compact losses: a block inside one step counts whole,
        others are opened."""
        bucket = DrawRow.drawn_at_ms - DrawRow.drawn_at_ms % step_ms
        query = (
            select(bucket, DrawRow.won, DrawRow.prize_key, func.count())
            .where(in_round(round_id), DrawRow.drawn_at_ms >= since_ms)
            .group_by(bucket, DrawRow.won, DrawRow.prize_key)
        )
        draws: dict[int, int] = {}
        wins: dict[int, dict[str, int]] = {}
        b = LossBlockRow
        blocks = select(b.id, b.first_ms, b.last_ms, b.draws).where(
            b.round_id == round_id, b.last_ms >= since_ms, b.draws > 0
        )
        async with self.db.session() as s:
            for at, won, key, n in await s.execute(query):
                draws[int(at)] = draws.get(int(at), 0) + int(n)
                step = wins.setdefault(int(at), {})
                if won and key is not None:
                    step[str(key)] = step.get(str(key), 0) + int(n)
            opened = []
            for block_id, first, last, n in list(await s.execute(blocks)):
                at = first - first % step_ms
                if first >= since_ms and at == last - last % step_ms:
                    draws[at] = draws.get(at, 0) + int(n)
                    wins.setdefault(at, {})
                else:
                    opened.append(block_id)
            for h in await losses.blocks_by_id(s, opened):
                for x in h.lost.values():
                    if x[6] >= since_ms:
                        at = x[6] - x[6] % step_ms
                        draws[at] = draws.get(at, 0) + 1
                        wins.setdefault(at, {})
        return [Sample(at, draws[at], wins[at]) for at in sorted(draws)]
