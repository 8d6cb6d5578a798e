"""Players' accounts with outside identity providers: WeChat sessions."""

from __future__ import annotations

import datetime as dt

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
        client. Two logins of one user at once: the insert that clashes updates
        the row the other one made."""
        try:
            await self._save(openid, user_id, session_key, unionid, now)
        except Duplicate:
            await self._save(openid, user_id, session_key, unionid, now)

    async def _save(
        self, openid: str, user_id: str, session_key: str, unionid: str | None, now: dt.datetime
    ) -> None:
        async with self.db.session() as s:
            row = await s.get(WechatSessionRow, openid, with_for_update=True)
            if row is None:
                s.add(
                    WechatSessionRow(
                        openid=openid,
                        user_id=user_id,
                        session_key=session_key,
                        unionid=unionid,
                        updated_at=now,
                    )
                )
            else:
                row.session_key, row.unionid, row.updated_at = session_key, unionid, now

    async def wechat_session_key(self, openid: str) -> str | None:
        async with self.db.session() as s:
            row = await s.get(WechatSessionRow, openid)
            return None if row is None else row.session_key
