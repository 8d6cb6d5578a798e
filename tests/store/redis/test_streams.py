"""The flush worker's stream read, both ways: raw through the transport (as
`redrain worker` reads) and through redis-py (the embedded mode), on real
Redis: the same entries, whatever the fields hold."""

from __future__ import annotations

import pytest

from app.store.redis import keys, ledger
from app.store.redis.store import RedisStore
from app.store.redis.streams import GROUP, fields_of
from app.store.redis.transport import RedisTransport
from tests.conftest import real_redis
from tests.helpers import REDIS_URL

pytestmark = pytest.mark.integration

AID, SFX = 7, "20300601:0"


def entry(seq: int, **extra: str) -> dict[str, str]:
    return {
        "d": f"{AID}:{SFX}:{seq}",
        "u": f"user-{seq}",
        "n": "1",
        "c": "",
        "p": "0",
        "k": "",
        "w": "0",
        "x": f"{seq:040x}",
        "t": "1906000000000",
        "o": "1",
        "g": "",
        **extra,
    }


async def test_the_transport_and_redis_py_read_the_same_entries() -> None:
    client = await real_redis()
    fast = RedisTransport(REDIS_URL, timeout=5)
    try:
        stream = keys.stream(AID, SFX)
        written = [
            entry(1),
            entry(2, c="种子, with commas|and bars", u="Ünïcode-user"),
            entry(3, p="1", k="c2", w="1", g="grant-9"),
            {"d": "garbage", "u": "x"},  # malformed: parsed by the worker, not here
            {k: v for k, v in entry(5).items() if k not in "og"},  # written before pools
        ]
        for fields in written:
            await client.xadd(stream, fields)
        await client.xgroup_create(stream, GROUP, "0")
        plain = RedisStore(client, offset_ms=0, idempotency_ttl=60)
        piped = RedisStore(client, offset_ms=0, idempotency_ttl=60, fast=fast)

        by_redis_py = await plain.streams.read_new(AID, [SFX], "a", 10)
        await client.xgroup_setid(stream, GROUP, "0")  # deliver them all again
        by_transport = await piped.streams.read_new(AID, [SFX], "b", 10)

        assert by_transport == by_redis_py
        assert [e.fields for e in by_transport] == written
        assert {(e.activity_id, e.sfx) for e in by_transport} == {(AID, SFX)}
        records = [ledger.parse(e.id, e.fields) for e in by_transport[:3]]
        assert records[1].client_seed == "种子, with commas|and bars"
        assert records[2].won and records[2].prize_key == "c2" and records[2].grant_id == "grant-9"
        assert (records[0].activity_id, records[0].round_id, records[0].seq) == (AID, f"7:{SFX}", 1)
        assert ledger.parse(by_transport[4].id, by_transport[4].fields).pool == 1
    finally:
        await fast.aclose()
        await client.flushdb()
        await client.aclose()


ODD = {
    "a leading zero": {"d": f"{AID}:{SFX}:07"},
    "another round's draw": {"d": f"{AID}:20300602:0:7"},
    "a NUL in a value": {"u": "nul\0user"},
    "a coded win": {"p": "1", "k": "c2", "w": "1", "q": "CODE-1"},
    "a win without a prize key": {"w": "1"},
    "a short random": {"x": "ab"},
    "a nonce that is not a number": {"n": "one"},
    "fields in another order": {"d": f"{AID}:{SFX}:7", "u": "user-7"},  # re-inserted below
}


@pytest.mark.parametrize("odd", list(ODD))
async def test_a_whole_read_parses_at_once_or_entry_by_entry(odd: str) -> None:
    # The worker's read parses a stream's entries by column when every entry
    # is as lua/draw.lua writes it (no fields kept: fields_of rebuilds them);
    # one odd entry sends the whole read entry by entry, with the same records.
    client = await real_redis()
    fast = RedisTransport(REDIS_URL, timeout=5)
    try:
        stream = keys.stream(AID, SFX)
        written = [entry(n) for n in range(1, 7)]
        written[2] = entry(3, p="2", k="c5", w="1", g="grant-3", c="种子")
        for fields in written:
            await client.xadd(stream, fields)
        await client.xgroup_create(stream, GROUP, "0")
        piped = RedisStore(client, offset_ms=0, idempotency_ttl=60, fast=fast)
        plain = RedisStore(client, offset_ms=0, idempotency_ttl=60)
        got = await piped.streams.read_new(AID, [SFX], "a", 10)
        assert all(e.fields is None and e.record is not None for e in got)
        assert [fields_of(e) for e in got] == written
        assert [e.record for e in got] == [
            ledger.parse(e.id, w) for e, w in zip(got, written, strict=True)
        ]

        odd_fields = {**entry(7), **ODD[odd]}
        if odd == "fields in another order":
            odd_fields = dict(reversed(list(entry(7).items())))
        await client.xadd(stream, odd_fields)
        more = await piped.streams.read_new(AID, [SFX], "a", 10)
        await client.xgroup_setid(stream, GROUP, "0")
        again = await piped.streams.read_new(AID, [SFX], "b", 10)
        assert [e.fields for e in again] == [*written, odd_fields]
        assert all(e.record is None for e in again)
        await client.xgroup_setid(stream, GROUP, "0")
        assert again == await plain.streams.read_new(AID, [SFX], "c", 10)  # as redis-py reads
        assert [ledger.parse(e.id, fields_of(e)) for e in again[:6]] == [e.record for e in got]
        assert [e.id for e in more] == [again[6].id]  # read alone, it is odd too
        assert more[0].record is None and more[0].fields == odd_fields
    finally:
        await fast.aclose()
        await client.flushdb()
        await client.aclose()
