"""Grants (draw chances a trusted backend issued) in the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select

from app.domain.errors import Duplicate
from app.domain.records import GrantRecord
from app.domain.types import ActivityId
from app.store.sql.connection import Connection
from app.store.sql.models import GrantRow


def _grant(row: GrantRow) -> GrantRecord:
    return GrantRecord(
        row.id, row.activity_id, row.user_id, row.amount, row.reference, row.created_at
    )


class Grants:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def get(self, grant_id: str) -> GrantRecord | None:
        async with self.db.session() as s:
            row = await s.get(GrantRow, grant_id)
        return None if row is None else _grant(row)

    async def of_user(
        self, user_id: str, activity_id: ActivityId | None, limit: int
    ) -> list[GrantRecord]:
        """A user's grants, newest first."""
        q = select(GrantRow).where(GrantRow.user_id == user_id)
        if activity_id is not None:
            q = q.where(GrantRow.activity_id == activity_id)
        q = q.order_by(GrantRow.created_at.desc(), GrantRow.id.desc()).limit(limit)
        async with self.db.session() as s:
            return [_grant(r) for r in await s.scalars(q)]

    async def create(
        self,
        grant_id: str,
        activity_id: ActivityId,
        user_id: str,
        amount: int,
        reference: str,
        *,
        now: dt.datetime,
    ) -> tuple[GrantRecord, bool]:
        """The grant of ``reference``: created now (True) or as first created (False)."""
        try:
            async with self.db.session() as s:
                s.add(
                    GrantRow(
                        id=grant_id,
                        activity_id=activity_id,
                        user_id=user_id,
                        amount=amount,
                        reference=reference,
                        created_at=now,
                    )
                )
            return GrantRecord(grant_id, activity_id, user_id, amount, reference, now), True
        except Duplicate:
            async with self.db.session() as s:
                row = await s.scalar(select(GrantRow).where(GrantRow.reference == reference))
            if row is None:
                raise  # not the reference that collided: a real refusal
            return _grant(row), False

    async def amounts(self, grant_ids: Sequence[str]) -> dict[str, int]:
        ids = list(grant_ids)
        out: dict[str, int] = {}
        async with self.db.session() as s:
            for i in range(0, len(ids), 1000):
                rows = await s.execute(
                    select(GrantRow.id, GrantRow.amount).where(GrantRow.id.in_(ids[i : i + 1000]))
                )
                out.update((str(g), int(a)) for g, a in rows)
        return out
