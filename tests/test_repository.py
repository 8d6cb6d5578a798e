"""The database layer on MariaDB and on SQLite."""

from __future__ import annotations

import pytest

from app.activity import parse_config
from app.repository import Database
from app.schedule import plan_rounds
from tests.helpers import prize, rain

pytestmark = pytest.mark.integration


async def test_activity_lifecycle(database: Database) -> None:
    cfg = parse_config(rain([prize("a", 5, 0.5), prize("b", 2, 0.1)], name="lifecycle"))
    rec = await database.create_activity(cfg)
    assert rec.version == 1 and rec.status == "draft" and rec.config == cfg
    assert (await database.get_activity(rec.id)) == rec
    assert rec.id in [r.id for r in await database.list_activities(limit=1000)]
    new = parse_config(rain([prize("a", 7, 0.5)], name="renamed"))
    rec2 = await database.replace_activity(rec.id, new)
    assert rec2.version == 2 and rec2.config.name == "renamed"
    await database.mark_published(rec.id)
    got = await database.get_activity(rec.id)
    assert got is not None and got.status == "published" and got.published_at is not None
    assert await database.get_activity(10**12) is None


async def test_round_seeds_are_created_once(database: Database) -> None:
    cfg = parse_config(rain(sessions=[("10:00:00", "10:01:00"), ("12:00:00", "12:01:00")]))
    rec = await database.create_activity(cfg)
    rounds = plan_rounds(rec.id, cfg)
    first = await database.ensure_rounds(rec.id, rounds)
    again = await database.ensure_rounds(rec.id, rounds)
    assert first == again and len(first) == 2
    assert len({seed for seed, _ in first.values()}) == 2
    stored = await database.get_round(rounds[0].round_id)
    assert stored is not None and (stored.seed, stored.seed_hash) == first[rounds[0].sfx]
    await database.drop_rounds(rec.id, [rounds[1].sfx])
    assert await database.get_round(rounds[1].round_id) is None
