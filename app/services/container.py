"""Everything redrain does, wired once per process: the object the HTTP edge
and the CLI hold. One clock and one runtime cache serve every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.config import Settings
from app.domain.errors import Unavailable
from app.services.account import Account
from app.services.activities import Activities
from app.services.auth import Auth
from app.services.bundles import Bundles
from app.services.clock import Clock
from app.services.draws import Draws
from app.services.grants import Grants
from app.services.guard import Guard
from app.services.limits import PlayerLimits
from app.services.lotteries import Lotteries
from app.services.monitoring import Monitoring
from app.services.operators import Operators
from app.services.runtimes import RuntimeCache
from app.services.support import Support
from app.store.redis.store import RedisStore
from app.store.sql.database import Database
from app.upstream.risk import RiskHook
from app.upstream.wechat import WeChat


class Services:
    def __init__(
        self, settings: Settings, redis: RedisStore, db: Database, *, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.db = db
        self.clock = clock or Clock(settings.clock_offset_ms)
        self.runtimes = RuntimeCache(redis.catalogue)
        self.auth = Auth(settings, self.clock)
        risk = None
        if settings.risk_url:
            risk = RiskHook(
                settings.risk_url, timeout=settings.risk_timeout, fail_open=settings.risk_fail_open
            )
        wechat = None
        if settings.wechat_appid and settings.wechat_secret:
            wechat = WeChat(
                settings.wechat_api_base,
                settings.wechat_appid,
                settings.wechat_secret.get_secret_value(),
                timeout=settings.wechat_timeout,
            )
        self.activities = Activities(
            redis, db, self.runtimes, self.clock, approvals=settings.publish_approvals
        )
        self.monitoring = Monitoring(redis, self.runtimes, self.clock)
        self.draws = Draws(settings, redis, db, self.runtimes, self.clock, risk)
        self.grants = Grants(redis, db, self.runtimes, self.clock)
        self.support = Support(db, self.draws, self.grants, self.runtimes, self.clock)
        self.limits = PlayerLimits(
            redis,
            writes_per_minute=settings.rate_limit_writes,
            lotteries_per_hour=settings.rate_limit_lotteries,
        )
        self.lotteries = Lotteries(
            db, self.clock, limits=self.limits, max_open=settings.max_open_lotteries
        )
        self.account = Account(db, self.auth, self.clock, wechat)
        self.guard = Guard(redis, db, self.clock)
        self.operators = Operators(settings, db, self.auth, self.clock, redis.logins)
        self.bundles = Bundles(db, self.clock, self.auth.secret)
        self._upstream = [c for c in (risk, wechat) if c is not None]
        # Embedded mode: the in-process flush worker's caught_up (app/application.py).
        self.catch_up: Callable[[], Awaitable[None]] | None = None

    async def written(self) -> None:
        """Before a read of what the flush worker writes (history, deliveries,
        winners): in embedded mode, wait until the worker in this process has
        written every draw made so far. With ``redrain worker`` elsewhere the
        read is as fresh as its lag (docs/worker.md)."""
        if self.catch_up is not None:
            await self.catch_up()

    async def health(self) -> dict[str, str]:
        """``{"redis": ..., "database": ...}``: "ok" or what is wrong."""
        checks: dict[str, str] = {}
        try:
            await self.redis.ping()
            checks["redis"] = "ok"
        except Unavailable as exc:
            checks["redis"] = exc.message
        try:
            await self.db.ping()
            checks["database"] = "ok"
        except Unavailable as exc:
            checks["database"] = exc.message
        return checks

    async def close(self) -> None:
        for client in self._upstream:
            await client.aclose()
        await self.redis.close()
        await self.db.close()
