"""The database: the one place that talks to it (SQLAlchemy 2, async).

MariaDB/MySQL through asyncmy in production, SQLite through aiosqlite when
nothing is configured. Connection problems surface as :class:`Unavailable`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import Table, delete, event, func, insert, select, update
from sqlalchemy import exc as saexc
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app import fairness
from app.activity import ActivityConfig
from app.exceptions import Rejected, Unavailable
from app.models import (
    ActivityRow,
    BlacklistRow,
    DeadLetterRow,
    DrawRow,
    GrantRow,
    LotteryRow,
    NotificationRow,
    ParticipantRow,
    PrizeRow,
    RoundRow,
    TopupRow,
    WechatSessionRow,
)
from app.types import ActivityId, DrawRecord, PrizePlan, RoundPlan


def utcnow() -> dt.datetime:
    """Naive UTC to whole seconds: what a MariaDB DATETIME column keeps."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    id: ActivityId
    config: ActivityConfig
    version: int
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class RoundRecord:
    id: str
    activity_id: ActivityId
    starts_at_ms: int
    ends_at_ms: int
    seed: str
    seed_hash: str


def _record(row: ActivityRow) -> ActivityRecord:
    return ActivityRecord(
        id=row.id,
        config=ActivityConfig.model_validate_json(row.config),
        version=row.version,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        published_at=row.published_at,
    )


def _config_json(cfg: ActivityConfig) -> str:
    return orjson.dumps(cfg.model_dump(mode="json", exclude_none=True)).decode()


def _prize_rows(activity_id: ActivityId, cfg: ActivityConfig) -> list[dict[str, Any]]:
    rows = []
    for si, session in enumerate(cfg.sessions):
        for pi, pool in enumerate(session.pools):
            for zi, p in enumerate(pool.prizes):
                rows.append(
                    {
                        "activity_id": activity_id,
                        "session_index": si,
                        "pool_index": pi,
                        "position": zi,
                        "key": p.key,
                        "type": p.type.value,
                        "name": p.name,
                        "value": p.value,
                        "quantity": p.round_quantity,
                        "probability": p.probability,
                        "weight": p.weight,
                        "image_url": p.image_url,
                    }
                )
    return rows


@contextlib.asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except (saexc.OperationalError, saexc.InterfaceError, saexc.TimeoutError) as exc:
        raise Unavailable("the database cannot be reached") from exc
    except saexc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("the database connection was lost") from exc
        raise
    except (OSError, ConnectionError) as exc:
        raise Unavailable("the database cannot be reached") from exc


@dataclass(frozen=True, slots=True)
class StoreResult:
    inserted: int
    duplicates: int  # already stored, and the same draw: done
    collisions: list[tuple[DrawRecord, DrawRecord]]  # (new, stored): same id, another draw


@dataclass(frozen=True, slots=True)
class StoredDraw:
    record: DrawRecord
    id: int
    prize_type: str | None
    prize_name: str | None
    prize_value: str | None
    fulfilment: str | None = None  # won | granted | grant_failed; None on a loss


@dataclass(frozen=True, slots=True)
class GrantRecord:
    id: str
    activity_id: ActivityId
    user_id: str
    amount: int
    reference: str
    created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class LotteryRecord:
    id: int
    creator: str
    title: str
    draw_at: dt.datetime  # naive UTC
    prize_name: str
    quantity: int
    status: int  # 0 open, 1 drawing, 2 drawn, 9 canceled
    seed: str
    seed_hash: str
    drawn_at: dt.datetime | None
    participants: int
    winners: tuple[str, ...]  # user ids, once drawn


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    kind: str
    ref: str
    payload: dict[str, Any]
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RoundLedger:
    """What the database holds for one round."""

    draws: int
    min_seq: int
    max_seq: int
    users: int
    wins: dict[str, int]  # prize key -> wins


DRAWS = cast(Table, DrawRow.__table__)

_DRAW_COLUMNS = (
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
)


def _stored(row: Any) -> StoredDraw:
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
    )
    return StoredDraw(rec, row.id, row.prize_type, row.prize_name, row.prize_value, row.fulfilment)


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
)


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
        prize.name if prize else None,
        prize.value if prize else None,
        rec.random,
        rec.drawn_at_ms,
        rec.stream_id,
        rec.pool,
        rec.grant_id,
        "won" if rec.won else None,
    )


def _win_notice(rec: DrawRecord, prize: PrizePlan | None, now: dt.datetime) -> dict[str, Any]:
    """The notification a won draw sends its user (written with the draw row)."""
    payload = {
        "draw_id": rec.draw_id,
        "activity_id": rec.activity_id,
        "round_id": rec.round_id,
        "prize": None
        if prize is None
        else {"key": prize.key, "type": prize.type.value, "name": prize.name, "value": prize.value},
    }
    return {
        "user_id": rec.user_id,
        "kind": "prize_won",
        "ref": rec.draw_id,
        "payload": orjson.dumps(payload).decode(),
        "created_at": now,
    }


def _draw_values(rec: DrawRecord, prize: PrizePlan | None) -> dict[str, Any]:
    return dict(zip(_INSERT_COLUMNS, _draw_row(rec, prize), strict=True))


def _insert_sql(paramstyle: str) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    # Built only from the constant column list above.
    return (
        f"INSERT INTO draws ({', '.join(_INSERT_COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join([mark] * len(_INSERT_COLUMNS))})"
    )


def _in_round(round_id: str) -> Any:
    """The draws of a round: a range of the unique draw_id index
    (ids are "<round_id>:<seq>"; ";" sorts right after ":")."""
    return (DrawRow.draw_id >= f"{round_id}:") & (DrawRow.draw_id < f"{round_id};")


class LedgerMixin:
    """Draw rows: written by the worker, read by the API and reconcile."""

    session: Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]

    async def store_draws(
        self,
        rows: Sequence[tuple[DrawRecord, PrizePlan | None]],
        *,
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
        try:
            return await self._insert_all(rows, before_commit)
        except saexc.IntegrityError:
            pass
        except saexc.DBAPIError as exc:
            raise Rejected(f"{exc.orig.__class__.__name__}: {exc.orig}") from exc
        for attempt in range(3):
            try:
                return await self._store_compared(rows, before_commit)
            except saexc.IntegrityError as exc:
                # Another worker inserted some of these ids between our SELECT and
                # INSERT: the next pass sees them as stored.
                if attempt == 2:
                    raise Rejected(f"integrity error: {exc.orig}") from exc
            except saexc.DBAPIError as exc:
                raise Rejected(f"{exc.orig.__class__.__name__}: {exc.orig}") from exc
        raise AssertionError("unreachable")

    async def _insert_all(
        self,
        rows: Sequence[tuple[DrawRecord, PrizePlan | None]],
        before_commit: Callable[[], None] | None,
    ) -> StoreResult:
        """The common case: nothing of the batch is stored yet."""
        unique = {rec.draw_id: (rec, prize) for rec, prize in rows}
        if len(unique) != len(rows):  # the same entry twice in one batch
            raise saexc.IntegrityError("duplicate draw_id within the batch", None, ValueError())
        async with self.session() as s:
            # Tuples straight to the driver's executemany (one multi-row INSERT):
            # half the CPU of a Core insert, an eighth of the ORM bulk path
            # (measurements in docs/worker.md). Column names are constants.
            conn = await s.connection()
            await conn.exec_driver_sql(
                _insert_sql(conn.dialect.paramstyle), [_draw_row(r, p) for r, p in rows]
            )
            await self._notify_wins(s, rows)
            if before_commit is not None:
                before_commit()
        return StoreResult(len(rows), 0, [])

    async def _notify_wins(
        self, s: AsyncSession, rows: Sequence[tuple[DrawRecord, PrizePlan | None]]
    ) -> None:
        now = utcnow()
        await _insert_notices(s, [_win_notice(r, p, now) for r, p in rows if r.won])

    async def _store_compared(
        self,
        rows: Sequence[tuple[DrawRecord, PrizePlan | None]],
        before_commit: Callable[[], None] | None,
    ) -> StoreResult:
        async with self.session() as s:
            ids = list({rec.draw_id for rec, _ in rows})
            stored: dict[str, DrawRecord] = {}
            for i in range(0, len(ids), 1000):
                result = await s.execute(
                    select(*_DRAW_COLUMNS).where(DrawRow.draw_id.in_(ids[i : i + 1000]))
                )
                stored.update((r.draw_id, _stored(r).record) for r in result)
            new: list[tuple[DrawRecord, PrizePlan | None]] = []
            duplicates = 0
            collisions: list[tuple[DrawRecord, DrawRecord]] = []
            for rec, prize in rows:
                old = stored.get(rec.draw_id)
                if old is None:
                    stored[rec.draw_id] = rec
                    new.append((rec, prize))
                elif old.same_draw(rec):
                    duplicates += 1
                else:
                    collisions.append((rec, old))
            if new:
                await s.execute(insert(DRAWS), [_draw_values(r, p) for r, p in new])
                await self._notify_wins(s, new)
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
    ) -> None:
        """Keep an entry that cannot become a draw row; idempotent per entry."""
        try:
            async with self.session() as s:
                s.add(
                    DeadLetterRow(
                        stream=stream,
                        entry_id=entry_id,
                        draw_id=draw_id,
                        fields=orjson.dumps(fields).decode(),
                        reason=reason[:500],
                        attempts=attempts,
                        created_at=utcnow(),
                    )
                )
        except saexc.IntegrityError:
            pass  # already dead-lettered (by another worker)

    async def dead_letters(
        self, *, activity_id: ActivityId | None = None, limit: int = 100
    ) -> list[DeadLetterRow]:
        q = select(DeadLetterRow).order_by(DeadLetterRow.id).limit(limit)
        if activity_id is not None:
            q = q.where(DeadLetterRow.stream.startswith(f"{{rd:{activity_id}}}:", autoescape=True))
        async with self.session() as s:
            return list(await s.scalars(q))

    async def user_draws(
        self,
        user_id: str,
        *,
        activity_id: ActivityId | None,
        limit: int,
        before: tuple[int, int] | None,
    ) -> list[StoredDraw]:
        """The user's draws, newest first, strictly older than ``before``
        (``(drawn_at_ms, id)``) when given."""
        q = select(*_DRAW_COLUMNS).where(DrawRow.user_id == user_id)
        if activity_id is not None:
            q = q.where(DrawRow.activity_id == activity_id)
        if before is not None:
            at, row_id = before
            q = q.where(
                (DrawRow.drawn_at_ms < at) | ((DrawRow.drawn_at_ms == at) & (DrawRow.id < row_id))
            )
        q = q.order_by(DrawRow.drawn_at_ms.desc(), DrawRow.id.desc()).limit(limit)
        async with self.session() as s:
            return [_stored(r) for r in await s.execute(q)]

    async def winners(
        self,
        activity_id: ActivityId,
        *,
        round_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[StoredDraw]:
        """Winning draws in flush order (``id``), after ``after_id``."""
        q = select(*_DRAW_COLUMNS).where(
            DrawRow.activity_id == activity_id, DrawRow.won.is_(True), DrawRow.id > after_id
        )
        if round_id is not None:
            q = q.where(_in_round(round_id))
        q = q.order_by(DrawRow.id).limit(limit)
        async with self.session() as s:
            return [_stored(r) for r in await s.execute(q)]

    async def round_ledger(self, round_id: str) -> RoundLedger:
        async with self.session() as s:
            head = (
                await s.execute(
                    select(
                        func.count(),
                        func.coalesce(func.min(DrawRow.seq), 0),
                        func.coalesce(func.max(DrawRow.seq), 0),
                        func.count(func.distinct(DrawRow.user_id)),
                    ).where(_in_round(round_id))
                )
            ).one()
            wins = await s.execute(
                select(DrawRow.prize_key, func.count())
                .where(_in_round(round_id), DrawRow.won.is_(True))
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
        async with self.session() as s:
            q = select(*_DRAW_COLUMNS).where(_in_round(round_id)).order_by(DrawRow.seq)
            return [_stored(r) for r in await s.execute(q)]

    async def draws_before(
        self, activity_id: ActivityId, before_ms: int, users: Sequence[str]
    ) -> dict[str, int]:
        """How many draws each user made in the activity before ``before_ms``."""
        out: dict[str, int] = {}
        users = list(users)
        async with self.session() as s:
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

    async def grant_amounts(self, grant_ids: Sequence[str]) -> dict[str, int]:
        ids = list(grant_ids)
        out: dict[str, int] = {}
        async with self.session() as s:
            for i in range(0, len(ids), 1000):
                rows = await s.execute(
                    select(GrantRow.id, GrantRow.amount).where(GrantRow.id.in_(ids[i : i + 1000]))
                )
                out.update((str(g), int(a)) for g, a in rows)
        return out

    async def round_seqs(self, round_id: str) -> list[int]:
        async with self.session() as s:
            return [int(v) for v in await s.scalars(select(DrawRow.seq).where(_in_round(round_id)))]

    async def round_user_counts(self, round_id: str) -> dict[str, int]:
        async with self.session() as s:
            rows = await s.execute(
                select(DrawRow.user_id, func.count())
                .where(_in_round(round_id))
                .group_by(DrawRow.user_id)
            )
            return {str(u): int(n) for u, n in rows}

    async def delete_draws(self, draw_ids: Sequence[str]) -> int:
        """Remove rows (operators' repair tooling and tests of reconcile)."""
        async with self.session() as s:
            res = await s.execute(delete(DrawRow).where(DrawRow.draw_id.in_(list(draw_ids))))
            return int(getattr(res, "rowcount", 0) or 0)

    async def count_draws(self, activity_id: ActivityId | None = None) -> int:
        q = select(func.count()).select_from(DrawRow)
        if activity_id is not None:
            q = q.where(DrawRow.activity_id == activity_id)
        async with self.session() as s:
            return int(await s.scalar(q) or 0)


def _grant(row: GrantRow) -> GrantRecord:
    return GrantRecord(
        row.id, row.activity_id, row.user_id, row.amount, row.reference, row.created_at
    )


class GrantsMixin:
    session: Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]

    async def grant(self, grant_id: str) -> GrantRecord | None:
        async with self.session() as s:
            row = await s.get(GrantRow, grant_id)
        return None if row is None else _grant(row)

    async def user_grants(
        self, user_id: str, activity_id: ActivityId | None, limit: int
    ) -> list[GrantRecord]:
        """A user's grants, newest first."""
        q = select(GrantRow).where(GrantRow.user_id == user_id)
        if activity_id is not None:
            q = q.where(GrantRow.activity_id == activity_id)
        q = q.order_by(GrantRow.created_at.desc(), GrantRow.id.desc()).limit(limit)
        async with self.session() as s:
            return [_grant(r) for r in await s.scalars(q)]

    async def create_grant(
        self, grant_id: str, activity_id: ActivityId, user_id: str, amount: int, reference: str
    ) -> tuple[GrantRecord, bool]:
        """The grant of ``reference``: created now (True) or as first created (False)."""
        now = utcnow()
        try:
            async with self.session() as s:
                s.add(
                    GrantRow(
                        id=grant_id,
                        activity_id=activity_id,
                        user_id=user_id,
                        amount=amount,
                        reference=reference,
                        created_at=now,
                    )
                )
            return GrantRecord(grant_id, activity_id, user_id, amount, reference, now), True
        except saexc.IntegrityError:
            async with self.session() as s:
                row = await s.scalar(select(GrantRow).where(GrantRow.reference == reference))
            if row is None:
                raise
            return _grant(row), False


class LotteriesMixin:
    session: Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]

    async def create_lottery(
        self, creator: str, title: str, draw_at: dt.datetime, prize_name: str, quantity: int
    ) -> LotteryRecord:
        seed = fairness.new_seed()
        now = utcnow()
        async with self.session() as s:
            row = LotteryRow(
                creator=creator,
                title=title,
                draw_at=draw_at,
                prize_name=prize_name,
                quantity=quantity,
                status=0,
                seed=seed.hex(),
                seed_hash=fairness.seed_hash(seed),
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            await s.flush()
            return _lottery(row, 0, ())

    async def get_lottery(self, lottery_id: int) -> LotteryRecord | None:
        async with self.session() as s:
            row = await s.get(LotteryRow, lottery_id)
            if row is None:
                return None
            count = await s.scalar(
                select(func.count()).where(ParticipantRow.lottery_id == lottery_id)
            )
            winners: tuple[str, ...] = ()
            if row.status == 2:
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

    async def is_participant(self, lottery_id: int, user_id: str) -> bool:
        async with self.session() as s:
            return await s.get(ParticipantRow, (lottery_id, user_id)) is not None

    async def join_lottery(
        self, lottery_id: int, user_id: str, *, now: dt.datetime, open_until: dt.datetime
    ) -> bool:
        """Join while open (status open and ``now`` before ``open_until``); False if
        already a participant. Checked and written in one transaction, the
        lottery row locked, so a join cannot slip past the worker closing it."""
        async with self.session() as s:
            row = await s.get(LotteryRow, lottery_id, with_for_update=True)
            if row is None or row.status != 0 or now >= open_until:
                raise LookupError("not open")
            if await s.get(ParticipantRow, (lottery_id, user_id)) is not None:
                return False
            s.add(ParticipantRow(lottery_id=lottery_id, user_id=user_id, joined_at=utcnow()))
            return True

    async def leave_lottery(
        self, lottery_id: int, user_id: str, *, now: dt.datetime, open_until: dt.datetime
    ) -> bool:
        async with self.session() as s:
            row = await s.get(LotteryRow, lottery_id, with_for_update=True)
            if row is None or row.status != 0 or now >= open_until:
                raise LookupError("not open")
            res = await s.execute(
                delete(ParticipantRow).where(
                    ParticipantRow.lottery_id == lottery_id, ParticipantRow.user_id == user_id
                )
            )
            return bool(getattr(res, "rowcount", 0))

    async def move_lottery(self, lottery_id: int, frm: int, to: int) -> bool:
        """``frm`` → ``to`` if the lottery is in ``frm``: the claim that makes a
        transition happen once, whoever races for it."""
        async with self.session() as s:
            res = await s.execute(
                update(LotteryRow)
                .where(LotteryRow.id == lottery_id, LotteryRow.status == frm)
                .values(status=to, updated_at=utcnow())
            )
            return bool(getattr(res, "rowcount", 0))

    async def delete_lottery(self, lottery_id: int, *, only_if_empty_when_open: bool) -> bool:
        """Delete a canceled lottery, or an open one nobody joined."""
        async with self.session() as s:
            row = await s.get(LotteryRow, lottery_id, with_for_update=True)
            if row is None:
                return False
            joined = await s.scalar(
                select(func.count()).where(ParticipantRow.lottery_id == lottery_id)
            )
            if row.status == 9 or (row.status == 0 and not joined and only_if_empty_when_open):
                await s.execute(
                    delete(ParticipantRow).where(ParticipantRow.lottery_id == lottery_id)
                )
                await s.delete(row)
                return True
            raise LookupError("not deletable")

    async def due_lotteries(
        self, now: dt.datetime, *, lead: dt.timedelta
    ) -> tuple[list[int], list[int]]:
        """``(to close, to draw)``: open ones within ``lead`` of their draw time,
        and closed ones whose draw time has come."""
        async with self.session() as s:
            closing = await s.scalars(
                select(LotteryRow.id).where(
                    LotteryRow.status == 0, LotteryRow.draw_at <= now + lead
                )
            )
            drawing = await s.scalars(
                select(LotteryRow.id).where(LotteryRow.status == 1, LotteryRow.draw_at <= now)
            )
            return list(closing), list(drawing)

    async def draw_lottery(
        self, lottery_id: int, pick: Callable[[LotteryRecord, list[str]], list[str]]
    ) -> LotteryRecord | None:
        """Draw once: claim drawing → drawn, mark the winners ``pick`` chooses and
        notify every participant, all in one transaction. None if someone else
        drew it (or it is not ready); a crash before the commit leaves nothing."""
        async with self.session() as s:
            claimed = await s.execute(
                update(LotteryRow)
                .where(LotteryRow.id == lottery_id, LotteryRow.status == 1)
                .values(status=2, drawn_at=utcnow(), updated_at=utcnow())
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
            record = _lottery(row, len(users), ())
            winners = pick(record, users)
            if winners:
                await s.execute(
                    update(ParticipantRow)
                    .where(
                        ParticipantRow.lottery_id == lottery_id,
                        ParticipantRow.user_id.in_(winners),
                    )
                    .values(won=True)
                )
            now = utcnow()
            won = set(winners)
            notices = [
                {
                    "user_id": u,
                    "kind": "lottery_result",
                    "ref": str(lottery_id),
                    "payload": orjson.dumps(
                        {
                            "lottery_id": lottery_id,
                            "title": row.title,
                            "won": u in won,
                            "prize": row.prize_name if u in won else None,
                        }
                    ).decode(),
                    "created_at": now,
                }
                for u in users
            ]
            await _insert_notices(s, notices)
            return _lottery(row, len(users), tuple(sorted(won)))


class NoticesMixin:
    session: Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]

    async def notifications(
        self, user_id: str, *, limit: int, before_id: int | None
    ) -> list[Notice]:
        q = select(NotificationRow).where(NotificationRow.user_id == user_id)
        if before_id is not None:
            q = q.where(NotificationRow.id < before_id)
        q = q.order_by(NotificationRow.id.desc()).limit(limit)
        async with self.session() as s:
            return [
                Notice(r.id, r.kind, r.ref, orjson.loads(r.payload), r.created_at)
                for r in await s.scalars(q)
            ]

    async def save_wechat_session(
        self, openid: str, user_id: str, session_key: str, unionid: str | None
    ) -> None:
        async with self.session() as s:
            row = await s.get(WechatSessionRow, openid, with_for_update=True)
            if row is None:
                s.add(
                    WechatSessionRow(
                        openid=openid,
                        user_id=user_id,
                        session_key=session_key,
                        unionid=unionid,
                        updated_at=utcnow(),
                    )
                )
            else:
                row.session_key, row.unionid, row.updated_at = session_key, unionid, utcnow()

    async def wechat_session_key(self, openid: str) -> str | None:
        async with self.session() as s:
            row = await s.get(WechatSessionRow, openid)
            return None if row is None else row.session_key

    # -- fulfilment of won prizes ---------------------------------------------------

    async def due_fulfilments(self, now_ms: int, limit: int) -> list[int]:
        """Row ids of wins waiting for the fulfilment hook."""
        async with self.session() as s:
            q = (
                select(DrawRow.id)
                .where(
                    DrawRow.fulfilment == "won",
                    (DrawRow.fulfil_next_ms.is_(None)) | (DrawRow.fulfil_next_ms <= now_ms),
                )
                .order_by(DrawRow.id)
                .limit(limit)
            )
            return [int(i) for i in await s.scalars(q)]

    async def lease_fulfilment(self, row_id: int, now_ms: int, lease_ms: int) -> StoredDraw | None:
        """Take one win for delivery until ``now + lease`` (None if another worker
        holds it or it is done). Counts the attempt."""
        async with self.session() as s:
            res = await s.execute(
                update(DrawRow)
                .where(
                    DrawRow.id == row_id,
                    DrawRow.fulfilment == "won",
                    (DrawRow.fulfil_next_ms.is_(None)) | (DrawRow.fulfil_next_ms <= now_ms),
                )
                .values(
                    fulfil_next_ms=now_ms + lease_ms, fulfil_attempts=DrawRow.fulfil_attempts + 1
                )
            )
            if not getattr(res, "rowcount", 0):
                return None
            row = (await s.execute(select(*_DRAW_COLUMNS).where(DrawRow.id == row_id))).one()
            return _stored(row)

    async def fulfilment_attempts(self, row_id: int) -> int:
        async with self.session() as s:
            return int(
                await s.scalar(select(DrawRow.fulfil_attempts).where(DrawRow.id == row_id)) or 0
            )

    async def finish_fulfilment(
        self, row_id: int, status: str | None, retry_at_ms: int | None
    ) -> None:
        """Record the hook's outcome: ``granted`` / ``grant_failed``, or a retry time."""
        async with self.session() as s:
            values: dict[str, Any] = {"fulfil_next_ms": retry_at_ms}
            if status is not None:
                values["fulfilment"] = status
            await s.execute(update(DrawRow).where(DrawRow.id == row_id).values(**values))


async def _insert_notices(s: AsyncSession, notices: list[dict[str, Any]]) -> None:
    """Insert notifications; one already sent (same user, kind, ref — e.g. a draw
    row re-driven by reconcile --repair) is left as it is. Only that unique key
    is forgiven: any other error surfaces (no INSERT IGNORE)."""
    if not notices:
        return
    dialect = (await s.connection()).dialect.name
    if dialect == "sqlite":
        stmt: Any = sqlite_insert(NotificationRow).on_conflict_do_nothing(
            index_elements=["user_id", "kind", "ref"]
        )
    else:
        ins = mysql_insert(NotificationRow)
        stmt = ins.on_duplicate_key_update(ref=ins.inserted.ref)
    await s.execute(stmt, notices)


class GuardMixin:
    """The blacklist and the record of stock top-ups."""

    session: Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]

    async def blacklist(self) -> list[BlacklistRow]:
        async with self.session() as s:
            q = select(BlacklistRow).order_by(BlacklistRow.kind, BlacklistRow.value)
            return list(await s.scalars(q))

    async def blacklist_add(self, kind: str, value: str, reason: str) -> bool:
        try:
            async with self.session() as s:
                s.add(BlacklistRow(kind=kind, value=value, reason=reason, created_at=utcnow()))
            return True
        except saexc.IntegrityError:
            return False

    async def blacklist_remove(self, kind: str, value: str) -> bool:
        async with self.session() as s:
            res = await s.execute(
                delete(BlacklistRow).where(BlacklistRow.kind == kind, BlacklistRow.value == value)
            )
            return bool(getattr(res, "rowcount", 0))

    async def record_topup(self, round_id: str, prize_key: str, added: int, at_ms: int) -> None:
        async with self.session() as s:
            s.add(TopupRow(round_id=round_id, prize_key=prize_key, added=added, at_ms=at_ms))

    async def topups(self, round_id: str) -> list[tuple[str, int, int]]:
        """``(prize key, units added, at ms)`` of a round, in order."""
        async with self.session() as s:
            rows = await s.scalars(
                select(TopupRow).where(TopupRow.round_id == round_id).order_by(TopupRow.id)
            )
            return [(r.prize_key, r.added, r.at_ms) for r in rows]


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


class Database(LedgerMixin, GrantsMixin, LotteriesMixin, NoticesMixin, GuardMixin):
    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        sqlite = url.startswith("sqlite")
        connect_args: dict[str, Any] = (
            {"timeout": timeout} if sqlite else {"connect_timeout": max(1, round(timeout))}
        )
        self.engine = create_async_engine(
            url,
            pool_pre_ping=True,
            pool_timeout=timeout,
            pool_recycle=1800,
            connect_args=connect_args,
        )
        if sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with _translated(), self.sessions() as s, s.begin():
            yield s

    async def ping(self) -> None:
        async with _translated(), self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    # -- activities ---------------------------------------------------------

    async def create_activity(self, cfg: ActivityConfig) -> ActivityRecord:
        now = utcnow()
        async with self.session() as s:
            row = ActivityRow(
                name=cfg.name,
                kind=cfg.kind.value,
                timezone=cfg.timezone,
                start_date=cfg.start_date,
                end_date=cfg.end_date,
                config=_config_json(cfg),
                version=1,
                status="draft",
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            await s.flush()
            await s.execute(insert(PrizeRow), _prize_rows(row.id, cfg))
            return _record(row)

    async def get_activity(self, activity_id: ActivityId) -> ActivityRecord | None:
        async with self.session() as s:
            row = await s.get(ActivityRow, activity_id)
            return None if row is None else _record(row)

    async def list_activities(self, *, limit: int = 100, offset: int = 0) -> list[ActivityRecord]:
        async with self.session() as s:
            rows = await s.scalars(
                select(ActivityRow).order_by(ActivityRow.id.desc()).limit(limit).offset(offset)
            )
            return [_record(r) for r in rows]

    async def replace_activity(
        self, activity_id: ActivityId, cfg: ActivityConfig
    ) -> ActivityRecord:
        async with self.session() as s:
            row = await s.get(ActivityRow, activity_id, with_for_update=True)
            if row is None:
                raise LookupError(activity_id)
            row.name = cfg.name
            row.kind = cfg.kind.value
            row.timezone = cfg.timezone
            row.start_date = cfg.start_date
            row.end_date = cfg.end_date
            row.config = _config_json(cfg)
            row.version += 1
            row.updated_at = utcnow()
            await s.execute(delete(PrizeRow).where(PrizeRow.activity_id == activity_id))
            await s.execute(insert(PrizeRow), _prize_rows(activity_id, cfg))
            return _record(row)

    async def mark_published(self, activity_id: ActivityId) -> None:
        async with self.session() as s:
            await s.execute(
                update(ActivityRow)
                .where(ActivityRow.id == activity_id)
                .values(status="published", published_at=utcnow())
            )

    # -- rounds -------------------------------------------------------------

    async def ensure_rounds(
        self, activity_id: ActivityId, rounds: Iterable[RoundPlan]
    ) -> dict[str, tuple[str, str]]:
        """Seeds of every round, creating rows (with fresh seeds) for new ones.

        A round's seed is made once and never changes: its hash may already be
        public. Returns ``{sfx: (seed hex, seed hash)}``.
        """
        rounds = list(rounds)
        async with self.session() as s:
            rows = {
                r.id: r
                for r in await s.scalars(
                    select(RoundRow).where(RoundRow.activity_id == activity_id)
                )
            }
            existing = {rid: (r.seed, r.seed_hash) for rid, r in rows.items()}
            new_rows = []
            for r in rounds:
                row = rows.get(r.round_id)
                if row is not None:
                    # PUT may move a round that has not started: keep its times current.
                    if (row.starts_at_ms, row.ends_at_ms) != (r.start_ms, r.end_ms):
                        row.starts_at_ms, row.ends_at_ms = r.start_ms, r.end_ms
                    continue
                seed = fairness.new_seed()
                entry = (seed.hex(), fairness.seed_hash(seed))
                existing[r.round_id] = entry
                new_rows.append(
                    {
                        "id": r.round_id,
                        "activity_id": activity_id,
                        "day": dt.date(int(r.sfx[:4]), int(r.sfx[4:6]), int(r.sfx[6:8])),
                        "session_index": r.session_index,
                        "starts_at_ms": r.start_ms,
                        "ends_at_ms": r.end_ms,
                        "seed": entry[0],
                        "seed_hash": entry[1],
                    }
                )
            if new_rows:
                await s.execute(insert(RoundRow), new_rows)
        return {r.sfx: existing[r.round_id] for r in rounds}

    async def drop_rounds(self, activity_id: ActivityId, sfxs: Iterable[str]) -> None:
        ids = [f"{activity_id}:{sfx}" for sfx in sfxs]
        if not ids:
            return
        async with self.session() as s:
            await s.execute(delete(RoundRow).where(RoundRow.id.in_(ids)))

    async def get_round(self, round_id: str) -> RoundRecord | None:
        async with self.session() as s:
            r = await s.get(RoundRow, round_id)
            if r is None:
                return None
            return RoundRecord(
                r.id, r.activity_id, r.starts_at_ms, r.ends_at_ms, r.seed, r.seed_hash
            )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def upgrade(url: str) -> None:
    """Apply every migration (``redrain db upgrade``). Blocking; call from a thread
    when an event loop is running."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "app:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")
