"""Each activity's copy of the blacklist, which the draw script checks."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.types import ActivityId
from app.store.redis import keys
from app.store.redis.connection import RedisConnection, translated


class Guard:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def _targets(self, activity_id: ActivityId, kind: str) -> list[str]:
        """The activity's copies of the ``kind`` blacklist: one per bucket (the
        published configuration records how many)."""
        async with translated():
            k = int(await self.conn.client.hget(keys.cfg(activity_id), "buckets") or 1)
        # (Catalogue.buckets reads the same field; the guard keeps to its own class.)
        return [keys.blocked(activity_id, kind, keys.bucket(b, k)) for b in range(k)]

    async def replace(
        self, activity_id: ActivityId, kind: str, values: Sequence[str], buckets: int = 1
    ) -> None:
        """Replace an activity's copies of a blacklist at once (a temporary key
        in the same slot, then RENAME), so no draw sees one half-written."""
        client = self.conn.client
        async with translated():
            for b in range(buckets):
                target = keys.blocked(activity_id, kind, keys.bucket(b, buckets))
                if not values:
                    await client.delete(target)
                    continue
                # Three single-slot commands, not a pipeline: redis-py's cluster
                # client refuses RENAME in one. RENAME itself is atomic.
                tmp = f"{target}:new"
                await client.delete(tmp)
                await client.sadd(tmp, *values)
                await client.rename(tmp, target)

    async def change(
        self, activity_ids: Sequence[ActivityId], kind: str, value: str, *, add: bool
    ) -> None:
        client = self.conn.client
        async with translated():
            for aid in activity_ids:
                for key in await self._targets(aid, kind):
                    await (client.sadd(key, value) if add else client.srem(key, value))
