"""Compact loss records: how the ledger keeps the draws that won nothing. Pure.

In a rain almost every tap loses; one database row per loss would size the
database, the flush and the disk by taps (SPEC §5, docs/worker.md). A plain
loss (no prize, no grant) is kept instead in a **block**: the losses of one
round's lane (its bucket, SPEC §9) whose draw numbers fall in one range of
:data:`BLOCK` draws of that lane. The key follows from the draw alone
(:func:`block_of`), so a batch replayed after a crash lands in the block that
already holds it.

A block has two bitmaps over its range — the draws it keeps as losses and the
draws that are rows of ``draws`` (wins, draws that spent a grant) — and a
payload of **segments**, one per batch that added losses: sizes, a CRC-32,
zlib over JSON columns, the kept bytes of the random values. A batch whose
draws are all new to the block appends a segment and sets bits, never
reading or rewriting what is there (:func:`fresh`); a batch that meets a
bit already set (a replay, a second worker, a reused id) is merged against
the decoded content (:func:`merge`): the same draw is a duplicate, another
draw under its number a collision.

The CRC makes a changed byte of a segment fail to decode (format 1, written
before it, had zlib's Adler-32 and a CRC of the random values only), the
framing must add up, and the decoded losses must be exactly the loss bitmap:
:func:`decode` raises :class:`MalformedEntry` otherwise.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.domain import fairness
from app.domain.errors import MalformedEntry
from app.domain.types import ActivityId, DrawRecord

BLOCK = 1000  # draws of one lane per block: rows ≈ N / BLOCK for N losses
MAP_BYTES = BLOCK // 8
FORMAT = 2  # segments written now; format 1 (row-wise, 8 bytes kept) is still read
LEVEL = 1  # zlib: level 6 costs 3× the CPU for 5% fewer bytes (docs/worker.md)
KEPT = 4  # bytes of each random value kept: the rest follows from the seed
_KEPT_V1 = 8
_FRAME = struct.Struct(">II")  # compressed size, draws
# Format 2 marks its size and follows the header with a CRC-32 of the whole
# segment: deflate has bits that no output depends on, so zlib's own
# checksum misses some changed bytes; the CRC does not.
_CHECKED = 0x8000_0000
_CRC = struct.Struct(">I")

# One loss, as a block keeps it: (seq, user_id, nonce, client_seed, pick,
# random, drawn_at_ms, stream_id, pool). Round and activity come from the block.
Loss = tuple[int, str, int, str, int, str, int, str, int]


def compact(rec: DrawRecord) -> bool:
    """Whether a draw is kept in a block: a loss that spent no grant."""
    return not rec.won and rec.grant_id is None and rec.code is None


def block_of(seq: int, buckets: int) -> tuple[int, int]:
    """``(lane, block)`` of draw ``seq`` of a round with ``buckets`` lanes.

    Lane b numbers its draws b+1, b+1+K, … (lua/draw.lua), so its j-th draw is
    in block j // BLOCK: a lane's blocks are full whatever the other lanes do.
    """
    j, lane = divmod(seq - 1, buckets)
    return lane, j // BLOCK


def bit_of(seq: int, buckets: int) -> int:
    """Draw ``seq``'s place in its block's bitmaps."""
    return (seq - 1) // buckets % BLOCK


def empty_map() -> bytearray:
    return bytearray(MAP_BYTES)


def has(bits: bytes | bytearray, i: int) -> bool:
    return bool(bits[i >> 3] & (1 << (i & 7)))


def put(bits: bytearray, i: int) -> None:
    bits[i >> 3] |= 1 << (i & 7)


def drop(bits: bytearray, i: int) -> None:
    bits[i >> 3] &= ~(1 << (i & 7)) & 0xFF


def count(bits: bytes | bytearray) -> int:
    return int.from_bytes(bits, "little").bit_count()


def loss_of(rec: DrawRecord) -> Loss:
    return (
        rec.seq,
        rec.user_id,
        rec.nonce,
        rec.client_seed,
        rec.pick,
        rec.random,
        rec.drawn_at_ms,
        rec.stream_id,
        rec.pool,
    )


def record_of(loss: Loss, activity_id: ActivityId, round_id: str) -> DrawRecord:
    seq, user, nonce, cseed, pick, random, at, sid, pool = loss
    return DrawRecord(
        f"{round_id}:{seq}",
        activity_id,
        round_id,
        seq,
        user,
        nonce,
        cseed,
        pick,
        False,
        None,
        random,
        at,
        sid,
        pool,
    )


def segment(losses: Sequence[Loss]) -> bytes:
    """One framed segment of losses (a block rewritten whole)."""
    return segment_of([record_of(x, 0, "") for x in losses])


def decode(data: bytes) -> dict[int, Loss]:
    """Every loss of a payload by draw number; :class:`MalformedEntry` names
    what is wrong (a changed byte, a cut segment, a draw twice)."""
    losses: dict[int, Loss] = {}
    at_ = 0
    while at_ < len(data):
        start = at_
        if at_ + _FRAME.size > len(data):
            raise MalformedEntry("the payload ends inside a segment's header")
        size, n = _FRAME.unpack_from(data, at_)
        at_ += _FRAME.size
        version, kept, crc = 1, _KEPT_V1, None
        if size & _CHECKED:
            if at_ + _CRC.size > len(data):
                raise MalformedEntry("the payload ends inside a segment's header")
            version, kept, size = 2, KEPT, size & ~_CHECKED
            (crc,) = _CRC.unpack_from(data, at_)
            at_ += _CRC.size
        body, randoms = data[at_ : at_ + size], data[at_ + size : at_ + size + kept * n]
        if len(body) != size or len(randoms) != kept * n:
            raise MalformedEntry("the payload ends inside a segment")
        at_ += size + kept * n
        if crc is not None and crc != zlib.crc32(
            randoms, zlib.crc32(body, zlib.crc32(data[start : start + _FRAME.size]))
        ):
            raise MalformedEntry("a segment does not match its checksum")
        try:
            doc = orjson.loads(zlib.decompress(body))
            if doc.get("v") != version:
                raise MalformedEntry(f"unknown format {doc.get('v')!r}")
            if version == 1 and doc["x"] != zlib.crc32(randoms):
                raise MalformedEntry("a segment's random values do not match its checksum")
            users, seeds = doc["u"], doc["c"]
            rows = list(_rows_v1(doc) if version == 1 else _rows_v2(doc))
            if len(rows) != n or (version == 2 and any(len(c) != n for c in doc["d"])):
                raise MalformedEntry("a segment's draws do not add up")
            for i, (seq, ui, nonce, ci, pick, at, dms, sn, pool) in enumerate(rows):
                if seq in losses:
                    raise MalformedEntry(f"draw {seq} is kept twice")
                losses[seq] = (
                    seq,
                    users[ui],
                    nonce,
                    seeds[ci],
                    pick,
                    randoms[kept * i : kept * i + kept].hex(),
                    at,
                    f"{at + dms}-{sn}",
                    pool,
                )
        except zlib.error as exc:
            raise MalformedEntry(f"a segment does not decompress ({exc})") from exc
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, MalformedEntry):
                raise
            raise MalformedEntry(f"a segment is not a block's ({exc})") from exc
    return losses


@dataclass
class Block:
    """One block: its bitmaps (always read) and its losses (decoded when a
    batch needs to compare, or a reader asks)."""

    buckets: int = 1
    lost: bytearray = field(default_factory=empty_map)
    rows: bytearray = field(default_factory=empty_map)
    losses: dict[int, Loss] | None = None

    def sorted(self) -> list[Loss]:
        held = self.losses or {}
        return [held[s] for s in sorted(held)]

    def check(self) -> None:
        """That the decoded losses are exactly the loss bitmap."""
        held = self.losses or {}
        if len(held) != count(self.lost) or any(
            not has(self.lost, bit_of(s, self.buckets)) for s in held
        ):
            raise MalformedEntry("the payload and the block's loss map disagree")


@dataclass
class Merged:
    """What a batch did to one block."""

    added: list[DrawRecord] = field(default_factory=list)
    duplicates: int = 0
    collisions: list[tuple[DrawRecord, DrawRecord]] = field(default_factory=list)
    rows: list[DrawRecord] = field(default_factory=list)  # row draws to insert
    append: bytes = b""  # a segment to add to the payload
    rewrite: bool = False  # the payload is rewritten from ``losses``
    changed: bool = False


def fresh(block: Block, losses: Sequence[DrawRecord], rows: Iterable[DrawRecord]) -> Merged | None:
    """The common case: no draw of the batch is in the block yet. Sets the
    bits and returns the segment to append; None when some draw's bit is
    already set (then :func:`merge` compares against the content).

    The flush's hot loop: the bitmaps as Python integers, arithmetic inline
    (no call per draw), the segment built from the records themselves.
    """
    k = block.buckets
    lost = int.from_bytes(block.lost, "little")
    marked = int.from_bytes(block.rows, "little")
    taken = lost | marked
    new = 0
    for rec in losses:
        bit = 1 << ((rec.seq - 1) // k % BLOCK)
        if (taken | new) & bit:
            return None
        new |= bit
    kept = list(rows)
    more = 0
    for rec in kept:
        bit = 1 << ((rec.seq - 1) // k % BLOCK)
        if (lost | new) & bit:
            return None
        more |= bit
    m = Merged(added=list(losses), rows=kept)
    if new:
        block.lost[:] = (lost | new).to_bytes(MAP_BYTES, "little")
        m.append = segment_of(losses)
        m.changed = True
    if more & ~marked:
        block.rows[:] = (marked | more).to_bytes(MAP_BYTES, "little")
        m.changed = True
    return m


def segment_of(records: Sequence[DrawRecord]) -> bytes:
    """One framed segment: its sizes, zlib over JSON, then the first
    :data:`KEPT` bytes of each random value, raw: incompressible, so kept out
    of zlib, which they would only slow down. The rest of a random value
    follows from the round's seed (:func:`restored`; docs/worker.md).

    The JSON is by column, most as the difference from the previous value,
    nearly constant in a rain (the next draw number, the player's next
    nonce, the next time): zlib then keeps a loss in a few bytes (format 2; format 1 was
    one list per loss, twice the bytes, docs/worker.md). Players and client
    seeds are listed once and referred to by position; a CRC-32 after the
    sizes covers the whole segment."""
    users: dict[str, int] = {}
    seeds: dict[str, int] = {}
    nonces: list[int] = []  # by player position: the last nonce seen
    cols: tuple[list[int], ...] = ([], [], [], [], [], [], [], [], [])
    dseq, duser, dnonce, seed_, pick, dat, dlag, dsn, pool = cols
    prev_seq = prev_user = prev_at = prev_lag = prev_sn = 0
    for r in records:
        at = r.drawn_at_ms
        ms, _, n = r.stream_id.partition("-")
        lag, sn = int(ms) - at, int(n)
        u = users.get(r.user_id)
        if u is None:
            u = users[r.user_id] = len(users)
            nonces.append(0)
        c = seeds.get(r.client_seed)
        if c is None:
            c = seeds[r.client_seed] = len(seeds)
        dseq.append(r.seq - prev_seq)
        duser.append(u - prev_user)
        dnonce.append(r.nonce - nonces[u])
        seed_.append(c)
        pick.append(r.pick)
        dat.append(at - prev_at)
        dlag.append(lag - prev_lag)
        dsn.append(sn - prev_sn)
        pool.append(r.pool)
        nonces[u] = r.nonce
        prev_seq, prev_user, prev_at, prev_lag, prev_sn = r.seq, u, at, lag, sn
    randoms = bytes.fromhex("".join([r.random[: 2 * KEPT] for r in records]))
    doc = {"v": FORMAT, "u": list(users), "c": list(seeds), "d": cols}
    body = zlib.compress(orjson.dumps(doc), LEVEL)
    head = _FRAME.pack(len(body) | _CHECKED, len(records))
    crc = zlib.crc32(randoms, zlib.crc32(body, zlib.crc32(head)))
    return head + _CRC.pack(crc) + body + randoms


def _rows_v1(doc: dict[str, Any]) -> Iterator[tuple[int, int, int, int, int, int, int, int, int]]:
    """Format 1's losses: ``[seq, user, nonce, seed, pick, Δtime, lag, n, pool]``
    each, times as deltas."""
    at = 0
    for seq, ui, nonce, ci, pick, dat, dms, sn, pool in doc["d"]:
        at += dat
        yield seq, ui, nonce, ci, pick, at, dms, sn, pool


def _rows_v2(doc: dict[str, Any]) -> Iterator[tuple[int, int, int, int, int, int, int, int, int]]:
    """Format 2's losses, from its columns of differences (:func:`segment_of`)."""
    dseq, duser, dnonce, seed_, pick, dat, dlag, dsn, pool = doc["d"]
    nonces = [0] * len(doc["u"])
    seq = u = at = lag = sn = 0
    for i in range(len(dseq)):
        seq += dseq[i]
        u += duser[i]
        at += dat[i]
        lag += dlag[i]
        sn += dsn[i]
        if u < 0:  # a negative index would wrap round
            raise IndexError(f"player {u}")
        nonces[u] += dnonce[i]
        yield seq, u, nonces[u], seed_[i], pick[i], at, lag, sn, pool[i]


def merge(
    block: Block,
    activity_id: ActivityId,
    round_id: str,
    losses: Iterable[DrawRecord],
    rows: Iterable[DrawRecord],
) -> Merged:
    """Add a batch's draws to a block whose losses are decoded, each draw
    number once; the payload is then rewritten whole.

    A loss already kept is a duplicate when it is the same draw, else a
    collision (never written). A row draw whose number the block keeps as a
    loss is a collision; the others go on to ``draws``, whose unique
    ``draw_id`` decides about them, and the block notes their numbers.
    """
    held = block.losses if block.losses is not None else {}
    block.losses = held
    k = block.buckets
    m = Merged(rewrite=True)
    for rec in losses:
        old = held.get(rec.seq)
        if old is not None:
            if same_loss(old, rec):
                m.duplicates += 1
            else:
                m.collisions.append((rec, record_of(old, activity_id, round_id)))
        elif has(block.rows, bit_of(rec.seq, k)):
            # The stored draw is a row of ``draws`` (a win or a grant's draw).
            m.collisions.append((rec, rec._replace(user_id="(a row of draws)", won=True)))
        else:
            held[rec.seq] = loss_of(rec)
            put(block.lost, bit_of(rec.seq, k))
            m.added.append(rec)
            m.changed = True
    for rec in rows:
        old = held.get(rec.seq)
        if old is not None:
            m.collisions.append((rec, record_of(old, activity_id, round_id)))
            continue
        if not has(block.rows, bit_of(rec.seq, k)):
            put(block.rows, bit_of(rec.seq, k))
            m.changed = True
        m.rows.append(rec)
    return m


def same_loss(old: Loss, rec: DrawRecord) -> bool:
    """Whether a kept loss records this very draw (its random value as kept)."""
    return old[1:5] == (
        rec.user_id,
        rec.nonce,
        rec.client_seed,
        rec.pick,
    ) and rec.random.startswith(old[5])


def restored(loss: Loss, seed: bytes | None, keys: dict[tuple[str, str], str]) -> Loss:
    """A kept loss with its whole random value: recomputed from the round's
    seed when it starts with the bytes kept; else (a changed record, or no
    seed) the kept bytes and zeros, which no replay accepts. ``keys`` caches
    user keys across calls."""
    seq, user, nonce, cseed, pick, kept, at, sid, pool = loss
    if seed is not None:
        key = keys.get((user, cseed))
        if key is None:
            key = keys[(user, cseed)] = fairness.user_key(seed, user, cseed)
        random = fairness.draw_random(key, nonce)
        if random.startswith(kept):
            return (seq, user, nonce, cseed, pick, random, at, sid, pool)
    return (seq, user, nonce, cseed, pick, kept.ljust(40, "0"), at, sid, pool)


def history_key(rec: DrawRecord) -> tuple[int, int]:
    """Where a draw sorts in a player's history (newest first): its time, then
    its number and round, the same for a row and a compact loss; the
    history cursor is this pair."""
    return rec.drawn_at_ms, rec.seq << 32 | zlib.crc32(rec.round_id.encode())
