"""Round streams (the ledger in Redis) as the flush worker and reconcile read
them: the ``flush`` consumer group, claiming, trimming, retiring, and the
round counters reconcile compares with the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, NamedTuple

from redis import exceptions as rexc

from app.domain.ids import round_id as round_id_of
from app.domain.types import ActivityId, DrawRecord, RoundPlan
from app.store.redis import keys, ledger
from app.store.redis.connection import RedisConnection, text, translated

GROUP = "flush"  # the consumer group the worker reads round streams with
LAG_COUNTED = 100_000  # entries counted at most when Redis cannot give a group's lag


class Entry(NamedTuple):
    """One stream entry delivered to this consumer (a named tuple: one per
    draw in the flush worker, where a frozen dataclass costs more to build).

    The flush worker's read parses whole streams at once: its entries come
    with their ``record`` and no ``fields`` (:func:`fields_of` gives them)."""

    activity_id: ActivityId
    sfx: str
    id: str
    fields: dict[str, str] | None
    record: DrawRecord | None = None


def fields_of(e: Entry) -> dict[str, str]:
    if e.fields is not None:
        return e.fields
    return ledger.fields_of(e.record) if e.record is not None else {}


_entry = partial(tuple.__new__, Entry)  # Entry(*t) without a Python call


@dataclass(frozen=True, slots=True)
class StreamState:
    length: int
    undelivered: int  # entries no consumer of the flush group has received yet
    pending: int  # delivered to the flush group, not acknowledged
    trim_below: str | None  # every group has acknowledged all entries below this id


def stream_key(activity_id: ActivityId, name: str) -> str:
    """The stream key of a lane (``sfx`` or ``sfx@bucket``, :func:`keys.lane`)."""
    sfx, b = keys.parse_lane(name)
    return keys.stream(activity_id, sfx, b)


def next_id(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _entries(activity_id: ActivityId, sfx: str, raw: Any) -> list[Entry]:
    """Entries from redis-py's parsed reply: ``[(id, {field: value}), …]``."""
    return [
        Entry(activity_id, sfx, text(eid), {text(k): text(v) for k, v in fields.items()})
        for eid, fields in raw
        if fields is not None
    ]


_decode = bytes.decode


def _raw_entries(activity_id: ActivityId, sfx: str, raw: Any) -> list[Entry]:
    """Entries from the reply as Redis sends it: ``[[id, [field, value, …]], …]``.

    The flush worker's read: pairing and decoding in C (``dict(zip(it, it))``
    takes consecutive items) instead of redis-py's reply callbacks and a
    comprehension, 6 µs less per entry (docs/performance.md, issue 16).
    Since issue 26 a read whose entries are all as lua/draw.lua writes them
    is parsed column by column (:func:`ledger.parse_stream`); otherwise entry
    by entry, each with its fields, decoded in one call (joined on NUL, split
    again; a value holding a NUL splits into more parts than there were: that
    entry is decoded item by item)."""
    ids = [eid.decode() for eid, _ in raw]
    if all(flat is not None for _, flat in raw):
        items = list(chain.from_iterable(map(itemgetter(1), raw)))
        sfx_base = keys.parse_lane(sfx)[0]
        records = ledger.parse_stream(round_id_of(activity_id, sfx_base), ids, items)
        if records is not None:
            n = len(ids)
            return list(
                map(_entry, zip(repeat(activity_id, n), repeat(sfx), ids, repeat(None), records))
            )
    out: list[Entry] = []
    for eid, flat in raw:
        if flat is not None:
            parts = b"\0".join(flat).decode().split("\0")
            it = iter(parts) if len(parts) == len(flat) else map(_decode, flat)
            out.append(Entry(activity_id, sfx, eid.decode(), dict(zip(it, it, strict=True))))
    return out


class Streams:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    @property
    def _client(self) -> Any:
        return self.conn.client

    async def flushed_rounds(self, activity_id: ActivityId) -> set[str]:
        async with translated():
            return {text(v) for v in await self._client.smembers(keys.flushed(activity_id))}

    async def retire(self, activity_id: ActivityId, sfx: str) -> None:
        """A finished round whose stream every group acknowledged and that is empty:
        remember it as flushed, then drop the stream and its failure counters."""
        client = self._client
        async with translated():
            await client.sadd(keys.flushed(activity_id), sfx)
            await client.delete(stream_key(activity_id, sfx))
            stale = [
                field
                async for field, _ in client.hscan_iter(
                    keys.failures(activity_id), match=f"{sfx}|*"
                )
            ]
            if stale:
                await client.hdel(keys.failures(activity_id), *stale)

    async def ensure_group(self, activity_id: ActivityId, sfx: str) -> None:
        """The flush group on a round stream, reading from its very first entry."""
        async with translated():
            try:
                await self._client.xgroup_create(
                    stream_key(activity_id, sfx), GROUP, id="0", mkstream=True
                )
            except rexc.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def read_new(
        self, activity_id: ActivityId, sfxs: Sequence[str], consumer: str, count: int
    ) -> list[Entry]:
        """Entries never delivered to the group, from several streams of one activity
        (one slot, so one call even on a cluster)."""
        by_key = {stream_key(activity_id, sfx): sfx for sfx in sfxs}
        per_stream = max(1, count // max(1, len(by_key)))  # COUNT applies to each stream
        # One call per slot: a bucket's streams share one, the buckets do not.
        by_slot: dict[str, list[str]] = {}
        for key, sfx in by_key.items():
            by_slot.setdefault(str(keys.parse_lane(sfx)[1]), []).append(key)
        out: list[Entry] = []
        fast = self.conn.fast
        async with translated():
            for group in by_slot.values():
                res = await fast.execute(
                    "XREADGROUP", "GROUP", GROUP, consumer, "COUNT", per_stream, "STREAMS",
                    *group, *[">"] * len(group), key=group[0],
                )  # fmt: skip
                for stream, raw in res or ():
                    out += _raw_entries(activity_id, by_key[text(stream)], raw)
        return out

    async def ack(self, activity_id: ActivityId, sfx: str, ids: Sequence[str]) -> None:
        """Acknowledge ``ids``; through the pipelining transport when there is
        one: hiredis packs a batch's ids in C, a tenth of redis-py's encoder
        per id (docs/performance.md, issue 26)."""
        if ids:
            key = stream_key(activity_id, sfx)
            async with translated():
                await self.conn.fast.execute("XACK", key, GROUP, *ids, key=key)

    async def claim(
        self, activity_id: ActivityId, sfx: str, consumer: str, min_idle_ms: int, count: int
    ) -> tuple[list[Entry], list[str]]:
        """Take over entries other consumers (or this one) left pending for
        ``min_idle_ms``. Also returns ids still pending but deleted from the stream:
        those draws can no longer be flushed from Redis."""
        stream = stream_key(activity_id, sfx)
        entries: list[Entry] = []
        deleted: list[str] = []
        start = "0-0"
        async with translated():
            while len(entries) < count:
                res = await self._client.xautoclaim(
                    stream, GROUP, consumer, min_idle_ms, start, count=count - len(entries)
                )
                start = text(res[0])
                entries += _entries(activity_id, sfx, res[1])
                if len(res) > 2:
                    deleted += [text(v) for v in res[2]]
                if start == "0-0":
                    break
        return entries, deleted

    async def state(self, activity_id: ActivityId, sfx: str) -> StreamState:
        """Length, undelivered and pending entries, and where a trim may cut.
        Undelivered comes from XINFO's ``lag`` (Redis 7); where Redis cannot
        compute it (deletions past the group's position) it is counted, up to
        ``LAG_COUNTED``."""
        stream = stream_key(activity_id, sfx)
        client = self._client
        async with translated():
            # One round trip for what a stream's state needs (the worker's
            # upkeep asks every open round's streams every few seconds): the
            # stream, its groups and the flush group's pending summary.
            pipe = client.pipeline(transaction=False)
            pipe.xinfo_stream(stream)
            pipe.xinfo_groups(stream)
            pipe.xpending(stream, GROUP)
            info, groups, flush_pending = await pipe.execute(raise_on_error=False)
            if isinstance(info, rexc.ResponseError):  # no such key
                return StreamState(0, 0, 0, None)
            if isinstance(groups, Exception):
                raise groups
            last = text(info["last-generated-id"])
            trim: tuple[int, int] | None = None
            # Without the flush group (no worker has seen this stream yet) every
            # entry is still to be delivered.
            undelivered, pending = int(info["length"]), 0
            for g in groups:
                delivered = text(g["last-delivered-id"])
                point = id_key(next_id(delivered))
                if int(g["pending"]):
                    summary = (
                        flush_pending
                        if text(g["name"]) == GROUP and isinstance(flush_pending, dict)
                        else await client.xpending(stream, g["name"])
                    )
                    if summary["min"] is not None:  # else acknowledged meanwhile
                        point = min(point, id_key(text(summary["min"])))
                trim = point if trim is None else min(trim, point)
                if text(g["name"]) == GROUP:
                    pending, undelivered = int(g["pending"]), 0
                    if id_key(last) > id_key(delivered):
                        lag = g.get("lag")
                        if lag is None:  # not computable after deletions: count them,
                            # at most LAG_COUNTED (a lag that large alerts either way)
                            rest = await client.xrange(
                                stream, f"({delivered}", "+", count=LAG_COUNTED
                            )
                            lag = len(rest)
                        undelivered = int(lag)
        return StreamState(
            length=int(info["length"]),
            undelivered=undelivered,
            pending=pending,
            trim_below=None if trim is None else f"{trim[0]}-{trim[1]}",
        )

    async def round_state(self, activity_id: ActivityId, sfx: str, buckets: int) -> StreamState:
        """A round's streams, every bucket's added up (no trim point: that is
        per stream)."""
        states = [
            await self.state(activity_id, keys.lane(sfx, keys.bucket(b, buckets)))
            for b in range(buckets)
        ]
        return StreamState(
            sum(s.length for s in states),
            sum(s.undelivered for s in states),
            sum(s.pending for s in states),
            None,
        )

    async def trim(self, activity_id: ActivityId, sfx: str, below: str) -> int:
        """Delete entries with ids below ``below``; returns how many."""
        async with translated():
            return int(
                await self._client.xtrim(
                    stream_key(activity_id, sfx), minid=below, approximate=False
                )
            )

    async def count_failure(self, activity_id: ActivityId, sfx: str, entry_id: str) -> int:
        async with translated():
            return int(
                await self._client.hincrby(keys.failures(activity_id), f"{sfx}|{entry_id}", 1)
            )

    async def clear_failures(self, activity_id: ActivityId, sfx: str, ids: Sequence[str]) -> None:
        if ids:
            async with translated():
                await self._client.hdel(keys.failures(activity_id), *[f"{sfx}|{i}" for i in ids])

    async def entries(self, activity_id: ActivityId, sfx: str) -> list[Entry]:
        """Every entry still in a round's stream (reconcile --repair)."""
        stream = stream_key(activity_id, sfx)
        out: list[Entry] = []
        start = "-"
        async with translated():
            while True:
                raw = await self._client.xrange(stream, start, "+", count=5000)
                out += _entries(activity_id, sfx, raw)
                if len(raw) < 5000:
                    return out
                start = f"({text(raw[-1][0])}"

    # -- the counters reconcile compares --------------------------------------

    async def round_counters(
        self, round_: RoundPlan, b: keys.Bucket = None
    ) -> tuple[int, int, dict[str, int]] | None:
        """``(draws, users, wins by prize key)`` as bucket ``b`` counts them, or None."""
        rk = keys.round_(round_.activity_id, round_.sfx, b)
        fields = ["draws"] + [f"w{p.index}" for p in round_.prizes]
        async with translated():
            vals = await self._client.hmget(rk, fields)
            users = await self._client.hlen(keys.round_users(round_.activity_id, round_.sfx, b))
        if vals[0] is None:
            return None
        wins = {p.key: int(v or 0) for p, v in zip(round_.prizes, vals[1:], strict=True)}
        return int(vals[0]), int(users), wins

    async def round_user_counts(self, round_: RoundPlan, b: keys.Bucket = None) -> dict[str, int]:
        out: dict[str, int] = {}
        async with translated():
            async for user, n in self._client.hscan_iter(
                keys.round_users(round_.activity_id, round_.sfx, b), count=5000
            ):
                out[text(user)] = int(n)
        return out
