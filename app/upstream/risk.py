"""An optional risk service consulted before each draw (REDRAIN_RISK_URL).

``POST {url}`` with ``{"user_id", "client_ip", "activity_id"}``; an answer
``{"allow": false}`` refuses the draw (403 ``risk_denied``). When the service
fails or is slower than REDRAIN_RISK_TIMEOUT, REDRAIN_RISK_FAIL_OPEN decides:
draw anyway (the default) or refuse with 503.
"""

from __future__ import annotations

import logging

import httpx

from app.domain.errors import Forbidden, Unavailable
from app.domain.types import ActivityId

log = logging.getLogger("redrain.risk")


class RiskHook:
    def __init__(self, url: str, *, timeout: float, fail_open: bool) -> None:
        self.url = url
        self.fail_open = fail_open
        self.client = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def check(self, user_id: str, client_ip: str, activity_id: ActivityId) -> None:
        body = {"user_id": user_id, "client_ip": client_ip, "activity_id": activity_id}
        try:
            resp = await self.client.post(self.url, json=body)
            resp.raise_for_status()
            answer = resp.json()
            allow = answer.get("allow") if isinstance(answer, dict) else None
            if not isinstance(allow, bool):
                raise ValueError("no boolean 'allow' in the answer")
        except (httpx.HTTPError, ValueError) as exc:
            if self.fail_open:
                log.warning("risk service failed (%s); drawing anyway (fail-open)", exc)
                return
            raise Unavailable("the risk service cannot be reached") from exc
        if not allow:
            raise Forbidden("this draw was refused by the risk check", code="risk_denied")
