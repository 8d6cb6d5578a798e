"""Leasing won draws to the fulfilment hook, and recording what it answered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.records import StoredDraw
from app.store.sql.connection import Connection
from app.store.sql.draws import select_draws, stored
from app.store.sql.models import DrawRow


class Fulfilment:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def due(self, now_ms: int, limit: int) -> list[int]:
        """Row ids of wins waiting for the fulfilment hook."""
        async with self.db.session() as s:
            q = (
                select(DrawRow.id)
                .where(
                    DrawRow.fulfilment == "won",
                    (DrawRow.fulfil_next_ms.is_(None)) | (DrawRow.fulfil_next_ms <= now_ms),
                )
                .order_by(DrawRow.id)
                .limit(limit)
            )
            return [int(i) for i in await s.scalars(q)]

    async def lease(self, row_id: int, now_ms: int, lease_ms: int) -> StoredDraw | None:
        """Take one win for delivery until ``now + lease`` (None if another worker
        holds it or it is done). Counts the attempt."""

        async def body(s: AsyncSession) -> StoredDraw | None:
            res = await s.execute(
                update(DrawRow)
                .where(
                    DrawRow.id == row_id,
                    DrawRow.fulfilment == "won",
                    (DrawRow.fulfil_next_ms.is_(None)) | (DrawRow.fulfil_next_ms <= now_ms),
                )
                .values(
                    fulfil_next_ms=now_ms + lease_ms, fulfil_attempts=DrawRow.fulfil_attempts + 1
                )
            )
            if not getattr(res, "rowcount", 0):
                return None
            row = (await s.execute(select_draws().where(DrawRow.id == row_id))).one()
            return stored(row)

        return await self.db.transaction(body)

    async def attempts(self, row_id: int) -> int:
        async with self.db.session() as s:
            return int(
                await s.scalar(select(DrawRow.fulfil_attempts).where(DrawRow.id == row_id)) or 0
            )

    async def finish(self, row_id: int, status: str | None, retry_at_ms: int | None) -> None:
        """Record the hook's outcome: ``granted`` / ``grant_failed``, or a retry time."""
        values: dict[str, Any] = {"fulfil_next_ms": retry_at_ms}
        if status is not None:
            values["fulfilment"] = status

        async def body(s: AsyncSession) -> None:
            await s.execute(update(DrawRow).where(DrawRow.id == row_id).values(**values))

        await self.db.transaction(body)
