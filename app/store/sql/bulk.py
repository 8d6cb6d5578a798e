"""Many rows in one statement, bound in binary where MariaDB offers it.

The flush worker writes every draw as a row. A multi-row INSERT in text makes
the driver escape each of a row's nineteen values into the statement (asyncmy:
~3.7 µs of client CPU per row) and the server parse them back. MariaDB's
``COM_STMT_BULK_EXECUTE`` binds all the rows of a prepared statement in binary
(asyncmy packs them in C: ~0.8 µs per row) and costs the server ~30% less per
row (``loadtest/insert_bench.py``; docs/performance.md, issue 16).

The binary protocol needs a type per column, so columns NULL in every row of
the batch are left out of the statement (they are NULL by default). MySQL,
SQLite, a driver without the operation, or rows it cannot bind (a column
mixing types) take the text path: the same rows, the same transaction, the
same errors. A unique-key violation is :class:`Duplicate` either way.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.errors import Duplicate, Rejected, Unavailable
from app.store.sql.connection import RETRYABLE, Deadlock


async def insert(
    conn: AsyncConnection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    unless: Sequence[str] = (),
    binary: bool = True,
) -> None:
    """``INSERT INTO table (columns) VALUES …`` for every row, in ``conn``'s
    transaction. With ``unless`` (the columns of a unique key), a row whose key
    is already stored is left as it is (on MariaDB its row lock taken); any
    other error still surfaces. ``binary=False``: in text even on MariaDB, for
    a handful of rows, where preparing a statement costs more round trips than
    escaping saves. ``table`` and the column names are the caller's constants."""
    if not rows:
        return
    dialect = conn.dialect
    sqlite = dialect.name == "sqlite"
    if unless:
        suffix = (
            f" ON CONFLICT ({', '.join(unless)}) DO NOTHING"
            if sqlite
            else f" ON DUPLICATE KEY UPDATE {unless[0]} = {unless[0]}"
        )
    else:
        suffix = ""
    if binary and binds(conn):
        names, bound = without_null_columns(columns, rows)
        raw = (await conn.get_raw_connection()).driver_connection
        if await bind(raw, statement(table, names, "?") + suffix, bound):
            return
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    await conn.exec_driver_sql(statement(table, columns, mark) + suffix, list(rows))


async def execute(conn: AsyncConnection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """One statement (``?`` placeholders) for every row, bound in binary on
    MariaDB: a blob parameter is then sent as it is, not escaped into SQL
    text (the flush's block segments, ~6 KB a batch). ``sql`` is the
    caller's constant."""
    if not rows:
        return
    if binds(conn):
        raw = (await conn.get_raw_connection()).driver_connection
        if await bind(raw, sql, rows):
            return
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    await conn.exec_driver_sql(sql, list(rows))


def binds(conn: AsyncConnection) -> bool:
    """True on MariaDB through asyncmy: rows are bound in binary there."""
    return conn.dialect.driver == "asyncmy" and bool(getattr(conn.dialect, "is_mariadb", False))


def without_null_columns(
    columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> tuple[list[str], Sequence[tuple[Any, ...]]]:
    """The columns with a value in some row, and the rows cut to them."""
    keep = [i for i in range(len(columns)) if any(r[i] is not None for r in rows)]
    if len(keep) == len(columns):
        return list(columns), rows
    return [columns[i] for i in keep], [tuple([r[i] for i in keep]) for r in rows]


def statement(table: str, columns: Sequence[str], mark: str) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - constants
        f"VALUES ({', '.join([mark] * len(columns))})"
    )


# Prepared statements by connection, kept: a batch of the flush runs the same
# few statements, and preparing each anew was a round trip and a fifth of the
# per-batch CPU (issue 26). A connection that is closed takes its own along.
_PREPARED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
PREPARED_PER_CONNECTION = 32


async def _prepared(driver: Any, sql: str) -> Any:
    held = _PREPARED.setdefault(driver, {})
    stmt = held.pop(sql, None)
    if stmt is None:
        stmt = await driver.prepare(sql)
        if len(held) >= PREPARED_PER_CONNECTION:  # the least recently used goes
            await held.pop(next(iter(held))).close()
    held[sql] = stmt  # most recently used last
    return stmt


async def bind(driver: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> bool:
    """Bind every row at once to ``sql`` (``?`` placeholders), prepared on
    asyncmy connection ``driver`` (once per connection).
    True when MariaDB took the rows; False when this path cannot (nothing written)."""
    from asyncmy import errors

    try:
        stmt = await _prepared(driver, sql)
        await stmt.execute_bulk(rows)
    except (ValueError, errors.NotSupportedError):
        return False  # raised before the rows were sent
    except errors.IntegrityError as exc:
        raise Duplicate(f"integrity error: {exc}") from exc
    except errors.OperationalError as exc:
        if exc.args and exc.args[0] in RETRYABLE:
            raise Deadlock("the database asked to run the transaction again") from exc
        raise Unavailable("the database cannot be reached") from exc
    except (errors.InterfaceError, OSError) as exc:
        raise Unavailable("the database cannot be reached") from exc
    except errors.Error as exc:
        raise Rejected(f"{exc.__class__.__name__}: {exc}") from exc
    return True
