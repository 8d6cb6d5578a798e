"""The database connection: engine, sessions, and error translation.

MariaDB/MySQL through asyncmy in production, SQLite through aiosqlite when
nothing is configured. Connection problems surface as :class:`Unavailable`
(HTTP 503), data the database refuses as :class:`Rejected`. The repositories
(one module per aggregate) each hold this connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy import exc as saexc
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.domain.errors import Duplicate, Rejected, Unavailable

T = TypeVar("T")
# InnoDB's answers that ask the client to run the transaction again.
RETRYABLE = {1205, 1213}  # lock wait timeout, deadlock
RETRIES = 3


def _retryable(exc: saexc.OperationalError) -> bool:
    args: tuple[Any, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in RETRYABLE


class Deadlock(Unavailable):
    """InnoDB chose this transaction as a deadlock victim (or a lock wait timed
    out): run it again. Left unhandled it is an outage like any other."""


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Database and driver errors as redrain's: outages 503, refusals Rejected."""
    try:
        yield
    except saexc.OperationalError as exc:
        if _retryable(exc):
            raise Deadlock("the database asked to run the transaction again") from exc
        raise Unavailable("the database cannot be reached") from exc
    except (saexc.InterfaceError, saexc.TimeoutError) as exc:
        raise Unavailable("the database cannot be reached") from exc
    except saexc.IntegrityError as exc:
        # The repositories decide what a duplicate means.
        raise Duplicate(f"integrity error: {exc.orig}") from exc
    except saexc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("the database connection was lost") from exc
        raise Rejected(f"{exc.orig.__class__.__name__}: {exc.orig}") from exc
    except (OSError, ConnectionError) as exc:
        raise Unavailable("the database cannot be reached") from exc


class Connection:
    """An async engine and its sessions; one transaction per :meth:`session`."""

    def __init__(self, url: str, *, audit_key: bytes, timeout: float = 5.0) -> None:
        self.url = url
        self.audit_key = audit_key  # keys the audit chain; from settings, never stored here
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
        async with translated(), self.sessions() as s, s.begin():
            yield s

    async def transaction(self, body: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """``body`` in one transaction, run again (up to :data:`RETRIES` times)
        when InnoDB picks it as a deadlock victim: concurrent updates of rows
        that share index pages do deadlock now and then, and MySQL's answer is
        to restart the transaction."""
        async with translated():
            for attempt in range(1, RETRIES + 1):
                try:
                    async with self.sessions() as s, s.begin():
                        return await body(s)
                except saexc.OperationalError as exc:
                    if attempt == RETRIES or not _retryable(exc):
                        raise
                    await asyncio.sleep(0.005 * attempt)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def serialized(
        self, name: str, body: Callable[[AsyncConnection], Awaitable[T]], *, wait: float = 10.0
    ) -> T:
        """``body`` in one transaction (run again on an InnoDB deadlock, as in
        :meth:`transaction`) while no other caller of the same ``name`` runs
        it, in any process: MariaDB's named lock (``GET_LOCK``); SQLite runs
        one writer at a time anyway. For a check-and-insert of rows that do
        not exist yet, which InnoDB's gap locks would otherwise deadlock."""
        named = self.engine.dialect.name != "sqlite"
        lock = "redrain:" + hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()
        async with translated(), self.engine.connect() as conn:
            if named:
                got = await conn.scalar(text("SELECT GET_LOCK(:n, :w)"), {"n": lock, "w": wait})
                await conn.commit()  # the lock belongs to the connection, not the transaction
                if got != 1:
                    raise Unavailable(f"the database is busy with {name}")
            try:
                for attempt in range(1, RETRIES + 1):
                    try:
                        async with conn.begin():
                            return await body(conn)
                    except saexc.OperationalError as exc:
                        if attempt == RETRIES or not _retryable(exc):
                            raise
                        await asyncio.sleep(0.005 * attempt)
            finally:
                if named:
                    await conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": lock})
                    await conn.commit()
        raise AssertionError("unreachable")  # the loop returns or raises

    async def ping(self) -> None:
        async with translated(), self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def upgrade(url: str, audit_key: bytes | None = None, revision: str = "head") -> None:
    """Apply every migration (``redrain db upgrade``). Blocking; call from a thread
    when an event loop is running. ``audit_key``: what migration 0008 re-keys an
    existing audit trail with (not needed on an empty trail)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "app.store.sql:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["audit_key"] = audit_key
    command.upgrade(cfg, revision)
