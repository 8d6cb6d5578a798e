"""Per-user limits on player writes other than the draw (issue 23): lottery
creations per hour, and every player write per minute (create, join, leave,
cancel, delete). Counted in Redis (``lua/write_limit.lua``), so they hold
across every API process; 0 turns one off. The draw has its own limiter,
inside its script (REDRAIN_RATE_LIMIT_USER / _IP)."""

from __future__ import annotations

from app.domain.errors import LimitReached
from app.store.redis.store import RedisStore

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


class PlayerLimits:
    def __init__(self, redis: RedisStore, *, writes_per_minute: int, lotteries_per_hour: int):
        self.redis = redis
        self.writes = writes_per_minute  # REDRAIN_RATE_LIMIT_WRITES
        self.lotteries = lotteries_per_hour  # REDRAIN_RATE_LIMIT_LOTTERIES

    async def write(self, user: str) -> None:
        """Count one player write; 429 ``rate_limited`` past the limit."""
        if self.writes:
            await self._hit("w", user, self.writes, MINUTE_MS, f"{self.writes} a minute")

    async def lottery(self, user: str) -> None:
        """Count one lottery creation (a write too)."""
        await self.write(user)
        if self.lotteries:
            await self._hit(
                "lc", user, self.lotteries, HOUR_MS, f"{self.lotteries} new lotteries an hour"
            )

    async def _hit(self, what: str, user: str, limit: int, window_ms: int, rate: str) -> None:
        wait_ms = await self.redis.limits.hit(what, user, limit, window_ms)
        if wait_ms:
            raise LimitReached(
                f"too many changes ({rate} at most); try again later",
                code="rate_limited",
                retry_after=-(-wait_ms // 1000),
            )
