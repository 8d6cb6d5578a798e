"""Writing a flush batch exactly once: rows of ``draws`` for wins and draws
that spent a grant, compact blocks for plain losses (app/domain/losses.py),
all in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import Duplicate, Rejected
from app.domain.losses import Merged, block_of, compact, fresh, merge
from app.domain.records import StoreResult
from app.domain.types import ActivityId, DrawRecord
from app.store.sql import bulk, losses
from app.store.sql.connection import RETRIES, Connection, Deadlock
from app.store.sql.models import DrawRow, LegacyRoundRow
from app.store.sql.rows import COLUMNS, DRAWS, INSERT_COLUMNS, Row, draw_row, stored


class Writer:
    """The flush's write path; one per database (it remembers which players
    the loss index already has, and the legacy rounds)."""

    def __init__(self, db: Connection) -> None:
        self.db = db
        self._legacy: frozenset[str] | None = None
        # (user, round) -> earliest loss noted in loss_users by this process:
        # a rain's players lose many times per round; the index needs one write.
        self._noted: dict[tuple[str, str], int] = {}

    async def store(
        self,
        rows: Sequence[Row],
        *,
        before_commit: Callable[[], None] | None = None,
        buckets: Mapping[str, int] | None = None,
    ) -> StoreResult:
        """Write a batch in one transaction, exactly once.

        Wins and draws that spent a grant become rows of ``draws``; plain
        losses go into their round's blocks (app/domain/losses.py), whose
        merge adds each draw number once. ``buckets``: round id -> the
        round's bucket count, which places a draw in its lane (1 if absent).

        The unique ``draw_id`` makes a plain INSERT exactly-once. When it reports
        a duplicate (a retry after a crash, a second worker), the batch is
        redone comparing each stored draw: the same content is done; the same
        ``draw_id`` with other content is a collision (e.g. Redis lost data and
        reused ids), reported and never written. No INSERT IGNORE: any other
        error surfaces. Raises :class:`Rejected` when the database refuses data.
        """
        if not rows:
            return StoreResult(0, 0, [])
        write = _Batch(rows, await self._legacy_rounds(), buckets or {})
        unique = {rec.draw_id for rec, _ in rows}
        if len(unique) == len(rows):  # else the same entry twice in one batch: compare
            try:
                return await self._write(write, before_commit, compared=False)
            except Duplicate:
                pass
        for attempt in range(3):
            try:
                return await self._write(write, before_commit, compared=True)
            except Duplicate as exc:
                # Another worker inserted some of these ids between our SELECT and
                # INSERT: the next pass sees them as stored.
                if attempt == 2:
                    raise Rejected(exc.message) from exc
        raise AssertionError("unreachable")

    async def _legacy_rounds(self) -> frozenset[str]:
        """Rounds with rows from before compact losses (migration 0015)."""
        if self._legacy is None:
            async with self.db.session() as s:
                self._legacy = frozenset(await s.scalars(select(LegacyRoundRow.round_id)))
        return self._legacy

    async def _write(
        self,
        batch: _Batch,
        before_commit: Callable[[], None] | None,
        *,
        compared: bool,
    ) -> StoreResult:
        """One transaction, run again when InnoDB picks it as a deadlock victim
        (two workers upserting neighbouring blocks, index rows or notices)."""
        for attempt in range(1, RETRIES + 1):
            try:
                return await self._attempt(batch, before_commit, compared=compared)
            except Deadlock:
                if attempt == RETRIES:
                    raise
                await asyncio.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    async def _attempt(
        self,
        batch: _Batch,
        before_commit: Callable[[], None] | None,
        *,
        compared: bool,
    ) -> StoreResult:
        added: list[DrawRecord] = []
        duplicates = 0
        collisions: list[tuple[DrawRecord, DrawRecord]] = []
        plain = list(batch.plain)
        firsts: dict[tuple[str, str], tuple[ActivityId, int, int]] = {}
        with_rows: set[tuple[str, str]] = set()
        async with self.db.session() as s:
            if batch.groups:
                held = await losses.lock(s, batch.activities, batch.buckets)
                done: dict[losses.Key, Merged] = {}
                compare = []
                for key, (lost, kept) in batch.groups.items():
                    m = fresh(held[key].block, lost, kept)
                    if m is None:
                        compare.append(key)
                    else:
                        done[key] = m
                if compare:  # a replay, a second worker, a reused id: compare content
                    await losses.load(s, [held[k] for k in compare])
                    for key in compare:
                        lost, kept = batch.groups[key]
                        done[key] = merge(
                            held[key].block, held[key].activity_id, key[0], lost, kept
                        )
                for key, m in done.items():
                    added += m.added
                    duplicates += m.duplicates
                    collisions += m.collisions
                    plain += m.rows
                    noted = self._noted
                    for rec in m.added:  # per loss: mostly one dict look-up
                        pair = (rec.user_id, rec.round_id)
                        at = rec.drawn_at_ms
                        seen = noted.get(pair)
                        if seen is not None and seen <= at:
                            continue
                        first = firsts.get(pair)
                        if first is None or at < first[2]:
                            firsts[pair] = (rec.activity_id, key[1], at)
                await losses.save(s, [(held[k], m) for k, m in sorted(done.items()) if m.changed])
                # A player with a row in the round needs no index row: history
                # finds the round through the row (and W + U bounds the rows).
                with_rows = {(r.user_id, r.round_id) for r in plain}
                with_rows |= await losses.players_with_rows(
                    s, [pair for pair in firsts if pair not in with_rows]
                )
                for pair in with_rows:
                    firsts.pop(pair, None)
                await losses.index_users(  # in key order, as every writer: no lock cycle
                    await s.connection(),
                    [(u, r, a, lane, at) for (u, r), (a, lane, at) in sorted(firsts.items())],
                )
                await losses.unindex_users(await s.connection(), sorted(with_rows))
            plain.sort(key=lambda rec: (rec.round_id, rec.seq))
            rows = [(rec, batch.prizes[rec.draw_id]) for rec in plain]
            if compared:
                inserted, dup, coll = await _insert_compared(s, rows)
            else:
                inserted, dup, coll = await _insert_all(s, rows)
            duplicates += dup
            collisions += coll
            if before_commit is not None:
                before_commit()
        if len(self._noted) > NOTED:
            self._noted.clear()
        for pair, (_, _, at) in firsts.items():
            self._noted[pair] = at
        for pair in with_rows:
            self._noted[pair] = -1  # never indexed: the round is found through its rows
        return StoreResult(len(added) + inserted, duplicates, collisions)


NOTED = 200_000  # (user, round) pairs remembered as indexed, per process


class _Batch:
    """A batch sorted by where each draw goes: rows of ``draws`` (legacy
    rounds: every draw) and, per block, its losses and its row draws."""

    def __init__(
        self, rows: Sequence[Row], legacy: frozenset[str], buckets: Mapping[str, int]
    ) -> None:
        self.prizes = {rec.draw_id: p for rec, p in rows}
        self.plain: list[DrawRecord] = []
        self.groups: dict[losses.Key, tuple[list[DrawRecord], list[DrawRecord]]] = {}
        self.activities: dict[losses.Key, ActivityId] = {}
        self.buckets: dict[losses.Key, int] = {}
        for rec, _ in rows:
            if rec.round_id in legacy:
                self.plain.append(rec)
                continue
            k = buckets.get(rec.round_id, 1)
            key = (rec.round_id, *block_of(rec.seq, k))
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = ([], [])
                self.activities[key] = rec.activity_id
                self.buckets[key] = k
            group[0 if compact(rec) else 1].append(rec)


async def _insert_all(
    s: AsyncSession, rows: Sequence[Row]
) -> tuple[int, int, list[tuple[DrawRecord, DrawRecord]]]:
    """The common case: nothing of the batch is stored yet."""
    if rows:
        # Tuples straight to the driver, bound in binary on MariaDB (bulk.py):
        # the text path's multi-row INSERT is already half the CPU of a Core
        # insert and an eighth of the ORM bulk path (docs/worker.md).
        await bulk.insert(
            await s.connection(), "draws", INSERT_COLUMNS, [draw_row(r, p) for r, p in rows]
        )
    return len(rows), 0, []


async def _insert_compared(
    s: AsyncSession, rows: Sequence[Row]
) -> tuple[int, int, list[tuple[DrawRecord, DrawRecord]]]:
    ids = list({rec.draw_id for rec, _ in rows})
    known: dict[str, DrawRecord] = {}
    for i in range(0, len(ids), 1000):
        result = await s.execute(select(*COLUMNS).where(DrawRow.draw_id.in_(ids[i : i + 1000])))
        known.update((r.draw_id, stored(r).record) for r in result)
    new: list[Row] = []
    duplicates = 0
    collisions: list[tuple[DrawRecord, DrawRecord]] = []
    for rec, prize in rows:
        old = known.get(rec.draw_id)
        if old is None:
            known[rec.draw_id] = rec
            new.append((rec, prize))
        elif old.same_draw(rec):
            duplicates += 1
        else:
            collisions.append((rec, old))
    if new:
        await s.execute(
            insert(DRAWS),
            [dict(zip(INSERT_COLUMNS, draw_row(r, p), strict=True)) for r, p in new],
        )
    return len(new), duplicates, collisions
