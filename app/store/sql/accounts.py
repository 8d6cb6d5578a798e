"""Players' accounts with outside identity providers: WeChat sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from app.domain.errors import Duplicate
from app.store.sql.connection import Connection
from app.store.sql.models import WechatSessionRow


class Accounts:
    def __init__(self, db: Connection) -> None:
        self.db = db

    async def save_wechat_session(
        self, openid: str, user_id: str, session_key: str, unionid: str | None, *, now: dt.datetime
    ) -> None:
        """Keep WeChat's session_key for a user: on the server, never sent to the
        client. Insert first, update when the row exists: no locking read, so
        two logins of one user at once neither deadlock (InnoDB gap locks) nor
        clash (the second insert waits for the first, then updates)."""
        values = {"user_id": user_id, "session_key": session_key, "unionid": unionid}
        try:
            async with self.db.session() as s:
                s.add(WechatSessionRow(openid=openid, updated_at=now, **values))
        except Duplicate:
            async with self.db.session() as s:
                await s.execute(
                    update(WechatSessionRow)
                    .where(WechatSessionRow.openid == openid)
                    .values(updated_at=now, **values)
                )

    async def wechat_session_key(self, openid: str) -> str | None:
        async with self.db.session() as s:
            row = await s.get(WechatSessionRow, openid)
            return None if row is None else row.session_key
