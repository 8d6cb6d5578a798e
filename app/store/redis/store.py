"""Redis: the one place that talks to it. One object per concern, all on the
same :class:`RedisConnection`::

    redis.catalogue   publish rounds; configurations, seeds, top-ups, stats, counters
    redis.draws       the draw call (lua/draw.lua)
    redis.grants      grants the draw script spends
    redis.guard       each activity's copy of the blacklist
    redis.logins      console login attempts, reserved before a password check
    redis.locks       short locks across processes (the blacklist's copies)
    redis.streams     round streams for the flush worker and reconcile
    redis.reconciled  the last reconcile's result, for /metrics
    redis.limits      per-user limits on player writes other than the draw
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.store.redis.catalogue import Catalogue
from app.store.redis.connection import RedisConnection, connect, connect_sentinel
from app.store.redis.draw import Draws
from app.store.redis.fakes import fake_client
from app.store.redis.fast import FastPath
from app.store.redis.grants import Grants
from app.store.redis.guard import Guard
from app.store.redis.limits import WriteLimits
from app.store.redis.locks import Locks
from app.store.redis.logins import Logins
from app.store.redis.moves import Moves
from app.store.redis.reconciled import Reconciled
from app.store.redis.streams import Streams
from app.store.redis.transport import RedisTransport


class RedisStore(RedisConnection):
    def __init__(
        self,
        client: Any,
        *,
        offset_ms: int,
        idempotency_ttl: int,
        fast: FastPath | None = None,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 200,
    ) -> None:
        super().__init__(
            client,
            offset_ms=offset_ms,
            idempotency_ttl=idempotency_ttl,
            fast=fast,
            wait_replicas=wait_replicas,
            wait_timeout_ms=wait_timeout_ms,
        )
        self.catalogue = Catalogue(self)
        self.draws = Draws(self)
        self.grants = Grants(self)
        self.guard = Guard(self)
        self.locks = Locks(self)
        self.logins = Logins(self)
        self.limits = WriteLimits(self)
        self.moves = Moves(self)
        self.streams = Streams(self)
        self.reconciled = Reconciled(self)


def open_store(
    url: str | None,
    *,
    timeout: float,
    cluster: bool,
    connections: int,
    offset_ms: int,
    idempotency_ttl: int,
    wait_replicas: int = 0,
    wait_timeout_ms: int = 200,
    sentinels: Sequence[tuple[str, int]] = (),
    service: str = "mymaster",
) -> RedisStore:
    """Redis as configured: fakeredis in this process when ``url`` is None
    (embedded mode), else redis-py plus the pipelining transport."""
    if url is None and not sentinels:
        return RedisStore(fake_client(), offset_ms=offset_ms, idempotency_ttl=idempotency_ttl)
    if sentinels:
        # The URL (if any) only carries the password and database; the address
        # of the primary comes from the sentinels, in both clients.
        url = url or "redis://sentinel"
        fast = RedisTransport(
            url, timeout=timeout, connections=connections, sentinels=sentinels, service=service
        )
        client = connect_sentinel(url, sentinels, service, timeout=timeout)
    else:
        assert url is not None  # the embedded case returned above
        fast = RedisTransport(url, timeout=timeout, connections=connections, cluster=cluster)
        client = connect(url, timeout=timeout, cluster=cluster)
    return RedisStore(
        client,
        offset_ms=offset_ms,
        idempotency_ttl=idempotency_ttl,
        fast=fast,
        wait_replicas=wait_replicas,
        wait_timeout_ms=wait_timeout_ms,
    )
