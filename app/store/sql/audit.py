"""The audit trail in the database: appended inside the transaction of the
change it records, read newest first, walked whole by ``redrain audit verify``.

No code path updates or deletes an entry. The one-row ``audit_head`` table
is updated first in each append: that update takes the write lock (a row lock
on MariaDB, the database lock on SQLite), so concurrent appends get
consecutive ids and each chains to the one before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.audit import (
    GENESIS,
    AuditDraft,
    AuditEntry,
    Break,
    first_break,
    rechained,
    seal,
)
from app.store.sql.connection import Connection
from app.store.sql.models import AuditHeadRow, AuditRow


async def append(s: AsyncSession, draft: AuditDraft, now: dt.datetime, key: bytes) -> AuditEntry:
    """Write one entry in the caller's transaction (its change and the entry
    commit or roll back together), chained with the keyed hash (``key``: the
    audit key from settings, which the database never holds)."""
    await s.execute(
        update(AuditHeadRow).where(AuditHeadRow.id == 1).values(last_id=AuditHeadRow.last_id + 1)
    )
    head = (
        await s.execute(
            select(AuditHeadRow.last_id, AuditHeadRow.last_hash).where(AuditHeadRow.id == 1)
        )
    ).one()
    entry = seal(key, draft, int(head.last_id), now, str(head.last_hash))
    s.add(AuditRow(**dataclasses.asdict(entry)))
    await s.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(last_hash=entry.hash))
    return entry


def _entry(r: AuditRow) -> AuditEntry:
    return AuditEntry(
        r.id,
        r.at,
        r.actor,
        r.action,
        r.target,
        r.activity_id,
        r.before,
        r.after,
        r.ip,
        r.prev_hash,
        r.hash,
    )


class AuditLog:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def rekey(self, old_key: bytes, draft: AuditDraft, *, now: dt.datetime) -> Break | None:
        """Re-chain every entry with this connection's key, after checking the
        chain with ``old_key``; then append ``draft`` (the re-keying's own
        entry). One transaction, the head locked first: appends wait, and a
        chain that does not check out is left as it was (its break returned)."""
        async with self.db.session() as s:
            await s.execute(
                update(AuditHeadRow)
                .where(AuditHeadRow.id == 1)
                .values(last_id=AuditHeadRow.last_id)
            )
            entries = [_entry(r) for r in await s.scalars(select(AuditRow).order_by(AuditRow.id))]
            broken = first_break(old_key, entries)
            head = (await s.execute(select(AuditHeadRow.last_id).where(AuditHeadRow.id == 1))).one()
            last = entries[-1].id if entries else 0
            if broken is None and head.last_id != last:
                broken = Break(last + 1, f"entries from {last + 1} to {head.last_id} are missing")
            if broken is not None:
                return broken
            done = rechained(entries, self.db.audit_key)
            for e in done:
                await s.execute(
                    update(AuditRow)
                    .where(AuditRow.id == e.id)
                    .values(prev_hash=e.prev_hash, hash=e.hash)
                )
            await s.execute(
                update(AuditHeadRow)
                .where(AuditHeadRow.id == 1)
                .values(last_hash=done[-1].hash if done else GENESIS)
            )
            await append(s, draft, now, self.db.audit_key)
            return None

    async def record(self, draft: AuditDraft, *, now: dt.datetime) -> AuditEntry:
        """An entry on its own (a failed login: there is no other change)."""
        async with self.db.session() as s:
            return await append(s, draft, now, self.db.audit_key)

    async def page(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        activity_id: int | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries newest first, older than ``before_id`` when given."""
        q = select(AuditRow)
        if actor is not None:
            q = q.where(AuditRow.actor == actor)
        if action is not None:
            q = q.where(AuditRow.action == action)
        if activity_id is not None:
            q = q.where(AuditRow.activity_id == activity_id)
        if before_id is not None:
            q = q.where(AuditRow.id < before_id)
        q = q.order_by(AuditRow.id.desc()).limit(limit)
        async with self.db.session() as s:
            return [_entry(r) for r in await s.scalars(q)]

    async def walk(self, chunk: int = 5000) -> AsyncIterator[list[AuditEntry]]:
        """Every entry in id order, a chunk at a time."""
        after = 0
        while True:
            async with self.db.session() as s:
                rows = list(
                    await s.scalars(
                        select(AuditRow)
                        .where(AuditRow.id > after)
                        .order_by(AuditRow.id)
                        .limit(chunk)
                    )
                )
            if not rows:
                return
            yield [_entry(r) for r in rows]
            after = rows[-1].id

    async def head(self) -> tuple[int, str] | None:
        """``(last id, last hash)`` as the head row records them; None when
        the row is gone (the migration writes it: only an edit removes it)."""
        async with self.db.session() as s:
            row = (
                await s.execute(
                    select(AuditHeadRow.last_id, AuditHeadRow.last_hash).where(AuditHeadRow.id == 1)
                )
            ).one_or_none()
            return None if row is None else (int(row.last_id), str(row.last_hash))

    async def failures_since(
        self, since: dt.datetime, *, target: str | None, ip: str | None
    ) -> tuple[int, dt.datetime | None]:
        """Failed logins at or after ``since`` for ``target`` or from ``ip``:
        ``(count, the oldest one's time)``."""
        q = select(func.count(), func.min(AuditRow.at)).where(
            AuditRow.action == "login.failed", AuditRow.at >= since
        )
        if target is not None:
            q = q.where(AuditRow.target == target)
        if ip is not None:
            q = q.where(AuditRow.ip == ip)
        async with self.db.session() as s:
            count, oldest = (await s.execute(q)).one()
            return int(count or 0), oldest
