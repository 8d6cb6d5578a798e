"""Each activity's copy of the blacklist, which the draw script checks."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from app.domain.types import ActivityId
from app.store.redis import keys
from app.store.redis.connection import RedisConnection, translated


class Guard:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def replace(
        self, activity_id: ActivityId, kind: str, values: Sequence[str], buckets: int = 1
    ) -> None:
        """Replace an activity's copies of a blacklist at once (a temporary key
        in the same slot, then RENAME), so no draw sees one half-written. The
        caller holds the blacklist lock, so no change lands between its read of
        the list and this write."""
        client = self.conn.client
        async with translated():
            for b in range(buckets):
                target = keys.blocked(activity_id, kind, keys.bucket(b, buckets))
                if not values:
                    await client.delete(target)
                    continue
                # Three single-slot commands, not a pipeline: redis-py's cluster
                # client refuses RENAME in one. RENAME itself is atomic.
                tmp = f"{target}:new:{secrets.token_hex(8)}"  # one per writer
                await client.delete(tmp)
                await client.sadd(tmp, *values)
                await client.rename(tmp, target)

    async def change(
        self,
        activities: Sequence[tuple[ActivityId, int]],
        kind: str,
        value: str,
        *,
        add: bool,
    ) -> None:
        """Add or remove one value in every copy: ``activities`` are
        ``(activity id, its buckets)``."""
        client = self.conn.client
        async with translated():
            for aid, k in activities:
                for b in range(k):
                    key = keys.blocked(aid, kind, keys.bucket(b, k))
                    await (client.sadd(key, value) if add else client.srem(key, value))
