"""Round and draw ids (issue 29, item 7): built and read in one place, and
the same as lua/draw.lua makes them."""

from __future__ import annotations

import pytest

from app.domain import ids
from app.store.redis import keys
from app.store.redis.fakes import fake_client
from app.store.redis.replies import Drawn
from tests.helpers import prize, rain
from tests.scriptkit import load

pytestmark = pytest.mark.unit


def test_round_and_draw_ids_round_trip_and_refuse_what_is_not_one() -> None:
    rid = ids.round_id(12, "20300601:0")
    assert rid == "12:20300601:0" and ids.parse_round(rid) == (12, "20300601:0")
    assert ids.sfx_of(rid) == "20300601:0" and ids.activity_of(rid) == 12
    assert ids.parse_draw(ids.draw_id(rid, 7)) == (rid, 7)
    assert ids.scoped(12, "20300601:0") == rid and ids.scoped(12, rid) == rid
    for bad in ("", "12", "12:2030060:0", "x:20300601:0", "0:20300601:0", "12:20300601:a"):
        assert ids.parse_round(bad) is None, bad
    for bad in (rid, f"{rid}:0", f"{rid}:-1", f"{rid}:01", f"x:{rid}:1", f"{rid}:1e3"):
        assert ids.parse_draw(bad) is None, bad


async def test_the_draw_script_makes_ids_as_python_reads_them() -> None:
    loaded = await load(fake_client(), rain([prize("c2", 5, 1.0)]), activity_id=42)
    drawn = await loaded.draw("ann")
    assert isinstance(drawn, Drawn)
    ((_, fields),) = await loaded.redis.client.xrange(keys.stream(42, drawn.sfx))
    made = fields[b"d"].decode()
    assert ids.parse_draw(made) == (ids.round_id(42, drawn.sfx), drawn.seq)
    assert ids.parse_round(ids.round_id(42, drawn.sfx)) == (42, loaded.round.sfx)
    match = ids.DRAW_ID.match(made)
    assert match is not None and match[1] == loaded.round.round_id and int(match[2]) == 42
    await loaded.redis.close()
