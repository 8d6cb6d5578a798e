"""Scheduled lotteries, their participants and their draw, in the database.

Every transition is one statement or one transaction: a join is checked and
written with the lottery row locked, a status change is a conditional UPDATE
(``WHERE status = from``), and the draw marks winners and notifies every
participant in the transaction that claims it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain import fairness
from app.domain.errors import Duplicate
from app.domain.lotteries import (
    CANCELED,
    DRAWING,
    DRAWN,
    OPEN,
    NoLongerOpen,
    NotDeletable,
    TooManyOpen,
)
from app.domain.records import LotteryRecord
from app.store.sql.connection import Connection
from app.store.sql.models import LotteryRow, ParticipantRow
from app.store.sql.notices import insert_notices, lottery_notice


def _lottery(row: LotteryRow, participants: int, winners: tuple[str, ...]) -> LotteryRecord:
    return LotteryRecord(
        id=row.id,
        creator=row.creator,
        title=row.title,
        draw_at=row.draw_at,
        prize_name=row.prize_name,
        quantity=row.quantity,
        status=row.status,
        seed=row.seed,
        seed_hash=row.seed_hash,
        drawn_at=row.drawn_at,
        participants=participants,
        winners=winners,
    )


class Lotteries:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def create(
        self,
        creator: str,
        title: str,
        draw_at: dt.datetime,
        prize_name: str,
        quantity: int,
        *,
        now: dt.datetime,
        max_open: int = 0,
    ) -> LotteryRecord:
        """A new open lottery; with ``max_open``, only while the creator has
        fewer open ones (else :class:`TooManyOpen`). The count and the insert
        are one statement (``INSERT ... SELECT ... WHERE count < max_open``)
        run by one creation of the creator's at a time (``serialized``), so
        parallel creations cannot pass the cap together."""
        seed = fairness.new_seed()
        values = {
            "creator": creator,
            "title": title,
            "draw_at": draw_at,
            "prize_name": prize_name,
            "quantity": quantity,
            "status": OPEN,
            "seed": seed.hex(),
            "seed_hash": fairness.seed_hash(seed),
            "created_at": now,
            "updated_at": now,
        }
        if not max_open:
            async with self.db.session() as s:
                row = LotteryRow(**values)
                s.add(row)
                await s.flush()
                return _lottery(row, 0, ())
        cols = LotteryRow.__table__.c
        open_now = (
            select(func.count())
            .select_from(LotteryRow)
            .where(LotteryRow.creator == creator, LotteryRow.status == OPEN)
            .scalar_subquery()
        )
        made = insert(LotteryRow).from_select(
            list(values),
            select(*(literal(v, cols[k].type) for k, v in values.items())).where(
                open_now < max_open
            ),
        )

        async def body(conn: AsyncConnection) -> LotteryRecord:
            res = await conn.execute(made)
            if res.rowcount != 1:
                raise TooManyOpen(max_open)
            return _lottery(LotteryRow(id=res.lastrowid, drawn_at=None, **values), 0, ())

        return await self.db.serialized(f"lottery.create:{creator}", body)

    async def get(self, lottery_id: int) -> LotteryRecord | None:
        async with self.db.session() as s:
            row = await s.get(LotteryRow, lottery_id)
            if row is None:
                return None
            count = await s.scalar(
                select(func.count()).where(ParticipantRow.lottery_id == lottery_id)
            )
            winners: tuple[str, ...] = ()
            if row.status == DRAWN:
                winners = tuple(
                    await s.scalars(
                        select(ParticipantRow.user_id)
                        .where(
                            ParticipantRow.lottery_id == lottery_id, ParticipantRow.won.is_(True)
                        )
                        .order_by(ParticipantRow.user_id)
                    )
                )
            return _lottery(row, int(count or 0), winners)

    async def of_user(self, user_id: str, *, limit: int) -> list[tuple[LotteryRecord, bool, bool]]:
        """The lotteries ``user_id`` created or joined, newest first: each with
        (joined, won). Both halves use an index (creator; participants by user)."""
        async with self.db.session() as s:
            mine = await s.execute(
                select(ParticipantRow.lottery_id, ParticipantRow.won)
                .where(ParticipantRow.user_id == user_id)
                .order_by(ParticipantRow.lottery_id.desc())
                .limit(limit)
            )
            joined = {int(lid): bool(won) for lid, won in mine}
            created = await s.scalars(
                select(LotteryRow.id)
                .where(LotteryRow.creator == user_id)
                .order_by(LotteryRow.id.desc())
                .limit(limit)
            )
            ids = sorted(set(joined) | set(created), reverse=True)[:limit]
            if not ids:
                return []
            rows = await s.scalars(select(LotteryRow).where(LotteryRow.id.in_(ids)))
            counted = await s.execute(
                select(ParticipantRow.lottery_id, func.count())
                .where(ParticipantRow.lottery_id.in_(ids))
                .group_by(ParticipantRow.lottery_id)
            )
            counts = {int(lid): int(n) for lid, n in counted}
            found = sorted(rows, key=lambda r: r.id, reverse=True)
            return [
                (_lottery(r, int(counts.get(r.id, 0)), ()), r.id in joined, bool(joined.get(r.id)))
                for r in found
            ]

    async def is_participant(self, lottery_id: int, user_id: str) -> bool:
        async with self.db.session() as s:
            return await s.get(ParticipantRow, (lottery_id, user_id)) is not None

    async def join(
        self, lottery_id: int, user_id: str, *, now: dt.datetime, open_until: dt.datetime
    ) -> bool:
        """Join while open (status open and ``now`` before ``open_until``); False if
        already a participant. Checked and written in one transaction, the
        lottery row locked, so a join cannot slip past the worker closing it.
        The same user joining twice at once (a double tap; SQLite has no row
        lock): the insert that clashes means "already joined"."""
        try:
            async with self.db.session() as s:
                row = await s.get(LotteryRow, lottery_id, with_for_update=True)
                if row is None or row.status != OPEN or now >= open_until:
                    raise NoLongerOpen("join")
                if await s.get(ParticipantRow, (lottery_id, user_id)) is not None:
                    return False
                s.add(ParticipantRow(lottery_id=lottery_id, user_id=user_id, joined_at=now))
                return True
        except Duplicate:
            return False

    async def leave(
        self, lottery_id: int, user_id: str, *, now: dt.datetime, open_until: dt.datetime
    ) -> bool:
        """Leave while open; False if not a participant."""
        async with self.db.session() as s:
            row = await s.get(LotteryRow, lottery_id, with_for_update=True)
            if row is None or row.status != OPEN or now >= open_until:
                raise NoLongerOpen("leave")
            res = await s.execute(
                delete(ParticipantRow).where(
                    ParticipantRow.lottery_id == lottery_id, ParticipantRow.user_id == user_id
                )
            )
            return bool(getattr(res, "rowcount", 0))

    async def move(self, lottery_id: int, frm: int, to: int, *, now: dt.datetime) -> bool:
        """``frm`` → ``to`` if the lottery is in ``frm``: the claim that makes a
        transition happen once, whoever races for it."""
        async with self.db.session() as s:
            res = await s.execute(
                update(LotteryRow)
                .where(LotteryRow.id == lottery_id, LotteryRow.status == frm)
                .values(status=to, updated_at=now)
            )
            return bool(getattr(res, "rowcount", 0))

    async def delete(self, lottery_id: int) -> bool:
        """Delete a canceled lottery, or an open one nobody joined; False if it
        does not exist."""
        async with self.db.session() as s:
            row = await s.get(LotteryRow, lottery_id, with_for_update=True)
            if row is None:
                return False
            joined = await s.scalar(
                select(func.count()).where(ParticipantRow.lottery_id == lottery_id)
            )
            if row.status == CANCELED or (row.status == OPEN and not joined):
                await s.execute(
                    delete(ParticipantRow).where(ParticipantRow.lottery_id == lottery_id)
                )
                # A statement, not the ORM's delete: another request may have
                # deleted the row meanwhile (no row lock on SQLite); 0 rows is fine.
                gone = await s.execute(delete(LotteryRow).where(LotteryRow.id == lottery_id))
                return bool(getattr(gone, "rowcount", 0))
            raise NotDeletable()

    async def due(self, now: dt.datetime, *, lead: dt.timedelta) -> tuple[list[int], list[int]]:
        """``(to close, to draw)``: open ones within ``lead`` of their draw time,
        and closed ones whose draw time has come."""
        async with self.db.session() as s:
            closing = await s.scalars(
                select(LotteryRow.id).where(
                    LotteryRow.status == OPEN, LotteryRow.draw_at <= now + lead
                )
            )
            drawing = await s.scalars(
                select(LotteryRow.id).where(LotteryRow.status == DRAWING, LotteryRow.draw_at <= now)
            )
            return list(closing), list(drawing)

    async def draw(
        self,
        lottery_id: int,
        pick: Callable[[LotteryRecord, list[str]], list[str]],
        *,
        now: dt.datetime,
    ) -> LotteryRecord | None:
        """Draw once: claim drawing → drawn, mark the winners ``pick`` chooses and
        notify every participant, all in one transaction. None if someone else
        drew it (or it is not ready); a crash before the commit leaves nothing."""
        async with self.db.session() as s:
            claimed = await s.execute(
                update(LotteryRow)
                .where(LotteryRow.id == lottery_id, LotteryRow.status == DRAWING)
                .values(status=DRAWN, drawn_at=now, updated_at=now)
            )
            if not getattr(claimed, "rowcount", 0):
                return None
            row = await s.get(LotteryRow, lottery_id)
            assert row is not None
            users = sorted(
                await s.scalars(
                    select(ParticipantRow.user_id).where(ParticipantRow.lottery_id == lottery_id)
                )
            )
            winners = pick(_lottery(row, len(users), ()), users)
            if winners:
                await s.execute(
                    update(ParticipantRow)
                    .where(
                        ParticipantRow.lottery_id == lottery_id,
                        ParticipantRow.user_id.in_(winners),
                    )
                    .values(won=True)
                )
            won = set(winners)
            notices = [
                lottery_notice(u, lottery_id, row.title, row.prize_name if u in won else None, now)
                for u in users
            ]
            await insert_notices(s, notices)
            return _lottery(row, len(users), tuple(sorted(won)))
