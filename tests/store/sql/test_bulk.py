"""Draw rows written by the flush worker: bound in binary on MariaDB
(COM_STMT_BULK_EXECUTE), in text elsewhere; the same rows and errors either way."""

from __future__ import annotations

import datetime as dt

import pytest

from app.domain.errors import Duplicate
from app.domain.types import DrawRecord, PrizePlan, PrizeType
from app.store.sql import bulk
from app.store.sql.database import Database
from app.store.sql.rows import INSERT_COLUMNS, draw_row
from tests.helpers import AUDIT_KEY

NOW = dt.datetime(2030, 6, 1, 2, 0, 7)
ROUND = "424242:20300601:0"
PRIZE = PrizePlan(1, "c2", PrizeType.COUPON, "2 元券", "CPN-'2'\\", 10, 10**8, 1)


def draw(
    seq: int, *, user: str = "u", seed: str = "", won: bool = False, round_id: str = ROUND
) -> DrawRecord:
    return DrawRecord(
        draw_id=f"{round_id}:{seq}",
        activity_id=424242,
        round_id=round_id,
        seq=seq,
        user_id=user,
        nonce=seq,
        client_seed=seed,
        pick=1 if won else 0,
        won=won,
        prize_key="c2" if won else None,
        random=f"{seq:040x}",
        drawn_at_ms=1_900_000_000_000 + seq,
        stream_id=f"1900000000000-{seq}",
    )


async def rows_of_round(
    db: Database, round_id: str = ROUND
) -> dict[str, tuple[DrawRecord, str | None, str | None]]:
    got = (await db.draws.round_draws(round_id)).draws  # rows and compact losses
    return {d.record.draw_id: (d.record, d.prize_value, d.fulfilment) for d in got}


async def statements_executed(db: Database) -> int:
    """MariaDB's count of prepared statements executed (server-wide)."""
    async with db.session() as s:
        res = await (await s.connection()).exec_driver_sql(
            "SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'"
        )
        return int(res.one()[1])


async def test_every_value_survives_the_trip(database: Database) -> None:
    # Values a text statement must escape and a binary one must not mangle.
    # Rows of draws, so wins (a plain loss is kept compact: test_losses.py).
    batch = [
        (draw(1, user="用户-é", seed="tab\there 'q' \"dq\" back\\slash\nnl", won=True), PRIZE),
        (draw(2, won=True), PRIZE),
        (draw(3, user="x" * 64, seed="🎁", won=True), PRIZE),
    ]
    mariadb = database.url.startswith("mysql")
    before = await statements_executed(database) if mariadb else 0
    result = await database.draws.store(batch)
    assert (result.inserted, result.duplicates, result.collisions) == (3, 0, [])
    if mariadb:  # the binary path was taken: one prepared statement for the batch
        assert await statements_executed(database) > before
    got = await rows_of_round(database)
    for rec, prize in batch:
        assert got[rec.draw_id][0] == rec
        assert got[rec.draw_id][1] == (prize.value if prize else None)
        assert got[rec.draw_id][2] == ("won" if prize else None)
    # Each win's notification rides on its row, written in the same statement.
    sent = await database.notices.of_user("u", limit=10, before=None)
    assert {n.ref for n in sent} >= {f"{ROUND}:2"}
    assert {n.payload["draw_id"] for n in sent if n.ref == f"{ROUND}:2"} == {f"{ROUND}:2"}


async def test_a_duplicate_fails_the_whole_bound_batch(database: Database) -> None:
    r = "424242:20300601:1"
    await database.draws.store([(draw(5, round_id=r, won=True), PRIZE)])
    rows = [draw_row(draw(n, round_id=r), None) for n in (4, 5, 6)]
    with pytest.raises(Duplicate):
        async with database.session() as s:
            await bulk.insert(await s.connection(), "draws", INSERT_COLUMNS, rows)
    assert set(await rows_of_round(database, r)) == {f"{r}:5"}  # 4 and 6 rolled back
    # The worker's way: the batch is redone comparing each stored draw.
    wins = [(draw(n, round_id=r, won=True), PRIZE) for n in (4, 5, 6)]
    result = await database.draws.store(wins)
    assert (result.inserted, result.duplicates) == (2, 1)
    assert set(await rows_of_round(database, r)) == {f"{r}:{n}" for n in (4, 5, 6)}


async def test_a_column_mixing_types_is_written_in_text(database: Database) -> None:
    # The binary protocol needs one type per column; asyncmy refuses before
    # sending anything and the text path writes the same rows.
    mixed = [draw_row(draw(7), None), draw_row(draw(8), None)]
    mixed[1] = (*mixed[1][:3], str(mixed[1][3]), *mixed[1][4:])  # seq as text
    mariadb = database.url.startswith("mysql")
    before = await statements_executed(database) if mariadb else 0
    async with database.session() as s:
        await bulk.insert(await s.connection(), "draws", INSERT_COLUMNS, mixed)
    if mariadb:
        assert await statements_executed(database) == before
    got = await rows_of_round(database)
    assert got[f"{ROUND}:8"][0] == draw(8)


def test_columns_null_in_every_row_are_left_out() -> None:
    rows = [("a", None, 1, None), ("b", None, None, None)]
    names, cut = bulk.without_null_columns(["w", "x", "y", "z"], rows)
    assert names == ["w", "y"] and cut == [("a", 1), ("b", None)]
    full = [("a", 1)]
    assert bulk.without_null_columns(["w", "y"], full) == (["w", "y"], full)
    assert bulk.statement("t", ["w", "y"], "?") == "INSERT INTO t (w, y) VALUES (?, ?)"


async def test_rows_already_stored_can_be_left_as_they_are(database: Database) -> None:
    r = "424242:20300601:2"
    await database.draws.store([(draw(1, round_id=r, seed="first", won=True), PRIZE)])
    again = [draw_row(draw(n, round_id=r, seed="second"), None) for n in (1, 2)]
    async with database.session() as s:
        await bulk.insert(await s.connection(), "draws", INSERT_COLUMNS, again, unless=["draw_id"])
    got = await rows_of_round(database, r)
    assert got[f"{r}:1"][0].client_seed == "first" and got[f"{r}:2"][0].client_seed == "second"


async def test_a_win_notified_twice_is_notified_once(database: Database) -> None:
    r = "424242:20300601:3"
    won = draw(1, round_id=r, won=True, user="once")
    await database.draws.store([(won, PRIZE)])
    await database.draws.delete([won.draw_id])  # as reconcile --repair finds it missing
    await database.draws.store([(won, PRIZE)])
    notices = await database.notices.of_user("once", limit=10, before=None)
    assert [n.ref for n in notices] == [won.draw_id]
    assert notices[0].payload["prize"]["value"] == PRIZE.value
    assert notices[0].created_at == dt.datetime(2030, 3, 17, 17, 46, 40, 1000)  # the draw's time


async def session_status(conn: object, name: str) -> int:
    res = await conn.exec_driver_sql(f"SHOW SESSION STATUS LIKE '{name}'")  # type: ignore[attr-defined]
    return int(res.one()[1])


async def test_a_connection_prepares_each_statement_once(mariadb_url: str) -> None:
    # MariaDB only: the binary path is its own (SQLite writes text).
    database = Database(mariadb_url, audit_key=AUDIT_KEY)
    try:
        await prepared_once(database)
    finally:
        await database.close()


async def prepared_once(database: Database) -> None:
    r = "424242:20300601:4"
    async with database.session() as s:
        conn = await s.connection()
        before = await session_status(conn, "Com_stmt_prepare")
        for n in (1, 2, 3):
            await bulk.insert(conn, "draws", INSERT_COLUMNS, [draw_row(draw(n, round_id=r), None)])
        assert await session_status(conn, "Com_stmt_prepare") == before + 1
        # A statement that failed stays usable.
        with pytest.raises(Duplicate):
            await bulk.insert(conn, "draws", INSERT_COLUMNS, [draw_row(draw(3, round_id=r), None)])
        await bulk.insert(conn, "draws", INSERT_COLUMNS, [draw_row(draw(4, round_id=r), None)])
        assert await session_status(conn, "Com_stmt_prepare") == before + 1
        # At most PREPARED_PER_CONNECTION are kept; the least recently used goes.
        driver = (await conn.get_raw_connection()).driver_connection
        for i in range(bulk.PREPARED_PER_CONNECTION + 3):
            sql = f"UPDATE draws SET nonce = nonce WHERE seq = ? AND {i} = {i}"  # noqa: S608
            await bulk.execute(conn, sql, [(1,)])
        assert len(bulk._PREPARED[driver]) == bulk.PREPARED_PER_CONNECTION
    assert set(await rows_of_round(database, r)) == {f"{r}:{n}" for n in (1, 2, 3, 4)}
