"""Grants in Redis, next to the activity they belong to, so the draw script
can check and spend one atomically. Owns ``lua/grant.lua``'s layout."""

from __future__ import annotations

from app.domain.types import ActivityId
from app.store.redis import keys
from app.store.redis.connection import RedisConnection, text, translated
from app.store.redis.scripts import Contract

CONTRACT = Contract(
    "grant",
    keys=("grant",),
    argv=("user", "amount", "reference"),
    reply=("created", "user", "amount", "used"),
)
_CREATED = CONTRACT.index("reply", "created")


class Grants:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def put(
        self,
        activity_id: ActivityId,
        grant_id: str,
        user_id: str,
        amount: int,
        reference: str,
        b: keys.Bucket = None,
    ) -> bool:
        """Record a grant for the draw script, in the user's bucket ``b``;
        True if it was new."""
        named = {"user": user_id, "amount": str(amount), "reference": reference}
        res = await self.conn.run(
            "grant",
            [keys.grant(activity_id, grant_id, b)],
            [named[str(name)] for name in CONTRACT.argv],
        )
        return int(res[_CREATED]) == 1

    async def state(
        self, activity_id: ActivityId, grant_id: str, b: keys.Bucket = None
    ) -> tuple[bool, str | None]:
        """``(used, draw_id)`` of a grant as Redis has it."""
        async with translated():
            used, draw = await self.conn.fast.hmget(
                keys.grant(activity_id, grant_id, b), ["used", "draw"]
            )
        return used == b"1", None if draw is None else text(draw)
