"""Compact losses in the database: the blocks of ``loss_blocks`` and the
``loss_users`` index (app/domain/losses.py says what a block is).

Writing happens inside the flush's transaction (:mod:`app.store.sql.batches`):
the batch's blocks are created if missing and locked in key order, their
bitmaps read (not their payloads), and each is then either appended to
(``data || segment``: what is stored is neither read nor rewritten) or, when
the batch meets a draw already there, decoded, merged and rewritten whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.domain.errors import MalformedEntry
from app.domain.losses import (
    BLOCK,
    MAP_BYTES,
    Block,
    Loss,
    Merged,
    bit_of,
    decode,
    drop,
    has,
    segment,
)
from app.domain.types import ActivityId
from app.store.sql import bulk
from app.store.sql.models import DrawRow, LossBlockRow, RoundRow
from app.store.sql.rows import in_round

Key = tuple[str, int, int]  # (round_id, lane, block)

_PLACEHOLDER = (
    "round_id",
    "lane",
    "block",
    "activity_id",
    "buckets",
    "lost_map",
    "row_map",
    "draws",
    "first_seq",
    "last_seq",
    "first_ms",
    "last_ms",
    "data",
)


_LOCK_SQL = (
    "SELECT id, activity_id, round_id, lane, block, buckets, lost_map, row_map, draws,"
    " first_seq, last_seq, first_ms, last_ms FROM loss_blocks WHERE {where}"
)


@dataclass
class Held:
    """A block as stored: its row, key and figures, and its content."""

    id: int
    activity_id: ActivityId
    round_id: str
    lane: int
    index: int
    block: Block
    draws: int = 0
    first_seq: int = 0
    last_seq: int = 0
    first_ms: int = 0
    last_ms: int = 0

    @property
    def lost(self) -> dict[int, Loss]:
        """The decoded losses by draw number (empty before :func:`load`)."""
        return self.block.losses or {}

    def seq(self, bit: int) -> int:
        """The draw number of bit ``bit`` of this block."""
        k = self.block.buckets
        return (self.index * BLOCK + bit) * k + self.lane + 1

    def row_seqs(self) -> list[int]:
        return [self.seq(i) for i in range(BLOCK) if has(self.block.rows, i)]


def _figures(row: Any) -> dict[str, int]:
    return {
        "draws": row.draws,
        "first_seq": row.first_seq,
        "last_seq": row.last_seq,
        "first_ms": row.first_ms,
        "last_ms": row.last_ms,
    }


async def lock(
    s: AsyncSession, keys: Mapping[Key, ActivityId], buckets: Mapping[Key, int]
) -> dict[Key, Held]:
    """The batch's blocks, created empty where missing, each locked until
    commit; bitmaps and figures read, payloads not.

    The no-op upsert takes every block's row lock in key order (an INSERT of
    a missing row would otherwise meet another worker's gap lock and
    deadlock); the SELECT then reads what the lock holder committed.
    """
    order = sorted(keys)
    zero = bytes(MAP_BYTES)
    conn = await s.connection()
    # A handful of rows: plain statements in text, no SQLAlchemy compile and
    # no prepare round trips (the flush pays these per batch; docs/worker.md).
    await bulk.insert(
        conn,
        "loss_blocks",
        _PLACEHOLDER,
        [
            (r, ln, b, keys[(r, ln, b)], buckets[(r, ln, b)], zero, zero, 0, 0, 0, 0, 0, b"")
            for r, ln, b in order
        ],
        unless=("round_id", "lane", "block"),
        binary=False,
    )
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sqlite = conn.dialect.name == "sqlite"
    out: dict[Key, Held] = {}
    for i in range(0, len(order), 200):
        part = order[i : i + 200]
        where = " OR ".join(
            [f"(round_id = {mark} AND lane = {mark} AND block = {mark})"] * len(part)
        )
        sql = _LOCK_SQL.format(where=where) + ("" if sqlite else " FOR UPDATE")
        got = await conn.exec_driver_sql(sql, tuple(v for key in part for v in key))
        for row in got:
            out[(row.round_id, row.lane, row.block)] = _held(row, decoded=False)
    return out


async def load(s: AsyncSession, held: Sequence[Held]) -> None:
    """Decode the payloads of blocks :func:`lock` read (a batch must compare)."""
    by_id = {h.id: h for h in held}
    q = select(LossBlockRow.id, LossBlockRow.data).where(LossBlockRow.id.in_(list(by_id)))
    for block_id, data in await s.execute(q):
        h = by_id[block_id]
        h.block.losses = decode(data)


def _content(h: Held) -> tuple[list[int], list[int], list[int]]:
    """What a decoded block holds: its losses' draw numbers, its rows' (by
    the row map) and its losses' times; the figures its columns keep."""
    held = h.block.sorted()
    return [x[0] for x in held], h.row_seqs(), [x[6] for x in held]


def _after(h: Held, m: Merged) -> dict[str, Any]:
    """The block's figures once ``m`` is applied."""
    seqs = [r.seq for r in m.added] + [r.seq for r in m.rows]
    times = [r.drawn_at_ms for r in m.added]
    if m.rewrite:
        lost, rows, times = _content(h)
        seqs = lost + rows
        draws, first_seq, last_seq, first_ms, last_ms = len(lost), 0, 0, 0, 0
    else:
        draws = h.draws + len(m.added)
        first_seq, last_seq, first_ms, last_ms = h.first_seq, h.last_seq, h.first_ms, h.last_ms
    if seqs:
        first_seq = min([v for v in (first_seq, *seqs) if v])
        last_seq = max(last_seq, *seqs)
    if times:
        first_ms = min([v for v in (first_ms, *times) if v])
        last_ms = max(last_ms, *times)
    return {
        "draws": draws,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "first_ms": first_ms,
        "last_ms": last_ms,
        "lost_map": bytes(h.block.lost),
        "row_map": bytes(h.block.rows),
    }


_FIGURES = ("draws", "first_seq", "last_seq", "first_ms", "last_ms", "lost_map", "row_map")
_UPDATE = (
    "UPDATE loss_blocks SET draws = ?, first_seq = ?, last_seq = ?, first_ms = ?, last_ms = ?,"
    " lost_map = ?, row_map = ?, data = {data} WHERE id = ?"
)


async def save(s: AsyncSession, changed: Sequence[tuple[Held, Merged]]) -> None:
    """Write what batches did to their blocks: appends add a segment to the
    payload where it is (neither read nor sent back); merges rewrite it."""
    appends, rewrites = [], []
    for h, m in changed:
        values = _after(h, m)
        figures = tuple(values[c] for c in _FIGURES)
        if m.rewrite:
            data = segment(h.block.sorted()) if h.block.losses else b""
            rewrites.append((*figures, data, h.id))
        else:
            appends.append((*figures, m.append, h.id))
    conn = await s.connection()
    # || makes text on SQLite; MariaDB's || is OR.
    grown = "CAST(data || ? AS BLOB)" if conn.dialect.name == "sqlite" else "CONCAT(data, ?)"
    await bulk.execute(conn, _UPDATE.format(data=grown), appends)
    await bulk.execute(conn, _UPDATE.format(data="?"), rewrites)


async def rewrite(s: AsyncSession, held: Sequence[Held]) -> None:
    """Write decoded blocks back whole (a loss forged or taken out)."""
    await save(s, [(h, Merged(rewrite=True)) for h in held])


def owns(h: Held, seq: int) -> bool:
    """Whether draw ``seq`` falls in this block (other lanes' ranges overlap)."""
    k = h.block.buckets
    return (seq - 1) % k == h.lane and (seq - 1) // k // BLOCK == h.index


def forget(h: Held, seq: int) -> bool:
    """Take draw ``seq`` out of the decoded block that owns it (a loss, or a
    row's mark); True when it was a loss. :func:`rewrite` saves the block."""
    bit = bit_of(seq, h.block.buckets)
    drop(h.block.rows, bit)
    if h.lost.pop(seq, None) is None:
        return False
    drop(h.block.lost, bit)
    return True


async def index_users(
    conn: AsyncConnection, firsts: Sequence[tuple[str, str, ActivityId, int, int]]
) -> None:
    """Note (user, round, activity, lane, first loss ms): the earliest time wins,
    so a replay or a late batch never moves it later."""
    if not firsts:
        return
    if conn.dialect.name == "sqlite":
        sql = (
            "INSERT INTO loss_users (user_id, round_id, activity_id, lane, first_ms)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, round_id)"
            " DO UPDATE SET first_ms = MIN(first_ms, excluded.first_ms)"
        )
    else:
        sql = (
            "INSERT INTO loss_users (user_id, round_id, activity_id, lane, first_ms)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON DUPLICATE KEY UPDATE first_ms = LEAST(first_ms, VALUES(first_ms))"
        )
    await conn.exec_driver_sql(sql, list(firsts))


async def unindex_users(conn: AsyncConnection, pairs: Sequence[tuple[str, str]]) -> None:
    """Drop index rows of (user, round) pairs that now have a row of ``draws``
    (a first win after losses): the row finds the round for history."""
    await bulk.execute(conn, "DELETE FROM loss_users WHERE user_id = ? AND round_id = ?", pairs)


async def players_with_rows(
    s: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which (user, round) pairs have a row of ``draws``: one look-up per round
    over its rows (wins and grant draws only, a small range of the draw_id index)."""
    by_round: dict[str, list[str]] = {}
    for user, round_id in pairs:
        by_round.setdefault(round_id, []).append(user)
    found: set[tuple[str, str]] = set()
    for round_id, users in by_round.items():
        for i in range(0, len(users), 500):
            q = select(DrawRow.user_id).where(
                in_round(round_id), DrawRow.user_id.in_(users[i : i + 500])
            )
            found |= {(str(u), round_id) for u in await s.scalars(q.distinct())}
    return found


async def lanes_of(s: AsyncSession, round_ids: Sequence[str]) -> dict[str, int]:
    """Each round's bucket count, as its blocks were written (1 when none)."""
    t = LossBlockRow
    q = select(t.round_id, func.max(t.buckets)).where(t.round_id.in_(list(round_ids)))
    return {str(r): int(k) for r, k in await s.execute(q.group_by(t.round_id))}


# -- reading ----------------------------------------------------------------------


class Damaged(Exception):
    """A block whose payload does not decode, or disagrees with its loss map."""

    def __init__(self, round_id: str, lane: int, block: int, why: str) -> None:
        super().__init__(f"compact block {round_id}/{lane}/{block} is damaged: {why}")
        self.message = str(self)


def _select() -> Any:
    t = LossBlockRow
    cols = (t.id, t.activity_id, t.round_id, t.lane, t.block, t.buckets, t.lost_map, t.row_map)
    return select(*cols, t.data, t.draws, t.first_seq, t.last_seq, t.first_ms, t.last_ms)


def _held(row: Any, *, decoded: bool = True) -> Held:
    """A block from its row; ``decoded``: its payload too (:class:`Damaged`
    when it does not decode or disagrees with the loss map)."""
    block = Block(row.buckets, bytearray(row.lost_map), bytearray(row.row_map))
    if decoded:
        try:
            block.losses = decode(row.data)
            block.check()
        except MalformedEntry as exc:
            raise Damaged(row.round_id, row.lane, row.block, exc.message) from exc
    return Held(row.id, row.activity_id, row.round_id, row.lane, row.block, block, **_figures(row))


async def _all(s: AsyncSession, q: Any) -> list[Held]:
    """The blocks ``q`` selects that decode (damaged ones are verify's to report)."""
    out = []
    for row in await s.execute(q):
        try:
            out.append(_held(row))
        except Damaged:
            continue
    return out


def disagreements(h: Held, rows: set[int]) -> list[str]:
    """What a decoded block's own columns say that its content and the
    round's stored rows do not (verify's: SPEC §5, a changed byte of the
    compact records): its loss count and times, and the draws its row map
    says are rows. A row deleted from ``draws`` leaves its bit behind, so
    even the round's last draw cannot go unnoticed."""
    where = f"block {h.lane}/{h.index} of round {h.round_id}"
    found = []
    lost, marked, times = _content(h)
    if h.draws != len(lost):
        found.append(f"{where} says it holds {h.draws} losses, and holds {len(lost)}")
    if times and (h.first_ms, h.last_ms) != (min(times), max(times)):
        found.append(
            f"{where} says its losses span {h.first_ms}..{h.last_ms} ms, "
            f"and they span {min(times)}..{max(times)}"
        )
    seqs = lost + marked
    if seqs and h.last_seq != max(seqs):
        found.append(f"{where} says its last draw is {h.last_seq}, and it is {max(seqs)}")
    found += [
        f"draw {seq} is a row by {where}'s row map, and no such row is stored"
        for seq in marked
        if seq not in rows
    ]
    return found


async def round_blocks(s: AsyncSession, round_id: str) -> tuple[list[Held], list[str]]:
    """Every block of a round, and what is wrong with those that do not decode."""
    held: list[Held] = []
    damaged: list[str] = []
    for row in await s.execute(_select().where(LossBlockRow.round_id == round_id)):
        try:
            held.append(_held(row))
        except Damaged as exc:
            damaged.append(exc.message)
    return held, damaged


async def round_totals(s: AsyncSession, round_id: str) -> tuple[int, int, int]:
    """(losses, lowest, highest draw number the blocks answer for, losses and rows)."""
    t = LossBlockRow
    first = func.min(func.nullif(t.first_seq, 0))
    row = (
        await s.execute(
            select(func.coalesce(func.sum(t.draws), 0), first, func.max(t.last_seq)).where(
                t.round_id == round_id
            )
        )
    ).one()
    return int(row[0]), int(row[1] or 0), int(row[2] or 0)


async def blocks_in(
    s: AsyncSession, round_id: str, lane: int, since_ms: int, until_ms: int
) -> list[Held]:
    """A lane's blocks holding a loss in [since_ms, until_ms], newest first."""
    t = LossBlockRow
    q = (
        _select()
        .where(
            t.round_id == round_id,
            t.lane == lane,
            t.last_ms >= since_ms,
            t.first_ms <= until_ms,
            t.draws > 0,
        )
        .order_by(t.last_ms.desc())
    )
    return await _all(s, q)


async def seq_block(s: AsyncSession, round_id: str, seq: int, *, lock: bool = False) -> list[Held]:
    """The blocks whose range spans draw ``seq`` (one per lane at most)."""
    t = LossBlockRow
    q = _select().where(t.round_id == round_id, t.first_seq <= seq, t.last_seq >= seq)
    return await _all(s, q.with_for_update() if lock else q)


async def activity_blocks(s: AsyncSession, activity_id: ActivityId, before_ms: int) -> list[Held]:
    """The activity's blocks with a loss before ``before_ms``."""
    t = LossBlockRow
    q = _select().where(t.activity_id == activity_id, t.first_ms < before_ms, t.draws > 0)
    return await _all(s, q)


async def blocks_by_id(s: AsyncSession, ids: Sequence[int]) -> list[Held]:
    out: list[Held] = []
    for i in range(0, len(ids), 500):
        out += await _all(s, _select().where(LossBlockRow.id.in_(ids[i : i + 500])))
    return out


async def seed_of(s: AsyncSession, round_id: str) -> bytes | None:
    """The round's seed: what a kept loss's random value is restored from."""
    seed = await s.scalar(select(RoundRow.seed).where(RoundRow.id == round_id))
    return bytes.fromhex(seed) if seed else None


async def count(s: AsyncSession, activity_id: ActivityId | None) -> int:
    q = select(func.coalesce(func.sum(LossBlockRow.draws), 0))
    if activity_id is not None:
        q = q.where(LossBlockRow.activity_id == activity_id)
    return int(await s.scalar(q) or 0)
