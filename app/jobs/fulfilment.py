"""Delivering won prizes to the operator's systems (coupons, points, shipping).

The worker leases each won draw whose fulfilment is ``won``, hands it to the
hook (``app.upstream.webhook``: posted to ``REDRAIN_WEBHOOK_URL``, signed), and
records the outcome on the draw row: ``granted`` (2xx), ``grant_failed`` (a
4xx other than 408/429, or attempts exhausted), or a retry with exponential
backoff. Delivery is at least once: the receiver dedups on the
``X-Redrain-Delivery`` header (the draw id). See docs/fulfilment.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from app.domain.records import StoredDraw
from app.store.sql.fulfilment import Fulfilment

log = logging.getLogger("redrain.fulfilment")

LEASE_MS = 60_000
BACKOFF_BASE_MS = 2_000
BACKOFF_MAX_MS = 600_000


class Hook(Protocol):
    async def deliver(self, draw: StoredDraw) -> bool | None:
        """True: granted. False: refused for good. None: try again later."""
        ...

    async def aclose(self) -> None: ...


class Fulfiller:
    def __init__(
        self,
        store: Fulfilment,
        hook: Hook,
        *,
        max_attempts: int,
        now_ms: Callable[[], int],
        concurrency: int = 16,
    ) -> None:
        self.store = store
        self.hook = hook
        self.max_attempts = max_attempts
        self.now_ms = now_ms
        self.concurrency = concurrency

    async def run_once(self, limit: int = 200) -> int:
        """Deliver what is due; returns how many deliveries were attempted."""
        ids = await self.store.due(self.now_ms(), limit)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(row_id: int) -> int:
            async with gate:
                return await self._deliver(row_id)

        return sum(await asyncio.gather(*[one(i) for i in ids]))

    async def _deliver(self, row_id: int) -> int:
        now = self.now_ms()
        draw = await self.store.lease(row_id, now, LEASE_MS)
        if draw is None:
            return 0  # another worker has it, or it is done
        outcome = await self.hook.deliver(draw)
        if outcome is True:
            await self.store.finish(row_id, "granted", None)
        elif outcome is False:
            await self.store.finish(row_id, "grant_failed", None)
        else:
            attempts = await self.store.attempts(row_id)
            if attempts >= self.max_attempts:
                log.error("giving up on %s after %d attempts", draw.record.draw_id, attempts)
                await self.store.finish(row_id, "grant_failed", None)
            else:
                wait = min(BACKOFF_BASE_MS * 2 ** (attempts - 1), BACKOFF_MAX_MS)
                await self.store.finish(row_id, None, now + wait)
        return 1
