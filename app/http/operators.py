"""For operators themselves: signing in and out, the audit trail, operators and
API tokens, and approving another publisher's publish (SPEC §8)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from app.domain.errors import Forbidden, UnsupportedMediaType
from app.domain.operators import Can, Operator, Role
from app.http import responses as r
from app.http.bodies import (
    ApproveBody,
    LoginBody,
    OperatorBody,
    TokenBody,
    encode_cursor,
    query_activity,
    query_cursor,
    query_int,
    read,
)
from app.http.client_ip import client_ip
from app.http.endpoint import (
    BODY_ERRORS,
    DEVICE_COOKIE,
    SESSION_COOKIE,
    Endpoints,
    actor,
    services,
)
from app.http.errors import JSON
from app.services.operators import DEVICE_TTL

endpoint = Endpoints()


@endpoint(
    "POST",
    "/v1/admin/login",
    "Sign in to the console: a session cookie and its CSRF token",
    response=r.SignedIn,
    body=LoginBody,
    errors=(401, 403, 429, 503, *BODY_ERRORS),
)
async def login(request: Request) -> Response:
    s = services(request)
    if not same_site(request):
        raise Forbidden(
            "sign in from this site's own console: a login from another site's page is refused",
            code="csrf_failed",
        )
    if request.headers.get("content-type") is None:
        # A body with no type is what a cross-site fetch of a Blob sends
        # without asking first: only a declared JSON body signs in (SPEC §8).
        raise UnsupportedMediaType("sign in with a JSON body (Content-Type: application/json)")
    body = await read(request, LoginBody)
    done = await s.operators.login(
        body.username, body.password, client_ip(request.scope), request.cookies.get(DEVICE_COOKIE)
    )
    op = Operator(
        done.operator.username, Role.parse(done.operator.role), "session", done.csrf_token
    )
    resp = JSON(r.signed_in(op))
    secure = s.settings.cookie_secure
    resp.set_cookie(
        SESSION_COOKIE, done.session, httponly=True, samesite="strict", secure=secure, path="/"
    )
    resp.set_cookie(
        DEVICE_COOKIE,
        done.device,
        max_age=DEVICE_TTL,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/v1/admin/login",
    )
    return resp


@endpoint(
    "POST",
    "/v1/admin/logout",
    "End this console session",
    auth="operator",
    can=Can.READ,
    ok=204,
    response=None,
    errors=(503,),
)
async def logout(request: Request) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await services(request).operators.logout(cookie, client_ip(request.scope))
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return resp


@endpoint(
    "GET",
    "/v1/admin/session",
    "Who is signed in (and the session's CSRF token)",
    auth="operator",
    can=Can.READ,
    response=r.SignedIn,
    errors=(503,),
)
async def session(request: Request) -> Response:
    op: Operator = request.state.operator
    return JSON(r.signed_in(op))


@endpoint(
    "GET",
    "/v1/admin/audit",
    "The audit trail, newest first",
    auth="operator",
    can=Can.READ,
    response=r.AuditPage,
    errors=(422, 503),
    query=(("actor", str), ("action", str), ("activity_id", int), ("limit", int), ("cursor", str)),
)
async def audit(request: Request) -> Response:
    limit = query_int(request, "limit", 50, 1, 500)
    before = query_cursor(request, 1)
    rows = await services(request).operators.audit(
        actor=request.query_params.get("actor"),
        action=request.query_params.get("action"),
        activity_id=query_activity(request),
        before_id=before[0] if before else None,
        limit=limit,
    )
    nxt = encode_cursor(rows[-1].id) if len(rows) == limit else None
    body: r.AuditPage = {"entries": [r.audit_item(e) for e in rows], "next_cursor": nxt}
    return JSON(body)


@endpoint(
    "POST",
    "/v1/admin/activities/{id:rowid}/approve",
    "Approve another publisher's publish (REDRAIN_PUBLISH_APPROVALS=1)",
    auth="operator",
    can=Can.PUBLISH,
    response=r.Published,
    body=ApproveBody,
    errors=(403, 404, 409, 503, *BODY_ERRORS),
)
async def approve(request: Request) -> Response:
    body = await read(request, ApproveBody)
    done = await services(request).activities.approve(
        request.path_params["id"], actor(request), body.version, body.config_hash
    )
    return JSON(r.published(done))


def same_site(request: Request) -> bool:
    """No login CSRF: a browser names the page's origin on every cross-origin
    POST (``Origin``) and says whether it is another site (``Sec-Fetch-Site``);
    the origin must be this host. A client that sends neither (curl, a
    script) is not a browser carrying someone's cookies."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


# -- operators and tokens (admin) -------------------------------------------------------


@endpoint(
    "GET",
    "/v1/admin/operators",
    "Operators",
    auth="operator",
    can=Can.MANAGE,
    response=r.OperatorList,
    errors=(503,),
)
async def operators(request: Request) -> Response:
    rows = await services(request).operators.all()
    body: r.OperatorList = {"operators": [r.operator(o) for o in rows]}
    return JSON(body)


@endpoint(
    "POST",
    "/v1/admin/operators",
    "Create an operator",
    auth="operator",
    can=Can.MANAGE,
    ok=201,
    response=r.OperatorInfo,
    body=OperatorBody,
    errors=(409, 503, *BODY_ERRORS),
)
async def create_operator(request: Request) -> Response:
    body = await read(request, OperatorBody)
    made = await services(request).operators.create(
        body.username, body.password, body.role, actor(request)
    )
    return JSON(r.operator(made), status_code=201)


@endpoint(
    "POST",
    "/v1/admin/operators/{username}/disable",
    "Disable an operator (ends their sessions); not yourself",
    auth="operator",
    can=Can.MANAGE,
    response=r.OperatorInfo,
    errors=(404, 409, 503),
)
async def disable_operator(request: Request) -> Response:
    done = await services(request).operators.set_disabled(
        request.path_params["username"], True, actor(request)
    )
    return JSON(r.operator(done))


@endpoint(
    "POST",
    "/v1/admin/operators/{username}/enable",
    "Enable an operator again",
    auth="operator",
    can=Can.MANAGE,
    response=r.OperatorInfo,
    errors=(404, 503),
)
async def enable_operator(request: Request) -> Response:
    done = await services(request).operators.set_disabled(
        request.path_params["username"], False, actor(request)
    )
    return JSON(r.operator(done))


@endpoint(
    "GET",
    "/v1/admin/tokens",
    "API tokens (never their secrets)",
    auth="operator",
    can=Can.MANAGE,
    response=r.TokenList,
    errors=(503,),
)
async def tokens(request: Request) -> Response:
    rows = await services(request).operators.tokens()
    body: r.TokenList = {"tokens": [r.token(t) for t in rows]}
    return JSON(body)


@endpoint(
    "POST",
    "/v1/admin/tokens",
    "Create an API token (its secret is shown this once)",
    auth="operator",
    can=Can.MANAGE,
    ok=201,
    response=r.NewToken,
    body=TokenBody,
    errors=(409, 503, *BODY_ERRORS),
)
async def create_token(request: Request) -> Response:
    body = await read(request, TokenBody)
    made, secret = await services(request).operators.create_token(
        body.name, body.scope, actor(request)
    )
    out: r.NewToken = {**r.token(made), "token": secret}
    return JSON(out, status_code=201)  # no-store, as every private answer (middleware)


@endpoint(
    "DELETE",
    "/v1/admin/tokens/{name}",
    "Revoke an API token",
    auth="operator",
    can=Can.MANAGE,
    ok=204,
    response=None,
    errors=(404, 503),
)
async def revoke_token(request: Request) -> Response:
    await services(request).operators.revoke_token(request.path_params["name"], actor(request))
    return Response(status_code=204)
