"""Redis: the one place that talks to it. One object per concern, all on the
same :class:`RedisConnection`::

    redis.catalogue   publish rounds; configurations, seeds, top-ups, stats, counters
    redis.draws       the draw call (lua/draw.lua)
    redis.grants      grants the draw script spends
    redis.guard       each activity's copy of the blacklist
    redis.streams     round streams for the flush worker and reconcile
"""

from __future__ import annotations

from typing import Any

from app.store.redis.catalogue import Catalogue
from app.store.redis.connection import RedisConnection, connect
from app.store.redis.draw import Draws
from app.store.redis.fakes import fake_client
from app.store.redis.grants import Grants
from app.store.redis.guard import Guard
from app.store.redis.moves import Moves
from app.store.redis.streams import Streams
from app.store.redis.transport import RedisTransport


class RedisStore(RedisConnection):
    def __init__(
        self,
        client: Any,
        *,
        offset_ms: int,
        idempotency_ttl: int,
        fast: RedisTransport | None = None,
    ) -> None:
        super().__init__(client, offset_ms=offset_ms, idempotency_ttl=idempotency_ttl, fast=fast)
        self.catalogue = Catalogue(self)
        self.draws = Draws(self)
        self.grants = Grants(self)
        self.guard = Guard(self)
        self.moves = Moves(self)
        self.streams = Streams(self)


def open_store(
    url: str | None,
    *,
    timeout: float,
    cluster: bool,
    connections: int,
    offset_ms: int,
    idempotency_ttl: int,
) -> RedisStore:
    """Redis as configured: fakeredis in this process when ``url`` is None
    (embedded mode), else redis-py plus the pipelining transport."""
    if url is None:
        return RedisStore(fake_client(), offset_ms=offset_ms, idempotency_ttl=idempotency_ttl)
    fast = RedisTransport(url, timeout=timeout, connections=connections, cluster=cluster)
    client = connect(url, timeout=timeout, cluster=cluster)
    return RedisStore(client, offset_ms=offset_ms, idempotency_ttl=idempotency_ttl, fast=fast)
