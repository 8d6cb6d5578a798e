"""The blacklist (mirrored into Redis for the draw script) and the record of
stock top-ups (replayed by ``redrain verify``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from app.domain.audit import AuditDraft
from app.domain.errors import Duplicate
from app.domain.records import BlacklistEntry, StockMove, Topup
from app.store.sql.audit import append
from app.store.sql.connection import Connection
from app.store.sql.models import BlacklistRow, MoveRow, TopupRow


class Guard:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def blacklist(self) -> list[BlacklistEntry]:
        async with self.db.session() as s:
            q = select(BlacklistRow).order_by(BlacklistRow.kind, BlacklistRow.value)
            return [
                BlacklistEntry(r.kind, r.value, r.reason, r.created_at) for r in await s.scalars(q)
            ]

    async def blacklist_add(
        self,
        kind: str,
        value: str,
        reason: str,
        *,
        now: dt.datetime,
        audit: AuditDraft | None = None,
    ) -> bool:
        """True if added, False if it was already there (and nothing is recorded)."""
        try:
            async with self.db.session() as s:
                s.add(BlacklistRow(kind=kind, value=value, reason=reason, created_at=now))
                await s.flush()
                if audit is not None:
                    await append(s, audit, now, self.db.audit_key)
            return True
        except Duplicate:
            return False

    async def blacklist_reason(self, kind: str, value: str) -> str | None:
        """The reason an entry was listed with; None if it is not listed."""
        async with self.db.session() as s:
            reason: str | None = await s.scalar(
                select(BlacklistRow.reason).where(
                    BlacklistRow.kind == kind, BlacklistRow.value == value
                )
            )
            return reason

    async def blacklist_remove(
        self,
        kind: str,
        value: str,
        *,
        now: dt.datetime | None = None,
        audit: AuditDraft | None = None,
    ) -> bool:
        async with self.db.session() as s:
            res = await s.execute(
                delete(BlacklistRow).where(BlacklistRow.kind == kind, BlacklistRow.value == value)
            )
            removed = bool(getattr(res, "rowcount", 0))
            if removed and audit is not None and now is not None:
                await append(s, audit, now, self.db.audit_key)
            return removed

    async def record_topup(
        self,
        round_id: str,
        prize_key: str,
        added: int,
        at_ms: int,
        *,
        now: dt.datetime | None = None,
        audit: AuditDraft | None = None,
    ) -> None:
        async with self.db.session() as s:
            s.add(TopupRow(round_id=round_id, prize_key=prize_key, added=added, at_ms=at_ms))
            if audit is not None and now is not None:
                await append(s, audit, now, self.db.audit_key)

    async def topups(self, round_id: str) -> list[Topup]:
        """A round's top-ups, in order."""
        async with self.db.session() as s:
            rows = await s.scalars(
                select(TopupRow).where(TopupRow.round_id == round_id).order_by(TopupRow.id)
            )
            return [Topup(r.prize_key, r.added, r.at_ms) for r in rows]

    async def record_move(self, round_id: str, move: StockMove) -> bool:
        """Keep a completed stock move; False if it was kept before (the
        rebalancer records it again when it completes a move found half done)."""
        try:
            async with self.db.session() as s:
                s.add(
                    MoveRow(
                        move_id=move.move_id,
                        round_id=round_id,
                        prize_key=move.prize_key,
                        from_bucket=move.from_bucket,
                        to_bucket=move.to_bucket,
                        units=move.units,
                        out_at_ms=move.out_at_ms,
                        in_at_ms=move.in_at_ms,
                    )
                )
        except Duplicate:
            return False
        return True

    async def moves(self, round_id: str) -> list[StockMove]:
        """A round's stock moves, in the order they were recorded."""
        async with self.db.session() as s:
            rows = await s.scalars(
                select(MoveRow).where(MoveRow.round_id == round_id).order_by(MoveRow.id)
            )
            return [
                StockMove(
                    r.move_id,
                    r.prize_key,
                    r.from_bucket,
                    r.to_bucket,
                    r.units,
                    r.out_at_ms,
                    r.in_at_ms,
                )
                for r in rows
            ]
