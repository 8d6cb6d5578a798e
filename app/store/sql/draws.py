"""The ledger in the database: draw rows, written by the worker exactly once,
read by history, winners, reconcile and verify; and the dead letters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import Duplicate, Rejected
from app.domain.records import DeadLetter, RoundLedger, StoredDraw, StoreResult
from app.domain.text import in_language
from app.domain.types import ActivityId, DrawRecord, PrizePlan
from app.store.sql import bulk
from app.store.sql.connection import Connection
from app.store.sql.models import DeadLetterRow, DrawRow
from app.store.sql.notices import insert_notices, win_notice

DRAWS = cast(Table, DrawRow.__table__)

Row = tuple[DrawRecord, PrizePlan | None]  # a draw and the prize it won (None: lost)

_COLUMNS = (
    DrawRow.id,
    DrawRow.draw_id,
    DrawRow.activity_id,
    DrawRow.round_id,
    DrawRow.seq,
    DrawRow.user_id,
    DrawRow.nonce,
    DrawRow.client_seed,
    DrawRow.pick,
    DrawRow.won,
    DrawRow.prize_key,
    DrawRow.random,
    DrawRow.drawn_at_ms,
    DrawRow.stream_id,
    DrawRow.prize_type,
    DrawRow.prize_name,
    DrawRow.prize_value,
    DrawRow.pool,
    DrawRow.grant_id,
    DrawRow.fulfilment,
    DrawRow.code,
)

_INSERT_COLUMNS = (
    "draw_id",
    "activity_id",
    "round_id",
    "seq",
    "user_id",
    "nonce",
    "client_seed",
    "pick",
    "won",
    "prize_key",
    "prize_type",
    "prize_name",
    "prize_value",
    "random",
    "drawn_at_ms",
    "stream_id",
    "pool",
    "grant_id",
    "fulfilment",
    "code",
)


def stored(row: Any) -> StoredDraw:
    rec = DrawRecord(
        draw_id=row.draw_id,
        activity_id=row.activity_id,
        round_id=row.round_id,
        seq=row.seq,
        user_id=row.user_id,
        nonce=row.nonce,
        client_seed=row.client_seed,
        pick=row.pick,
        won=bool(row.won),
        prize_key=row.prize_key,
        random=row.random,
        drawn_at_ms=row.drawn_at_ms,
        stream_id=row.stream_id,
        pool=row.pool,
        grant_id=row.grant_id,
        code=row.code,
    )
    return StoredDraw(rec, row.id, row.prize_type, row.prize_name, row.prize_value, row.fulfilment)


def select_draws() -> Any:
    return select(*_COLUMNS)


def _draw_row(rec: DrawRecord, prize: PrizePlan | None) -> tuple[Any, ...]:
    """A draws row in ``_INSERT_COLUMNS`` order."""
    return (
        rec.draw_id,
        rec.activity_id,
        rec.round_id,
        rec.seq,
        rec.user_id,
        rec.nonce,
        rec.client_seed,
        rec.pick,
        rec.won,
        rec.prize_key,
        prize.type.value if prize else None,
        in_language(prize.name) if prize else None,  # the first language given
        prize.value if prize else None,
        rec.random,
        rec.drawn_at_ms,
        rec.stream_id,
        rec.pool,
        rec.grant_id,
        "won" if rec.won else None,
        rec.code,
    )


def in_round(round_id: str) -> Any:
    """The draws of a round: a range of the unique draw_id index
    (ids are "<round_id>:<seq>"; ";" sorts right after ":")."""
    return (DrawRow.draw_id >= f"{round_id}:") & (DrawRow.draw_id < f"{round_id};")


class Draws:
    def __init__(self, db: Connection) -> None:
        self.db = db

    # -- writing (the flush worker, reconcile --repair) -------------------------

    async def store(
        self,
        rows: Sequence[Row],
        *,
        now: dt.datetime,
        before_commit: Callable[[], None] | None = None,
    ) -> StoreResult:
        """Write a batch in one transaction, exactly once.

        The unique ``draw_id`` makes a plain INSERT exactly-once. When it reports
        a duplicate (a retry after a crash, a second worker), the batch is
        redone comparing each stored draw: the same content is done; the same
        ``draw_id`` with other content is a collision (e.g. Redis lost data and
        reused ids), reported and never written. No INSERT IGNORE: any other
        error surfaces. Raises :class:`Rejected` when the database refuses data.
        """
        if not rows:
            return StoreResult(0, 0, [])
        unique = {rec.draw_id for rec, _ in rows}
        if len(unique) == len(rows):  # else the same entry twice in one batch: compare
            try:
                return await self._insert_all(rows, now, before_commit)
            except Duplicate:
                pass
        for attempt in range(3):
            try:
                return await self._store_compared(rows, now, before_commit)
            except Duplicate as exc:
                # Another worker inserted some of these ids between our SELECT and
                # INSERT: the next pass sees them as stored.
                if attempt == 2:
                    raise Rejected(exc.message) from exc
        raise AssertionError("unreachable")

    async def _insert_all(
        self, rows: Sequence[Row], now: dt.datetime, before_commit: Callable[[], None] | None
    ) -> StoreResult:
        """The common case: nothing of the batch is stored yet."""
        async with self.db.session() as s:
            # Tuples straight to the driver, bound in binary on MariaDB (bulk.py):
            # the text path's multi-row INSERT is already half the CPU of a Core
            # insert and an eighth of the ORM bulk path (docs/worker.md).
            await bulk.insert(
                await s.connection(), "draws", _INSERT_COLUMNS, [_draw_row(r, p) for r, p in rows]
            )
            await _notify_wins(s, rows, now)
            if before_commit is not None:
                before_commit()
        return StoreResult(len(rows), 0, [])

    async def _store_compared(
        self, rows: Sequence[Row], now: dt.datetime, before_commit: Callable[[], None] | None
    ) -> StoreResult:
        async with self.db.session() as s:
            ids = list({rec.draw_id for rec, _ in rows})
            known: dict[str, DrawRecord] = {}
            for i in range(0, len(ids), 1000):
                result = await s.execute(
                    select(*_COLUMNS).where(DrawRow.draw_id.in_(ids[i : i + 1000]))
                )
                known.update((r.draw_id, stored(r).record) for r in result)
            new: list[Row] = []
            duplicates = 0
            collisions: list[tuple[DrawRecord, DrawRecord]] = []
            for rec, prize in rows:
                old = known.get(rec.draw_id)
                if old is None:
                    known[rec.draw_id] = rec
                    new.append((rec, prize))
                elif old.same_draw(rec):
                    duplicates += 1
                else:
                    collisions.append((rec, old))
            if new:
                await s.execute(
                    insert(DRAWS),
                    [dict(zip(_INSERT_COLUMNS, _draw_row(r, p), strict=True)) for r, p in new],
                )
                await _notify_wins(s, new, now)
            if before_commit is not None:
                before_commit()
        return StoreResult(len(new), duplicates, collisions)

    async def dead_letter(
        self,
        *,
        stream: str,
        entry_id: str,
        draw_id: str | None,
        fields: dict[str, str],
        reason: str,
        attempts: int,
        now: dt.datetime,
    ) -> None:
        """Keep an entry that cannot become a draw row; idempotent per entry."""
        try:
            async with self.db.session() as s:
                s.add(
                    DeadLetterRow(
                        stream=stream,
                        entry_id=entry_id,
                        draw_id=draw_id,
                        fields=orjson.dumps(fields).decode(),
                        reason=reason[:500],
                        attempts=attempts,
                        created_at=now,
                    )
                )
        except Duplicate:
            pass  # already dead-lettered (by another worker)

    async def dead_letters(
        self, *, activity_id: ActivityId | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        q = select(DeadLetterRow).order_by(DeadLetterRow.id).limit(limit)
        if activity_id is not None:
            q = q.where(DeadLetterRow.stream.startswith(f"{{rd:{activity_id}}}:", autoescape=True))
        async with self.db.session() as s:
            return [
                DeadLetter(
                    r.id,
                    r.stream,
                    r.entry_id,
                    r.draw_id,
                    orjson.loads(r.fields),
                    r.reason,
                    r.attempts,
                    r.created_at,
                )
                for r in await s.scalars(q)
            ]

    async def delete(self, draw_ids: Sequence[str]) -> int:
        """Remove rows (operators' repair tooling and tests of reconcile)."""
        async with self.db.session() as s:
            res = await s.execute(delete(DrawRow).where(DrawRow.draw_id.in_(list(draw_ids))))
            return int(getattr(res, "rowcount", 0) or 0)

    # -- reading ------------------------------------------------------------------

    async def get(self, draw_id: str) -> StoredDraw | None:
        async with self.db.session() as s:
            row = (await s.execute(select(*_COLUMNS).where(DrawRow.draw_id == draw_id))).first()
        return None if row is None else stored(row)

    async def of_user(
        self,
        user_id: str,
        *,
        activity_id: ActivityId | None,
        limit: int,
        before: tuple[int, int] | None,
    ) -> list[StoredDraw]:
        """The user's draws, newest first, strictly older than ``before``
        (``(drawn_at_ms, id)``) when given."""
        q = select(*_COLUMNS).where(DrawRow.user_id == user_id)
        if activity_id is not None:
            q = q.where(DrawRow.activity_id == activity_id)
        if before is not None:
            at, row_id = before
            q = q.where(
                (DrawRow.drawn_at_ms < at) | ((DrawRow.drawn_at_ms == at) & (DrawRow.id < row_id))
            )
        q = q.order_by(DrawRow.drawn_at_ms.desc(), DrawRow.id.desc()).limit(limit)
        async with self.db.session() as s:
            return [stored(r) for r in await s.execute(q)]

    async def winners(
        self,
        activity_id: ActivityId,
        *,
        round_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[StoredDraw]:
        """Winning draws in flush order (``id``), after ``after_id``."""
        q = select(*_COLUMNS).where(
            DrawRow.activity_id == activity_id, DrawRow.won.is_(True), DrawRow.id > after_id
        )
        if round_id is not None:
            q = q.where(in_round(round_id))
        q = q.order_by(DrawRow.id).limit(limit)
        async with self.db.session() as s:
            return [stored(r) for r in await s.execute(q)]

    async def round_ledger(self, round_id: str) -> RoundLedger:
        async with self.db.session() as s:
            head = (
                await s.execute(
                    select(
                        func.count(),
                        func.coalesce(func.min(DrawRow.seq), 0),
                        func.coalesce(func.max(DrawRow.seq), 0),
                        func.count(func.distinct(DrawRow.user_id)),
                    ).where(in_round(round_id))
                )
            ).one()
            wins = await s.execute(
                select(DrawRow.prize_key, func.count())
                .where(in_round(round_id), DrawRow.won.is_(True))
                .group_by(DrawRow.prize_key)
            )
            return RoundLedger(
                draws=int(head[0]),
                min_seq=int(head[1]),
                max_seq=int(head[2]),
                users=int(head[3]),
                wins={str(k): int(n) for k, n in wins},
            )

    async def round_draws(self, round_id: str) -> list[StoredDraw]:
        """Every stored draw of a round, in draw order (seq)."""
        async with self.db.session() as s:
            q = select(*_COLUMNS).where(in_round(round_id)).order_by(DrawRow.seq)
            return [stored(r) for r in await s.execute(q)]

    async def draws_before(
        self, activity_id: ActivityId, before_ms: int, users: Sequence[str]
    ) -> dict[str, int]:
        """How many draws each user made in the activity before ``before_ms``."""
        out: dict[str, int] = {}
        users = list(users)
        async with self.db.session() as s:
            for i in range(0, len(users), 1000):
                rows = await s.execute(
                    select(DrawRow.user_id, func.count())
                    .where(
                        DrawRow.activity_id == activity_id,
                        DrawRow.drawn_at_ms < before_ms,
                        DrawRow.user_id.in_(users[i : i + 1000]),
                    )
                    .group_by(DrawRow.user_id)
                )
                out.update((str(u), int(n)) for u, n in rows)
        return out

    async def round_seqs(self, round_id: str) -> list[int]:
        async with self.db.session() as s:
            return [int(v) for v in await s.scalars(select(DrawRow.seq).where(in_round(round_id)))]

    async def round_user_counts(self, round_id: str) -> dict[str, int]:
        async with self.db.session() as s:
            rows = await s.execute(
                select(DrawRow.user_id, func.count())
                .where(in_round(round_id))
                .group_by(DrawRow.user_id)
            )
            return {str(u): int(n) for u, n in rows}

    async def count(self, activity_id: ActivityId | None = None) -> int:
        q = select(func.count()).select_from(DrawRow)
        if activity_id is not None:
            q = q.where(DrawRow.activity_id == activity_id)
        async with self.db.session() as s:
            return int(await s.scalar(q) or 0)


async def _notify_wins(s: AsyncSession, rows: Sequence[Row], now: dt.datetime) -> None:
    await insert_notices(s, [win_notice(r, p, now) for r, p in rows if r.won])
