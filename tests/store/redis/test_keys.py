"""Bucket tags are spread over the slot space (app/store/redis/keys.py)."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from app.store.redis import keys


@pytest.mark.parametrize("k", [2, 3, 4, 7, 64])
def test_bucket_b_lands_in_the_b_th_kth_of_the_slots(k: int) -> None:
    for aid in (1, 42, 98765):
        slots = [
            key_slot(keys.round_(aid, "20300601:0", keys.bucket(b, k)).encode()) for b in range(k)
        ]
        assert [s * k // 16384 for s in slots] == list(range(k))
        # Every key of one bucket shares its slot (one script call, one slot).
        space = keys.bucket(k - 1, k)
        assert {
            key_slot(name.encode())
            for name in (
                keys.cfg(aid, space),
                keys.stream(aid, "x", space),
                keys.grant(aid, "g", space),
            )
        } == {slots[-1]}


def test_one_bucket_keeps_the_plain_tag_and_lanes_round_trip() -> None:
    assert keys.bucket(0, 1) is None
    assert keys.round_(7, "20300601:0") == "{rd:7}:r:20300601:0"
    for b in (None, (2, 3)):
        assert keys.parse_lane(keys.lane("20300601:0", b)) == ("20300601:0", b)
