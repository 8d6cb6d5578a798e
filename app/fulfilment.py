"""Delivering won prizes to the operator's systems (coupons, points, shipping).

A pluggable outbound hook: the worker leases each won draw whose fulfilment is
``won``, posts it to ``REDRAIN_WEBHOOK_URL`` signed with
``REDRAIN_WEBHOOK_SECRET``, and records the outcome on the draw row: ``granted``
(2xx), ``grant_failed`` (a 4xx other than 408/429, or attempts exhausted), or
a retry with exponential backoff. Delivery is at least once: the receiver
dedups on the ``X-Redrain-Delivery`` header (the draw id). See docs/fulfilment.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Protocol

import httpx
import orjson

from app.repository import Database, StoredDraw

log = logging.getLogger("redrain.fulfilment")

LEASE_MS = 60_000
BACKOFF_BASE_MS = 2_000
BACKOFF_MAX_MS = 600_000


class Hook(Protocol):
    async def deliver(self, draw: StoredDraw) -> bool | None:
        """True: granted. False: refused for good. None: try again later."""
        ...

    async def aclose(self) -> None: ...


def payload(draw: StoredDraw) -> dict[str, object]:
    r = draw.record
    return {
        "event": "prize_won",
        "draw_id": r.draw_id,
        "user_id": r.user_id,
        "activity_id": r.activity_id,
        "round_id": r.round_id,
        "prize": {
            "key": r.prize_key,
            "type": draw.prize_type,
            "name": draw.prize_name,
            "value": draw.prize_value,
        },
        "grant_id": r.grant_id,
        "drawn_at_ms": r.drawn_at_ms,
    }


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class Webhook:
    def __init__(self, url: str, secret: bytes, *, timeout: float) -> None:
        self.url = url
        self.secret = secret
        self.client = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def deliver(self, draw: StoredDraw) -> bool | None:
        body = orjson.dumps(payload(draw))
        headers = {
            "Content-Type": "application/json",
            "X-Redrain-Delivery": draw.record.draw_id,
            "X-Redrain-Signature": signature(self.secret, int(time.time()), body),
        }
        try:
            resp = await self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("fulfilment hook failed for %s: %s", draw.record.draw_id, exc)
            return None
        if 200 <= resp.status_code < 300:
            return True
        if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
            log.error("fulfilment hook refused %s: HTTP %s", draw.record.draw_id, resp.status_code)
            return False
        return None


class Fulfiller:
    def __init__(
        self,
        db: Database,
        hook: Hook,
        *,
        max_attempts: int,
        now_ms: Callable[[], int],
        concurrency: int = 16,
    ) -> None:
        self.db = db
        self.hook = hook
        self.max_attempts = max_attempts
        self.now_ms = now_ms
        self.concurrency = concurrency

    async def run_once(self, limit: int = 200) -> int:
        """Deliver what is due; returns how many deliveries were attempted."""
        ids = await self.db.due_fulfilments(self.now_ms(), limit)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(row_id: int) -> int:
            async with gate:
                return await self._deliver(row_id)

        return sum(await asyncio.gather(*[one(i) for i in ids]))

    async def _deliver(self, row_id: int) -> int:
        now = self.now_ms()
        draw = await self.db.lease_fulfilment(row_id, now, LEASE_MS)
        if draw is None:
            return 0  # another worker has it, or it is done
        outcome = await self.hook.deliver(draw)
        if outcome is True:
            await self.db.finish_fulfilment(row_id, "granted", None)
        elif outcome is False:
            await self.db.finish_fulfilment(row_id, "grant_failed", None)
        else:
            attempts = await self.db.fulfilment_attempts(row_id)
            if attempts >= self.max_attempts:
                log.error("giving up on %s after %d attempts", draw.record.draw_id, attempts)
                await self.db.finish_fulfilment(row_id, "grant_failed", None)
            else:
                wait = min(BACKOFF_BASE_MS * 2 ** (attempts - 1), BACKOFF_MAX_MS)
                await self.db.finish_fulfilment(row_id, None, now + wait)
        return 1
