"""Data migrations on a database an earlier release wrote (MariaDB and SQLite).

0008: the unkeyed audit chain is verified, then re-keyed; tokens made by
tokens are owned by a person; published activities keep drawing against what
they had; a broken old trail stops the upgrade before anything changes.
0009: blacklisted addresses in their one canonical spelling.
0014: rounds hold the version they were published with.
0015: rounds with draw rows keep writing rows; later rounds compact their losses.
0016: the win notifications already sent move onto their win rows."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.domain.audit import GENESIS, AuditEntry, canonical, first_break, plain_hash
from app.domain.types import DrawRecord
from app.store.sql import bulk
from app.store.sql.connection import upgrade
from app.store.sql.database import Database
from app.store.sql.models import AuditRow, DrawRow
from app.store.sql.rows import INSERT_COLUMNS, draw_row
from tests.conftest import scratch_mariadb
from tests.helpers import AUDIT_KEY

AT = dt.datetime(2030, 1, 2, 3, 4, 5)


def old_row(rec: DrawRecord) -> tuple[list[str], list[tuple[object, ...]]]:
    """A draws row as releases before 0016 wrote it (no ``notice``)."""
    keep = [i for i, c in enumerate(INSERT_COLUMNS) if c != "notice"]
    row = draw_row(rec, None)
    return [INSERT_COLUMNS[i] for i in keep], [tuple(row[i] for i in keep)]


@pytest_asyncio.fixture(params=["sqlite", "mariadb"])
async def old_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database at revision 0007 (the release before)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        await asyncio.to_thread(upgrade, url, None, "0007")
        yield url
        return
    async with scratch_mariadb(f"redrain_m_{abs(hash(tmp_path)) % 10**8}") as url:
        await asyncio.to_thread(upgrade, url, None, "0007")
        yield url


async def old_trail(engine: AsyncEngine, n: int) -> list[AuditEntry]:
    """``n`` entries chained as the previous release did (plain SHA-256)."""
    prev, out = GENESIS, []
    async with engine.begin() as c:
        for i in range(1, n + 1):
            e = AuditEntry(
                i, AT, f"actor-{i}", "login.failed", f"operator:x{i}", None,
                canonical({"i": i}), None, "10.0.0.1", prev, "",
            )  # fmt: skip
            e = AuditEntry(
                *[*tuple(e.__getattribute__(f) for f in e.__slots__)][:-1], plain_hash(e, prev)
            )
            await c.execute(insert(AuditRow.__table__), dataclasses.asdict(e))
            prev = e.hash
            out.append(e)
        await c.execute(
            text("UPDATE audit_head SET last_id = :i, last_hash = :h"), {"i": n, "h": prev}
        )
    return out


async def test_0008_rekeys_the_trail_and_keeps_what_is_live(old_db: str) -> None:
    engine = create_async_engine(old_db)
    try:
        await old_trail(engine, 30)
        async with engine.begin() as c:
            for name, by in (("ci", "alice"), ("ci-child", "ci"), ("ci-grandchild", "ci-child")):
                await c.execute(
                    text(
                        "INSERT INTO api_tokens (name, token_hash, scope, created_by, created_at)"
                        " VALUES (:n, :h, 'admin:viewer', :by, :at)"
                    ),
                    {"n": name, "h": name.ljust(64, "0"), "by": by, "at": AT},
                )
            await c.execute(
                text(
                    "INSERT INTO activities (id, name, kind, timezone, start_date, end_date, config,"
                    " version, status, created_at, updated_at, published_at) VALUES (7, 'a', 'time',"
                    " 'Asia/Shanghai', '2030-01-01', '2030-01-01', '{}', 3, 'published', :at, :at, :at)"
                ),
                {"at": AT},
            )
    finally:
        await engine.dispose()
    await asyncio.to_thread(upgrade, old_db, AUDIT_KEY)
    db = Database(old_db, audit_key=AUDIT_KEY)
    try:
        entries = [e async for chunk in db.audit.walk() for e in chunk]
        assert len(entries) == 30
        assert first_break(AUDIT_KEY, entries) is None  # keyed now
        assert first_break(None, entries) is not None  # and no longer the plain chain
        assert (await db.audit.head()) == (30, entries[-1].hash)
        owners = {t.name: t.created_by for t in await db.operators.tokens()}
        assert owners == {"ci": "alice", "ci-child": "alice", "ci-grandchild": "alice"}
        async with db.session() as s:
            row = (
                await s.execute(
                    text("SELECT published_version, live_config FROM activities WHERE id = 7")
                )
            ).one()
        assert tuple(row) == (3, "{}")
    finally:
        await db.close()


async def test_0008_refuses_a_broken_old_trail_and_changes_nothing(old_db: str) -> None:
    engine = create_async_engine(old_db)
    try:
        await old_trail(engine, 10)
        async with engine.begin() as c:  # an insider edited entry 4 under the old release
            await c.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 4"))
    finally:
        await engine.dispose()
    with pytest.raises(RuntimeError, match="broken at entry 4"):
        await asyncio.to_thread(upgrade, old_db, AUDIT_KEY)
    with pytest.raises(RuntimeError, match="REDRAIN_AUDIT_KEY"):  # and never without a key
        await asyncio.to_thread(upgrade, old_db, None)
    engine = create_async_engine(old_db)
    try:
        async with engine.connect() as c:
            version = (await c.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            columns = await c.run_sync(
                lambda sync: [col["name"] for col in inspect(sync).get_columns("activities")]
            )
        assert version == "0007" and "live_config" not in columns
    finally:
        await engine.dispose()


async def test_0009_blacklisted_ips_become_canonical(old_db: str) -> None:
    engine = create_async_engine(old_db)
    before = [
        ("ip", "::ffff:10.9.9.9"),  # a second spelling of the next one: dropped
        ("ip", "10.9.9.9"),
        ("ip", "::FFFF:192.0.2.1"),
        ("ip", "2001:DB8:0:0::1"),
        ("ip", "fe80::1%eth0"),  # no address: left for an operator to lift
        ("user", "::ffff:10.9.9.9"),  # a user id is not an address
    ]
    try:
        async with engine.begin() as conn:
            for kind, value in before:
                await conn.execute(
                    text(
                        "INSERT INTO blacklist (kind, value, reason, created_at)"
                        " VALUES (:k, :v, 'old', :t)"
                    ),
                    {"k": kind, "v": value, "t": AT},
                )
        await asyncio.to_thread(upgrade, old_db)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT kind, value FROM blacklist"))).all()
    finally:
        await engine.dispose()
    assert sorted((k, v) for k, v in rows) == [
        ("ip", "10.9.9.9"),
        ("ip", "192.0.2.1"),
        ("ip", "2001:db8::1"),
        ("ip", "fe80::1%eth0"),
        ("user", "::ffff:10.9.9.9"),
    ]


async def test_0014_rounds_hold_their_published_version(old_db: str) -> None:
    """Before 0014 nothing that decides an outcome changed after a start: every
    round of a published activity holds its published version, which becomes
    the first stored version; a draft's rounds hold none."""
    await asyncio.to_thread(upgrade, old_db, None, "0013")
    engine = create_async_engine(old_db)
    row = {
        "kind": "time", "timezone": "UTC", "start_date": AT.date(), "end_date": AT.date(),
        "status": "published", "created_at": AT, "updated_at": AT,
    }  # fmt: skip
    try:
        async with engine.begin() as conn:
            for aid, live in ((1, '{"live": 3}'), (2, None)):
                await conn.execute(
                    text(
                        "INSERT INTO activities (id, name, kind, timezone, start_date, end_date,"
                        " config, version, status, created_at, updated_at, published_at,"
                        " live_config, published_version) VALUES (:id, 'a', :kind, :timezone,"
                        " :start_date, :end_date, '{}', 4, :status, :created_at, :updated_at,"
                        " :published_at, :live, :pv)"
                    ),
                    {
                        **row,
                        "id": aid,
                        "published_at": AT if live else None,
                        "live": live,
                        "pv": 3 if live else None,
                    },
                )
                await conn.execute(
                    text(
                        "INSERT INTO rounds (id, activity_id, day, session_index, starts_at_ms,"
                        " ends_at_ms, seed, seed_hash) VALUES (:id, :aid, :day, 0, 1, 2, 's', 'h')"
                    ),
                    {"id": f"{aid}:20300102:0", "aid": aid, "day": AT.date()},
                )
        await asyncio.to_thread(upgrade, old_db)
        async with engine.connect() as conn:
            rounds = (await conn.execute(text("SELECT id, version FROM rounds"))).all()
            kept = (
                await conn.execute(
                    text("SELECT activity_id, version, config FROM activity_versions")
                )
            ).all()
    finally:
        await engine.dispose()
    assert sorted((i, v) for i, v in rounds) == [("1:20300102:0", 3), ("2:20300102:0", None)]
    assert [tuple(k) for k in kept] == [(1, 3, '{"live": 3}')]


async def test_0015_rounds_with_draw_rows_keep_writing_rows(old_db: str) -> None:
    """A round that already has draw rows when compact losses arrive stays in
    rows: a loss flushed before the upgrade and replayed after it is still
    found by its draw_id, never stored a second time in a block."""
    await asyncio.to_thread(upgrade, old_db, None, "0014")
    engine = create_async_engine(old_db)
    old, new = "9:20300102:0", "9:20300103:0"
    loss = DrawRecord(f"{old}:1", 9, old, 1, "u", 1, "", 0, False, None, "a" * 40, 1_000, "1000-0")
    try:
        async with engine.begin() as conn:
            await bulk.insert(conn, "draws", *old_row(loss))
    finally:
        await engine.dispose()
    await asyncio.to_thread(upgrade, old_db)
    db = Database(old_db, audit_key=AUDIT_KEY)
    try:
        later = loss._replace(draw_id=f"{old}:2", seq=2, nonce=2)
        elsewhere = loss._replace(draw_id=f"{new}:1", round_id=new)
        replayed = await db.draws.store([(loss, None), (later, None), (elsewhere, None)])
        assert (replayed.inserted, replayed.duplicates, replayed.collisions) == (2, 1, [])
        async with db.session() as s:
            rows = set(await s.scalars(select(DrawRow.draw_id)))
        assert rows == {f"{old}:1", f"{old}:2"}  # the new round's loss went to a block
        kept = [d.record for d in (await db.draws.round_draws(new)).draws]
        assert [(r.draw_id, r.user_id, r.nonce) for r in kept] == [(elsewhere.draw_id, "u", 1)]
        assert (await db.draws.round_ledger(old)).draws == 2
    finally:
        await db.close()


async def test_0016_sent_win_notifications_move_onto_their_rows(old_db: str) -> None:
    await asyncio.to_thread(upgrade, old_db, None, "0015")
    engine = create_async_engine(old_db)
    rid = "9:20300102:0"
    wins = [
        DrawRecord(f"{rid}:{n}", 9, rid, n, "w", n, "", 1, True, "c2", "b" * 40, 1_000 + n, "1-0")
        for n in (1, 2)
    ]
    payload = '{"draw_id": "%s", "prize": {"key": "c2"}}'
    try:
        async with engine.begin() as conn:
            for w in wins:
                await bulk.insert(conn, "draws", *old_row(w))
            for ref in (wins[0].draw_id, wins[1].draw_id, f"{rid}:3"):  # :3's row was deleted
                await conn.execute(
                    text(
                        "INSERT INTO notifications (user_id, kind, ref, payload, created_at)"
                        " VALUES ('w', 'prize_won', :ref, :p, :at)"
                    ),
                    {"ref": ref, "p": payload % ref, "at": AT},
                )
            await conn.execute(
                text(
                    "INSERT INTO notifications (user_id, kind, ref, payload, created_at)"
                    " VALUES ('w', 'lottery_result', '4', '{\"lottery_id\": 4}', :at)"
                ),
                {"at": AT},
            )
        await asyncio.to_thread(upgrade, old_db)
        async with engine.connect() as conn:
            left = (await conn.execute(text("SELECT kind, ref FROM notifications"))).all()
            got = await conn.execute(text("SELECT draw_id, notice FROM draws"))
            on_rows = {draw_id: notice for draw_id, notice in got}
    finally:
        await engine.dispose()
    assert sorted(tuple(x) for x in left) == [("lottery_result", "4"), ("prize_won", f"{rid}:3")]
    assert on_rows == {w.draw_id: payload % w.draw_id for w in wins}
    db = Database(old_db, audit_key=AUDIT_KEY)
    try:
        listed = await db.notices.of_user("w", limit=10, before=None)
        assert sorted((n.kind, n.ref) for n in listed) == sorted(
            [("lottery_result", "4"), ("prize_won", f"{rid}:3")]
            + [("prize_won", w.draw_id) for w in wins]
        )
    finally:
        await db.close()
