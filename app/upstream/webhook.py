"""The fulfilment webhook: a won prize, posted signed to the operator's systems.

``POST REDRAIN_WEBHOOK_URL`` with the draw as JSON, ``X-Redrain-Delivery``
(the draw id, for the receiver's dedup) and ``X-Redrain-Signature``
(``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``). See
docs/fulfilment.md.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import httpx
import orjson

from app.domain.records import StoredDraw

log = logging.getLogger("redrain.fulfilment")


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
        """True: granted. False: refused for good. None: try again later."""
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
