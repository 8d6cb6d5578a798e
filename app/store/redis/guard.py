"""Each activity's copy of the blacklist, which the draw script checks."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.types import ActivityId
from app.store.redis import keys
from app.store.redis.connection import RedisConnection, translated


class Guard:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def replace(self, activity_id: ActivityId, kind: str, values: Sequence[str]) -> None:
        """Replace an activity's copy of a blacklist at once (a temporary key in
        the same slot, then RENAME), so no draw sees it half-written."""
        target = keys.blocked(activity_id, kind)
        client = self.conn.client
        async with translated():
            if not values:
                await client.delete(target)
                return
            tmp = f"{target}:new"
            pipe = client.pipeline(transaction=True)
            pipe.delete(tmp)
            pipe.sadd(tmp, *values)
            pipe.rename(tmp, target)
            await pipe.execute()

    async def change(
        self, activity_ids: Sequence[ActivityId], kind: str, value: str, *, add: bool
    ) -> None:
        client = self.conn.client
        async with translated():
            for aid in activity_ids:
                key = keys.blocked(aid, kind)
                await (client.sadd(key, value) if add else client.srem(key, value))
