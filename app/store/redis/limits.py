"""Per-user limits on writes other than the draw (whose limiter lives inside
``lua/draw.lua``): counted in Redis so they hold across every API process.
Owns ``lua/write_limit.lua``'s layout."""

from __future__ import annotations

from app.store.redis import keys
from app.store.redis.connection import RedisConnection
from app.store.redis.scripts import Contract

CONTRACT = Contract(
    "write_limit",
    keys=("counter",),
    argv=("limit", "windowMs"),
    reply=("allowed", "waitMs"),
)
_ALLOWED = CONTRACT.index("reply", "allowed")
_WAIT = CONTRACT.index("reply", "waitMs")


class WriteLimits:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def hit(self, what: str, user_id: str, limit: int, window_ms: int) -> int:
        """Count one ``what`` by the user against ``limit`` per ``window_ms``:
        0 when counted, else the milliseconds until it may be tried again."""
        named = {"limit": str(limit), "windowMs": str(window_ms)}
        res = await self.conn.run(
            "write_limit",
            [keys.write_limit(what, user_id)],
            [named[str(name)] for name in CONTRACT.argv],
        )
        return 0 if int(res[_ALLOWED]) == 1 else max(int(res[_WAIT]), 1)
