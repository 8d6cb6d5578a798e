"""Notifications to users: written with what they announce, sent exactly once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.records import Notice
from app.domain.types import DrawRecord, PrizePlan
from app.store.sql import bulk
from app.store.sql.connection import Connection
from app.store.sql.models import NotificationRow


def win_notice(rec: DrawRecord, prize: PrizePlan | None, now: dt.datetime) -> dict[str, Any]:
    """The notification a won draw sends its user (written with the draw row)."""
    won: dict[str, Any] | None = None
    if prize is not None:
        won = {"key": prize.key, "type": prize.type.value, "name": prize.name, "value": prize.value}
        if rec.code:
            won["code"] = rec.code
    payload = {
        "draw_id": rec.draw_id,
        "activity_id": rec.activity_id,
        "round_id": rec.round_id,
        "prize": won,
    }
    return {
        "user_id": rec.user_id,
        "kind": "prize_won",
        "ref": rec.draw_id,
        "payload": orjson.dumps(payload).decode(),
        "created_at": now,
    }


def lottery_notice(
    user_id: str, lottery_id: int, title: str, prize: str | None, now: dt.datetime
) -> dict[str, Any]:
    """The result a scheduled lottery sends each participant (``prize`` None: lost)."""
    payload = {"lottery_id": lottery_id, "title": title, "won": prize is not None, "prize": prize}
    return {
        "user_id": user_id,
        "kind": "lottery_result",
        "ref": str(lottery_id),
        "payload": orjson.dumps(payload).decode(),
        "created_at": now,
    }


_NOTICE_COLUMNS = ("user_id", "kind", "ref", "payload", "created_at")
_ONCE = ["user_id", "kind", "ref"]  # uq_notifications_once


async def insert_notices(s: AsyncSession, notices: list[dict[str, Any]]) -> None:
    """Insert notifications; one already sent (same user, kind, ref — e.g. a draw
    row re-driven by reconcile --repair) is left as it is. Only that unique key
    is forgiven: any other error surfaces (no INSERT IGNORE)."""
    if not notices:
        return
    conn = await s.connection()
    if bulk.binds(conn):  # in binary on MariaDB, as the draw rows they go with
        rows = [tuple([n[c] for c in _NOTICE_COLUMNS]) for n in notices]
        await bulk.insert(conn, "notifications", _NOTICE_COLUMNS, rows, unless=_ONCE)
        return
    # Elsewhere through SQLAlchemy, whose types store the datetimes (SQLite has none).
    if conn.dialect.name == "sqlite":
        stmt: Any = sqlite_insert(NotificationRow).on_conflict_do_nothing(index_elements=_ONCE)
    else:
        ins = mysql_insert(NotificationRow)
        stmt = ins.on_duplicate_key_update(ref=ins.inserted.ref)
    await s.execute(stmt, notices)


class Notices:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def of_user(self, user_id: str, *, limit: int, before_id: int | None) -> list[Notice]:
        q = select(NotificationRow).where(NotificationRow.user_id == user_id)
        if before_id is not None:
            q = q.where(NotificationRow.id < before_id)
        q = q.order_by(NotificationRow.id.desc()).limit(limit)
        async with self.db.session() as s:
            return [
                Notice(r.id, r.kind, r.ref, orjson.loads(r.payload), r.created_at)
                for r in await s.scalars(q)
            ]
