"""Short locks across API processes, for the few admin changes that must not
interleave (one activity's changes; the blacklist and its copies in every
activity). Owns ``lua/unlock.lua``'s layout."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator

from app.domain.errors import Conflict
from app.store.redis.connection import RedisConnection, translated
from app.store.redis.scripts import Contract

UNLOCK = Contract("unlock", keys=("lock",), argv=("token",), reply=("released",))


class Locks:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    @contextlib.asynccontextmanager
    async def hold(
        self,
        name: str,
        *,
        ttl_ms: int = 30_000,
        wait: float = 10.0,
        busy: Conflict | None = None,
    ) -> AsyncIterator[None]:
        """Hold ``rd:lock:<name>``, waiting up to ``wait`` seconds for another
        holder (then ``busy``, by default 409 ``busy_try_again``). The lock
        expires after ``ttl_ms`` should its holder die."""
        key, token = f"rd:lock:{name}", secrets.token_hex(12)
        deadline, delay = time.monotonic() + wait, 0.005
        while True:
            async with translated():
                if await self.conn.client.set(key, token, nx=True, px=ttl_ms):
                    break
            if time.monotonic() >= deadline:
                raise busy or Conflict(
                    f"another change of the {name} is in progress; try again", code="busy_try_again"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        try:
            yield
        finally:
            await self.conn.run("unlock", [key], [token])
