"""The ledger in the database, read by history, winners, reconcile and verify:
draw rows and compact losses together; the worker's writing (batches.py);
and the dead letters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import delete, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import ids
from app.domain.errors import Duplicate
from app.domain.losses import history_key, record_of, restored
from app.domain.records import DeadLetter, RoundLedger, StoredDraw
from app.domain.types import ActivityId, DrawRecord
from app.store.sql import losses
from app.store.sql.batches import Writer
from app.store.sql.connection import Connection
from app.store.sql.models import DeadLetterRow, DrawRow, LossUserRow, RoundRow
from app.store.sql.rows import COLUMNS, in_round, select_draws, stored

# A round the player played: (round, activity, lane, first loss ms, end, seed).
Played = tuple[str, int, int, int, int | None, str | None]

__all__ = ["Draws", "RoundDraws", "in_round", "select_draws", "stored"]


class Draws:
    def __init__(self, db: Connection) -> None:
        self.db = db
        self.writer = Writer(db)
        self.store = self.writer.store  # the flush's write path (batches.py)

    async def dead_letter(
        self,
        *,
        stream: str,
        entry_id: str,
        draw_id: str | None,
        fields: dict[str, str],
        reason: str,
        attempts: int,
        now: dt.datetime,
    ) -> None:
        """Keep an entry that cannot become a draw row; idempotent per entry."""
        try:
            async with self.db.session() as s:
                s.add(
                    DeadLetterRow(
                        stream=stream,
                        entry_id=entry_id,
                        draw_id=draw_id,
                        fields=orjson.dumps(fields).decode(),
                        reason=reason[:500],
                        attempts=attempts,
                        created_at=now,
                    )
                )
        except Duplicate:
            pass  # already dead-lettered (by another worker)

    async def dead_letters(
        self, *, activity_id: ActivityId | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        q = select(DeadLetterRow).order_by(DeadLetterRow.id).limit(limit)
        if activity_id is not None:
            q = q.where(DeadLetterRow.stream.startswith(f"{{rd:{activity_id}}}:", autoescape=True))
        async with self.db.session() as s:
            return [
                DeadLetter(
                    r.id,
                    r.stream,
                    r.entry_id,
                    r.draw_id,
                    orjson.loads(r.fields),
                    r.reason,
                    r.attempts,
                    r.created_at,
                )
                for r in await s.scalars(q)
            ]

    async def delete(self, draw_ids: Sequence[str]) -> int:
        """Remove stored draws, rows or compact losses (operators' repair
        tooling and tests of reconcile); returns how many were there."""
        async with self.db.session() as s:
            res = await s.execute(delete(DrawRow).where(DrawRow.draw_id.in_(list(draw_ids))))
            gone = int(getattr(res, "rowcount", 0) or 0)
            changed: dict[int, losses.Held] = {}
            for draw_id in draw_ids:
                parsed = ids.parse_draw(draw_id)
                if parsed is None:
                    continue
                round_id, seq = parsed
                for h in await losses.seq_block(s, round_id, seq, lock=True):
                    if losses.owns(h, seq):
                        h = changed.setdefault(h.id, h)
                        gone += losses.forget(h, seq)  # a loss, or the row's mark
            await losses.rewrite(s, list(changed.values()))
            return gone

    # -- reading ------------------------------------------------------------------

    async def get(self, draw_id: str) -> StoredDraw | None:
        async with self.db.session() as s:
            row = (await s.execute(select(*COLUMNS).where(DrawRow.draw_id == draw_id))).first()
            if row is not None:
                return stored(row)
            parsed = ids.parse_draw(draw_id)
            if parsed is None:
                return None
            round_id, seq = parsed
            for h in await losses.seq_block(s, round_id, seq):
                loss = h.lost.get(seq)
                if loss is not None:
                    seed = await losses.seed_of(s, round_id)
                    return _loss(record_of(restored(loss, seed, {}), h.activity_id, round_id))
        return None

    async def of_user(
        self,
        user_id: str,
        *,
        activity_id: ActivityId | None,
        limit: int,
        before: tuple[int, int] | None,
    ) -> list[StoredDraw]:
        """The user's draws, rows and compact losses, newest first, strictly
        before ``before`` (a :func:`history_key`) when given."""
        at = before[0] if before is not None else 2**62
        found: list[StoredDraw] = []

        def keep(d: StoredDraw) -> None:
            if before is None or history_key(d.record) < before:
                found.append(d)

        def floor() -> tuple[int, int] | None:
            """The oldest draw the page keeps so far, once it is full."""
            found.sort(key=lambda d: history_key(d.record), reverse=True)
            del found[limit:]
            return history_key(found[-1].record) if len(found) == limit else None

        mine = DrawRow.user_id == user_id
        if activity_id is not None:
            mine &= DrawRow.activity_id == activity_id
        order = (DrawRow.drawn_at_ms.desc(), DrawRow.id.desc())
        u = LossUserRow
        rounds = (
            select(
                u.round_id, u.activity_id, u.lane, u.first_ms, RoundRow.ends_at_ms, RoundRow.seed
            )
            .outerjoin(RoundRow, RoundRow.id == u.round_id)
            .where(u.user_id == user_id, u.first_ms <= at)
        )
        if activity_id is not None:
            rounds = rounds.where(u.activity_id == activity_id)
        async with self.db.session() as s:
            q = select(*COLUMNS).where(mine, DrawRow.drawn_at_ms < at).order_by(*order)
            for r in await s.execute(q.limit(limit)):
                keep(stored(r))
            if before is not None:
                for r in await s.execute(select(*COLUMNS).where(mine, DrawRow.drawn_at_ms == at)):
                    keep(stored(r))
            # A round's losses are no later than its end: read rounds latest end
            # first, and stop once the page is full of draws later than that.
            played: list[Played] = [
                (str(r), int(a), int(ln), int(f), e, seed)
                for r, a, ln, f, e, seed in await s.execute(rounds)
            ]
            played += await _rounds_with_rows(s, mine, {r[0] for r in played})
            played.sort(key=lambda r: -(r[4] or 2**62))
            keys: dict[tuple[str, str], str] = {}
            for round_id, aid, lane, first_ms, ends, seed in played:
                low = floor()
                if low is not None and ends is not None and ends + ROUND_SLACK_MS < low[0]:
                    break
                for h in await losses.blocks_in(s, round_id, lane, first_ms, at):
                    low = floor()
                    if low is not None and h.last_ms < low[0]:
                        break
                    for loss in h.lost.values():
                        if loss[1] == user_id:
                            full = restored(loss, bytes.fromhex(seed) if seed else None, keys)
                            keep(_loss(record_of(full, aid, round_id)))
        floor()
        return found

    async def winners(
        self,
        activity_id: ActivityId,
        *,
        round_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[StoredDraw]:
        """Winning draws in flush order (``id``), after ``after_id``."""
        q = select(*COLUMNS).where(
            DrawRow.activity_id == activity_id, DrawRow.won.is_(True), DrawRow.id > after_id
        )
        if round_id is not None:
            q = q.where(in_round(round_id))
        q = q.order_by(DrawRow.id).limit(limit)
        async with self.db.session() as s:
            return [stored(r) for r in await s.execute(q)]

    async def round_ledger(self, round_id: str) -> RoundLedger:
        async with self.db.session() as s:
            head = (
                await s.execute(
                    select(
                        func.count(),
                        func.coalesce(func.min(DrawRow.seq), 0),
                        func.coalesce(func.max(DrawRow.seq), 0),
                    ).where(in_round(round_id))
                )
            ).one()
            lost, low, high = await losses.round_totals(s, round_id)
            users = union(
                select(DrawRow.user_id).where(in_round(round_id)),
                select(LossUserRow.user_id).where(LossUserRow.round_id == round_id),
            ).subquery()
            players = await s.scalar(select(func.count()).select_from(users))
            wins = await s.execute(
                select(DrawRow.prize_key, func.count())
                .where(in_round(round_id), DrawRow.won.is_(True))
                .group_by(DrawRow.prize_key)
            )
            lows = [v for v in (int(head[1]), low) if v]
            return RoundLedger(
                draws=int(head[0]) + lost,
                min_seq=min(lows, default=0),
                max_seq=max(int(head[2]), high),
                users=int(players or 0),
                wins={str(k): int(n) for k, n in wins},
            )

    async def round_draws(self, round_id: str) -> RoundDraws:
        """Every stored draw of a round, rows and compact losses, in draw order
        (seq); and what is wrong with blocks that do not decode."""
        async with self.db.session() as s:
            q = select(*COLUMNS).where(in_round(round_id))
            out = [stored(r) for r in await s.execute(q)]
            held, damaged = await losses.round_blocks(s, round_id)
            seed = await losses.seed_of(s, round_id)
        rows = {d.record.seq for d in out}
        keys: dict[tuple[str, str], str] = {}
        for h in held:
            damaged += losses.disagreements(h, rows)
            out += [
                _loss(record_of(restored(x, seed, keys), h.activity_id, round_id))
                for x in h.block.sorted()
            ]
        out.sort(key=lambda d: d.record.seq)
        return RoundDraws(out, damaged)

    async def draws_before(
        self, activity_id: ActivityId, before_ms: int, users: Sequence[str]
    ) -> dict[str, int]:
        """How many draws each user made in the activity before ``before_ms``."""
        out: dict[str, int] = {}
        users = list(users)
        wanted = set(users)
        async with self.db.session() as s:
            for i in range(0, len(users), 1000):
                rows = await s.execute(
                    select(DrawRow.user_id, func.count())
                    .where(
                        DrawRow.activity_id == activity_id,
                        DrawRow.drawn_at_ms < before_ms,
                        DrawRow.user_id.in_(users[i : i + 1000]),
                    )
                    .group_by(DrawRow.user_id)
                )
                out.update((str(u), int(n)) for u, n in rows)
            for h in await losses.activity_blocks(s, activity_id, before_ms):
                for x in h.lost.values():
                    if x[6] < before_ms and x[1] in wanted:
                        out[x[1]] = out.get(x[1], 0) + 1
        return out

    async def round_seqs(self, round_id: str) -> list[int]:
        async with self.db.session() as s:
            seqs = [int(v) for v in await s.scalars(select(DrawRow.seq).where(in_round(round_id)))]
            held, _ = await losses.round_blocks(s, round_id)
        for h in held:
            seqs += h.lost
        return seqs

    async def round_user_counts(self, round_id: str) -> dict[str, int]:
        async with self.db.session() as s:
            rows = await s.execute(
                select(DrawRow.user_id, func.count())
                .where(in_round(round_id))
                .group_by(DrawRow.user_id)
            )
            out = {str(u): int(n) for u, n in rows}
            held, _ = await losses.round_blocks(s, round_id)
        for h in held:
            for x in h.lost.values():
                out[x[1]] = out.get(x[1], 0) + 1
        return out

    async def count(self, activity_id: ActivityId | None = None) -> int:
        """Draws stored, rows and compact losses."""
        q = select(func.count()).select_from(DrawRow)
        if activity_id is not None:
            q = q.where(DrawRow.activity_id == activity_id)
        async with self.db.session() as s:
            return int(await s.scalar(q) or 0) + await losses.count(s, activity_id)

    async def rows(self, activity_id: ActivityId | None = None) -> int:
        """Rows of ``draws`` alone (what compact losses save, measured)."""
        q = select(func.count()).select_from(DrawRow)
        if activity_id is not None:
            q = q.where(DrawRow.activity_id == activity_id)
        async with self.db.session() as s:
            return int(await s.scalar(q) or 0)


async def _rounds_with_rows(s: AsyncSession, mine: Any, indexed: set[str]) -> list[tuple[Any, ...]]:
    """The player's rounds found through their rows (a player with a row in a
    round has no ``loss_users`` row there: batches.py): (round, activity,
    lane, 0, end, seed), the lane from a row's draw number."""
    q = (
        select(DrawRow.round_id, DrawRow.activity_id, func.min(DrawRow.seq))
        .where(mine)
        .group_by(DrawRow.round_id, DrawRow.activity_id)
    )
    found = [(str(r), int(a), int(seq)) for r, a, seq in await s.execute(q) if r not in indexed]
    if not found:
        return []
    ids = [r for r, _, _ in found]
    ks = await losses.lanes_of(s, ids)
    about: dict[str, tuple[int | None, str | None]] = {
        str(i): (e, seed)
        for i, e, seed in await s.execute(
            select(RoundRow.id, RoundRow.ends_at_ms, RoundRow.seed).where(RoundRow.id.in_(ids))
        )
    }
    return [(r, a, (seq - 1) % ks.get(r, 1), 0, *about.get(r, (None, None))) for r, a, seq in found]


ROUND_SLACK_MS = 60_000  # a draw's time is Redis's, within its round; clocks may differ


class RoundDraws(NamedTuple):
    draws: list[StoredDraw]
    damaged: list[str]  # blocks whose payload does not decode


def _loss(rec: DrawRecord) -> StoredDraw:
    return StoredDraw(rec, 0, None, None, None, None)
