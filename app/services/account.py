"""A player's account: signing in (dev login, WeChat) and notifications."""

from __future__ import annotations

from app.domain.errors import NotFound
from app.domain.records import Notice
from app.services.auth import Auth
from app.services.clock import Clock
from app.store.sql.database import Database
from app.upstream.wechat import WeChat


class Account:
    def __init__(
        self, db: Database, auth: Auth, clock: Clock, wechat: WeChat | None = None
    ) -> None:
        self.db = db
        self.auth = auth
        self.clock = clock
        self.wechat = wechat

    async def wechat_login(self, code: str) -> tuple[str, str, int]:
        """``(token, user_id, expires_in)`` for a mini-program login code."""
        if self.wechat is None:
            raise NotFound("WeChat login is not configured", code="not_found")
        session = await self.wechat.code_to_session(code)
        user_id = f"wx_{session.openid}"
        await self.db.accounts.save_wechat_session(
            session.openid, user_id, session.session_key, session.unionid, now=self.clock.stamp()
        )
        token, ttl = self.auth.issue(user_id)
        return token, user_id, ttl

    async def notifications(
        self, user_id: str, limit: int, before: tuple[int, int, int] | None
    ) -> list[Notice]:
        """Newest first; ``before``: the last one seen's :attr:`Notice.cursor`."""
        return await self.db.notices.of_user(user_id, limit=limit, before=before)
