"""Players signing in: dev login (embedded/demo) and WeChat mini-programs."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.http import responses as r
from app.http.bodies import DevLoginBody, WechatBody, read
from app.http.endpoint import BODY_ERRORS, Endpoints, services
from app.http.errors import JSON

endpoint = Endpoints()


@endpoint(
    "POST",
    "/v1/auth/dev",
    "A token for any user id (dev login only)",
    response=r.Token,
    body=DevLoginBody,
    errors=(404, *BODY_ERRORS),
)
async def dev_login(request: Request) -> Response:
    s = services(request)
    if not s.settings.dev_login_enabled:
        raise HTTPException(404)
    body = await read(request, DevLoginBody)
    token, ttl = s.auth.issue(body.user_id)
    out: r.Token = {"token": token, "user_id": body.user_id, "expires_in": ttl}
    return JSON(out)


@endpoint(
    "POST",
    "/v1/auth/wechat",
    "Exchange a mini-program login code",
    response=r.Token,
    body=WechatBody,
    errors=(401, 404, 429, 502, 503, *BODY_ERRORS),
)
async def wechat_login(request: Request) -> Response:
    body = await read(request, WechatBody)
    token, user_id, ttl = await services(request).account.wechat_login(body.code)
    out: r.Token = {"token": token, "user_id": user_id, "expires_in": ttl}
    return JSON(out)
