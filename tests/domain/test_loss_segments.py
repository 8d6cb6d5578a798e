"""The compact losses' segments (app/domain/losses.py): format 2 round-trips a
rain in fewer bytes than format 1, format 1 segments written before it still
decode (alone and followed by format 2 in one payload), and any changed byte
of a segment is refused."""

from __future__ import annotations

import struct
import zlib

import orjson
import pytest

from app.domain import losses
from app.domain.errors import MalformedEntry
from app.domain.types import DrawRecord
from tests.store.sql.test_losses import SEED, rain

pytestmark = pytest.mark.unit


def segment_v1(records: list[DrawRecord]) -> bytes:
    """A segment as format 1 wrote it (one list per loss, 8 bytes kept): what
    databases upgraded from the first compact release hold."""
    users: dict[str, int] = {}
    seeds: dict[str, int] = {}
    out, prev = [], 0
    for r in records:
        ms, _, n = r.stream_id.partition("-")
        user = users.setdefault(r.user_id, len(users))
        seed = seeds.setdefault(r.client_seed, len(seeds))
        at = r.drawn_at_ms
        out.append([r.seq, user, r.nonce, seed, r.pick, at - prev, int(ms) - at, int(n), r.pool])
        prev = at
    randoms = bytes.fromhex("".join(r.random[:16] for r in records))
    doc = {"v": 1, "u": list(users), "c": list(seeds), "d": out, "x": zlib.crc32(randoms)}
    body = zlib.compress(orjson.dumps(doc), 1)
    return struct.pack(">II", len(body), len(records)) + body + randoms


def plain_losses(n: int, seed: int) -> list[DrawRecord]:
    return [r for r in rain(9, "20300601", n=n, users=50, buckets=1, seed=seed) if not r.won]


def test_format_2_round_trips_and_restores_the_random_values() -> None:
    records = plain_losses(3000, 1)
    got = losses.decode(losses.segment_of(records))
    assert sorted(got) == [r.seq for r in records]
    keys: dict[tuple[str, str], str] = {}
    for r in records:
        kept = got[r.seq]
        assert kept[5] == r.random[: 2 * losses.KEPT]
        assert losses.same_loss(kept, r)
        assert losses.restored(kept, SEED, keys) == losses.loss_of(r)
    # A loss that differs in its kept random bytes is another draw.
    other = records[0]._replace(random="f" * 40)
    assert not losses.same_loss(got[other.seq], other)


def test_format_2_takes_fewer_bytes_than_format_1() -> None:
    records = plain_losses(3000, 2)
    v1, v2 = len(segment_v1(records)), len(losses.segment_of(records))
    # Measured: about 0.45 (4 bytes kept of 8, columns of differences that zlib folds).
    assert v2 < 0.6 * v1, (v1, v2)


def test_format_1_payloads_still_decode_and_take_format_2_appends() -> None:
    records = plain_losses(2000, 3)
    old, new = records[: len(records) // 2], records[len(records) // 2 :]
    payload = segment_v1(old) + losses.segment_of(new)
    got = losses.decode(payload)
    assert sorted(got) == [r.seq for r in records]
    assert all(got[r.seq][5] == r.random[:16] for r in old)
    assert all(got[r.seq][5] == r.random[:8] for r in new)
    assert all(losses.same_loss(got[r.seq], r) for r in records)
    keys: dict[tuple[str, str], str] = {}
    assert all(losses.restored(got[r.seq], SEED, keys) == losses.loss_of(r) for r in records)
    # A block rewritten whole (a merge) writes format 2 from what format 1 kept.
    again = losses.decode(losses.segment([got[s] for s in sorted(got)]))
    assert all(again[r.seq][5] == r.random[:8] for r in records)


def test_any_changed_byte_of_a_segment_is_refused() -> None:
    records = plain_losses(60, 4)
    good = losses.segment_of(records)
    assert losses.decode(good)
    for i in range(len(good)):
        for flip in (0x01, 0x80):
            bad = bytearray(good)
            bad[i] ^= flip
            with pytest.raises(MalformedEntry):
                losses.decode(bytes(bad))
