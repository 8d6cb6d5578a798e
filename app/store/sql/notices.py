"""Notifications to users: written with what they announce, sent exactly once.

Lottery results are rows of ``notifications``; a win's notification is part of
its row of ``draws`` (``notice``, migration 0016). A user's list merges both."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
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
from app.store.sql.models import DrawRow, NotificationRow


def win_payload(rec: DrawRecord, prize: PrizePlan | None) -> str:
    """The ``prize_won`` notification a won draw sends its user, as JSON: kept
    on the draw's own row (``draws.notice``), not as a row of its own, so a
    win adds one row to the database (SPEC §5's W + U + N/1,000 + 20)."""
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
    return orjson.dumps(payload).decode()


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
    """Insert notifications (lottery results; a win's rides on its row); one
    already sent (same user, kind, ref — a lottery drawn again after a crash)
    is left as it is. Only that unique key is forgiven: any other error
    surfaces (no INSERT IGNORE)."""
    if not notices:
        return
    conn = await s.connection()
    if bulk.binds(conn):  # in binary on MariaDB
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


UNBOUNDED = 2**63 - 1  # a cursor's "from the newest" (fits a BIGINT)


class Notices:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def of_user(
        self, user_id: str, *, limit: int, before: tuple[int, int, int] | None
    ) -> list[Notice]:
        """The user's notifications, newest first: rows of ``notifications``
        (lottery results; wins flushed before migration 0016) and the user's
        win rows' own (``draws.notice``). ``before`` is the cursor of the last
        one seen: where each of the two lists stopped (a notification id; a
        win's time and row id), so paging neither repeats nor skips."""
        below, won_ms, won_id = before or (UNBOUNDED, UNBOUNDED, UNBOUNDED)
        stored = (
            select(NotificationRow)
            .where(NotificationRow.user_id == user_id, NotificationRow.id < below)
            .order_by(NotificationRow.id.desc())
            .limit(limit)
        )
        wins = (
            select(DrawRow.id, DrawRow.draw_id, DrawRow.drawn_at_ms, DrawRow.notice)
            .where(
                DrawRow.user_id == user_id,
                DrawRow.notice.is_not(None),
                (DrawRow.drawn_at_ms < won_ms)
                | ((DrawRow.drawn_at_ms == won_ms) & (DrawRow.id < won_id)),
            )
            .order_by(DrawRow.drawn_at_ms.desc(), DrawRow.id.desc())
            .limit(limit)
        )
        # (time, list, id, win time in ms, the notice): both lists merged by time.
        got: list[tuple[dt.datetime, int, int, int, Notice]] = []
        async with self.db.session() as s:
            for r in await s.scalars(stored):
                notice = Notice(r.id, r.kind, r.ref, orjson.loads(r.payload), r.created_at)
                got.append((r.created_at, 0, r.id, 0, notice))
            for w in await s.execute(wins):
                at = dt.datetime.fromtimestamp(w.drawn_at_ms / 1000, dt.UTC).replace(tzinfo=None)
                notice = Notice(w.id, "prize_won", w.draw_id, orjson.loads(w.notice), at)
                got.append((at, 1, w.id, w.drawn_at_ms, notice))
        got.sort(key=lambda x: x[:3], reverse=True)
        out: list[Notice] = []
        for _, source, row_id, ms, notice in got[:limit]:
            if source == 0:
                below = row_id
            else:
                won_ms, won_id = ms, row_id
            out.append(replace(notice, cursor=(below, won_ms, won_id)))
        return out
