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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app import fairness
from app.activity import ActivityConfig
from app.exceptions import Rejected, Unavailable
from app.models import ActivityRow, DeadLetterRow, DrawRow, PrizeRow, RoundRow
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
    )
    return StoredDraw(rec, row.id, row.prize_type, row.prize_name, row.prize_value)


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
    )


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
            if before_commit is not None:
                before_commit()
        return StoreResult(len(rows), 0, [])

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
            new: list[dict[str, Any]] = []
            duplicates = 0
            collisions: list[tuple[DrawRecord, DrawRecord]] = []
            for rec, prize in rows:
                old = stored.get(rec.draw_id)
                if old is None:
                    stored[rec.draw_id] = rec
                    new.append(_draw_values(rec, prize))
                elif old.same_draw(rec):
                    duplicates += 1
                else:
                    collisions.append((rec, old))
            if new:
                await s.execute(insert(DRAWS), new)
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


class Database(LedgerMixin):
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
