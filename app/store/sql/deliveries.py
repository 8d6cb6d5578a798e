"""Deliveries of physical prizes: the winner's address, then shipped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.audit import AuditDraft
from app.domain.errors import Conflict, Duplicate, NotFound
from app.domain.records import ADDRESS_GIVEN, SHIPPED, DeliveryRecord, StoredDraw
from app.domain.types import ActivityId
from app.store.sql.audit import append
from app.store.sql.connection import Connection
from app.store.sql.draws import select_draws, stored
from app.store.sql.models import DeliveryRow, DrawRow


def _record(row: DeliveryRow) -> DeliveryRecord:
    return DeliveryRecord(
        row.draw_id,
        row.activity_id,
        row.user_id,
        row.name,
        row.phone,
        row.address,
        row.status,
        row.tracking,
        row.updated_at,
        row.shipped_at,
        row.shipped_by,
    )


def _shipped(draw_id: str) -> Conflict:
    return Conflict(
        f"the prize of draw {draw_id} has been shipped; the address cannot change now",
        code="already_shipped",
    )


class Deliveries:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def give(
        self, draw: StoredDraw, name: str, phone: str, address: str, *, now: dt.datetime
    ) -> DeliveryRecord:
        """The winner's address for the draw's prize, new or changed; 409
        ``already_shipped`` once shipped. Two at once: the last one stays."""
        rec = draw.record

        async def body(s: AsyncSession) -> DeliveryRecord:
            row = await s.get(DeliveryRow, rec.draw_id, with_for_update=True)
            if row is None:
                row = DeliveryRow(
                    draw_id=rec.draw_id,
                    activity_id=rec.activity_id,
                    user_id=rec.user_id,
                    name=name,
                    phone=phone,
                    address=address,
                    status=ADDRESS_GIVEN,
                    updated_at=now,
                )
                s.add(row)
                await s.flush()
            elif row.status == SHIPPED:
                raise _shipped(rec.draw_id)
            else:
                row.name, row.phone, row.address, row.updated_at = name, phone, address, now
            return _record(row)

        # A twin request may insert first (Duplicate: update it then); InnoDB
        # may pick one of two inserts as a deadlock victim (transaction retries).
        try:
            return await self.db.transaction(body)
        except Duplicate:
            return await self.db.transaction(body)

    async def ship(
        self, draw_id: str, tracking: str, by: str, *, now: dt.datetime, audit: AuditDraft
    ) -> DeliveryRecord:
        async with self.db.session() as s:
            done = await s.execute(
                update(DeliveryRow)
                .where(DeliveryRow.draw_id == draw_id, DeliveryRow.status == ADDRESS_GIVEN)
                .values(status=SHIPPED, tracking=tracking, shipped_at=now, shipped_by=by)
            )
            row = await s.get(DeliveryRow, draw_id)
            if not done.rowcount:  # type: ignore[attr-defined]
                if row is None:
                    raise Conflict(
                        f"the winner of draw {draw_id} has not given an address yet",
                        code="no_address",
                    )
                raise Conflict(f"draw {draw_id} was already marked shipped", code="already_shipped")
            assert row is not None
            await append(s, audit, now, self.db.audit_key)
            return _record(row)

    async def of_draws(self, draw_ids: Sequence[str]) -> dict[str, DeliveryRecord]:
        if not draw_ids:
            return {}
        async with self.db.session() as s:
            rows = await s.scalars(select(DeliveryRow).where(DeliveryRow.draw_id.in_(draw_ids)))
            return {r.draw_id: _record(r) for r in rows}

    async def physical_wins(
        self, activity_id: ActivityId, *, after_id: int, limit: int
    ) -> list[tuple[StoredDraw, DeliveryRecord | None]]:
        """The activity's physical wins in draw order, each with its delivery."""
        q: Any = (
            select_draws()
            .where(
                DrawRow.activity_id == activity_id,
                DrawRow.won.is_(True),
                DrawRow.prize_type == "physical",
                DrawRow.id > after_id,
            )
            .order_by(DrawRow.id)
            .limit(limit)
        )
        async with self.db.session() as s:
            draws = [stored(r) for r in await s.execute(q)]
        found = await self.of_draws([d.record.draw_id for d in draws])
        return [(d, found.get(d.record.draw_id)) for d in draws]


def missing(draw_id: str) -> NotFound:
    return NotFound(f"no physical prize won by you in draw {draw_id}", code="draw_not_found")
