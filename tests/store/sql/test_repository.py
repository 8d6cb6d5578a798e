"""The database layer on MariaDB and on SQLite: one repository per aggregate."""

from __future__ import annotations

import datetime as dt

import pytest

from app.domain.activity import parse_config
from app.domain.errors import NotFound
from app.domain.lotteries import CANCELED, OPEN, NoLongerOpen, NotDeletable
from app.domain.schedule import plan_rounds
from app.store.sql.database import Database
from tests.helpers import prize, rain

NOW = dt.datetime(2030, 6, 1, 2, 0, 7)


async def test_activity_lifecycle(database: Database) -> None:
    cfg = parse_config(rain([prize("a", 5, 0.5), prize("b", 2, 0.1)], name="lifecycle"))
    rec = await database.activities.create(cfg, now=NOW)
    assert rec.version == 1 and rec.status == "draft" and rec.config == cfg
    assert rec.created_at == NOW  # the caller's clock (with its offset), not the system's
    assert (await database.activities.get(rec.id)) == rec
    assert rec.id in [r.id for r in await database.activities.latest(limit=1000)]
    new = parse_config(rain([prize("a", 7, 0.5)], name="renamed"))
    rec2 = await database.activities.replace(rec.id, new, now=NOW)
    assert rec2.version == 2 and rec2.config.name == "renamed"
    assert await database.activities.mark_published(rec.id, 2, new, now=NOW)
    got = await database.activities.get(rec.id)
    assert got is not None and got.status == "published" and got.published_at == NOW
    assert got.published_version == 2 and got.live == new
    # A later version waits; what players draw against stays.
    rec3 = await database.activities.replace(rec.id, cfg, now=NOW)
    assert (rec3.version, rec3.published_version, rec3.live, rec3.config) == (3, 2, new, cfg)
    assert await database.activities.get(10**12) is None
    with pytest.raises(NotFound) as err:
        await database.activities.replace(10**12, new, now=NOW)
    assert err.value.code == "activity_not_found"


async def test_round_seeds_are_created_once(database: Database) -> None:
    cfg = parse_config(rain(sessions=[("10:00:00", "10:01:00"), ("12:00:00", "12:01:00")]))
    rec = await database.activities.create(cfg, now=NOW)
    rounds = plan_rounds(rec.id, cfg)
    first = await database.activities.ensure_rounds(rec.id, rounds)
    again = await database.activities.ensure_rounds(rec.id, rounds)
    assert first == again and len(first) == 2
    assert len({seed for seed, _ in first.values()}) == 2
    stored = await database.activities.get_round(rounds[0].round_id)
    assert stored is not None and (stored.seed, stored.seed_hash) == first[rounds[0].sfx]
    await database.activities.drop_rounds(rec.id, [rounds[1].sfx])
    assert await database.activities.get_round(rounds[1].round_id) is None


async def test_lottery_changes_are_typed_refusals(database: Database) -> None:
    """A join after the lottery closed, or deleting one with participants, is
    refused with the domain's errors, not a bare exception."""
    draw_at = NOW + dt.timedelta(minutes=10)
    rec = await database.lotteries.create("carol", "party", draw_at, "cake", 1, now=NOW)
    assert rec.status == OPEN
    until = draw_at - dt.timedelta(minutes=1)
    assert await database.lotteries.join(rec.id, "dan", now=NOW, open_until=until)
    assert not await database.lotteries.join(rec.id, "dan", now=NOW, open_until=until)
    with pytest.raises(NoLongerOpen):
        await database.lotteries.join(rec.id, "eve", now=until, open_until=until)
    with pytest.raises(NotDeletable):
        await database.lotteries.delete(rec.id)
    assert await database.lotteries.move(rec.id, OPEN, CANCELED, now=NOW)
    assert not await database.lotteries.move(rec.id, OPEN, CANCELED, now=NOW)
    assert await database.lotteries.delete(rec.id)
    assert await database.lotteries.get(rec.id) is None


async def test_duplicates_are_told_apart(database: Database) -> None:
    """The unique keys the repositories rely on: a grant's reference, a
    blacklist entry."""
    _, created = await database.grants.create("g-one", 1, "u1", 5, "ref-dup", now=NOW)
    assert created
    again, created = await database.grants.create("g-two", 1, "u1", 5, "ref-dup", now=NOW)
    assert not created and again.id == "g-one"
    assert await database.guard.blacklist_add("user", "spam-dup", "bot", now=NOW)
    assert not await database.guard.blacklist_add("user", "spam-dup", "bot", now=NOW)
    assert await database.guard.blacklist_remove("user", "spam-dup")
    assert not await database.guard.blacklist_remove("user", "spam-dup")
