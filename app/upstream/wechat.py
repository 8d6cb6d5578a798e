"""WeChat mini-program login: exchange a ``wx.login()`` code for an openid.

``GET {base}/sns/jscode2session?appid&secret&js_code&grant_type=authorization_code``
answers ``{"openid", "session_key", "unionid"?}`` or ``{"errcode", "errmsg"}``.
The session_key stays on the server (database); the client gets our token.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from app.domain.errors import BadGateway, LimitReached, Unauthorized

INVALID_CODE = {40029, 40163, 40226}  # invalid, already used, high-risk user
RATE_LIMITED = {45011}


@dataclass(frozen=True, slots=True)
class Session:
    openid: str
    session_key: str
    unionid: str | None


class WeChat:
    def __init__(self, base: str, appid: str, secret: str, *, timeout: float) -> None:
        self.base = base
        self.appid = appid
        self.secret = secret
        self.client = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def code_to_session(self, code: str) -> Session:
        params = {
            "appid": self.appid,
            "secret": self.secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        try:
            resp = await self.client.get(f"{self.base}/sns/jscode2session", params=params)
        except httpx.TimeoutException as exc:
            raise BadGateway("WeChat did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise BadGateway("WeChat cannot be reached") from exc
        if resp.status_code != 200:
            raise BadGateway(f"WeChat answered HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError as exc:
            raise BadGateway("WeChat answered something that is not JSON") from exc
        errcode = int(data.get("errcode") or 0)
        if errcode in INVALID_CODE:
            raise Unauthorized("the login code is invalid or already used", code="invalid_code")
        if errcode in RATE_LIMITED:
            raise LimitReached("WeChat is rate limiting logins", code="rate_limited", retry_after=1)
        if errcode:
            raise BadGateway(f"WeChat refused the login (errcode {errcode})")
        openid, session_key = data.get("openid"), data.get("session_key")
        if not isinstance(openid, str) or not isinstance(session_key, str) or not openid:
            raise BadGateway("WeChat's answer has no openid or session_key")
        unionid = data.get("unionid")
        return Session(openid, session_key, unionid if isinstance(unionid, str) else None)
