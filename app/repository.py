"""The database: the one place that talks to it (SQLAlchemy 2, async).

MariaDB/MySQL through asyncmy in production, SQLite through aiosqlite when
nothing is configured. Connection problems surface as :class:`Unavailable`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, event, insert, select, update
from sqlalchemy import exc as saexc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app import fairness
from app.activity import ActivityConfig
from app.exceptions import Unavailable
from app.models import ActivityRow, PrizeRow, RoundRow
from app.types import ActivityId, RoundPlan


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


class Database:
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
