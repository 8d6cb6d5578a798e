"""For players: the draw, their history, grants and notifications, and the
scheduled lotteries they create and join."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.domain.losses import history_key
from app.domain.records import LotteryRecord
from app.http import responses as r
from app.http.bodies import (
    DrawBody,
    LotteryBody,
    encode_cursor,
    query_activity,
    query_cursor,
    query_int,
    read,
    receive_body,
)
from app.http.client_ip import client_ip
from app.http.endpoint import BODY_ERRORS, Endpoints, as_player, authorization, services
from app.http.errors import JSON
from app.http.fastpath import ARRIVED, perform_draw
from app.http.responses.draws import delivery_status
from app.services.container import Services

endpoint = Endpoints()
LIST_QUERY = (("limit", int), ("cursor", str))
LOTTERY_ERRORS = (404, 409, 429, 503)  # 429: the per-player write limits


@endpoint(
    "POST",
    "/v1/draw",
    "One draw, or with count up to 10 in one request",
    auth="player",
    response=r.Draw | r.Batch,
    body=DrawBody,
    errors=(403, 404, 409, 429, 503, *BODY_ERRORS),
)
async def draw(request: Request) -> Response:
    """Normally served by ``DrawFastPath`` before the router sees it."""
    sent = request.headers
    body = await receive_body(request.receive, sent.get("content-length"), sent.get("content-type"))
    payload, headers = await perform_draw(
        services(request),
        authorization(request),
        request.headers.get("idempotency-key"),
        body,
        client_ip(request.scope),
        request.app.state.admission,
        request.scope.get(ARRIVED),
    )
    return JSON(payload, headers=headers)


@endpoint(
    "GET",
    "/v1/me/draws",
    "The caller's draws, newest first",
    auth="player",
    response=r.History,
    errors=(422, 503),
    query=(("activity_id", int), *LIST_QUERY),
)
async def my_draws(request: Request) -> Response:
    s, user = as_player(request)
    limit = query_int(request, "limit", 20, 1, 100)
    before = query_cursor(request, 2)
    await s.written()  # embedded: one's own last draw is in it
    rows = await s.draws.history(
        user,
        activity_id=query_activity(request),
        limit=limit,
        before=(before[0], before[1]) if before else None,
    )
    nxt = encode_cursor(*history_key(rows[-1].record)) if len(rows) == limit else None
    found = await s.support.deliveries_of(rows)
    entries = []
    for d in rows:
        entry = r.history_entry(d)
        status = delivery_status(d, found)
        if status is not None:
            entry["delivery"] = status
        entries.append(entry)
    body: r.History = {"draws": entries, "next_cursor": nxt}
    return JSON(body)


@endpoint(
    "GET",
    "/v1/me/grants",
    "The caller's grants (draw chances), newest first",
    auth="player",
    response=r.GrantList,
    errors=(422, 503),
    query=(("activity_id", int), ("limit", int)),
)
async def my_grants(request: Request) -> Response:
    s, user = as_player(request)
    limit = query_int(request, "limit", 20, 1, 100)
    rows = await s.grants.all_of_user(user, query_activity(request), limit)
    body: r.GrantList = {"grants": [r.grant(g, *await s.grants.state(g)) for g in rows]}
    return JSON(body)


@endpoint(
    "GET",
    "/v1/me/grants/{grant_id}",
    "One of the caller's grants (another user's is 404)",
    auth="player",
    response=r.Grant,
    errors=(404, 503),
)
async def my_grant(request: Request) -> Response:
    s, user = as_player(request)
    g = await s.grants.of_user(user, request.path_params["grant_id"])
    return JSON(r.grant(g, *await s.grants.state(g)))


@endpoint(
    "GET",
    "/v1/me/notifications",
    "The caller's notifications, newest first",
    auth="player",
    response=r.Notifications,
    errors=(422, 503),
    query=LIST_QUERY,
)
async def my_notifications(request: Request) -> Response:
    s, user = as_player(request)
    limit = query_int(request, "limit", 20, 1, 100)
    got = query_cursor(request, 3)
    before = (got[0], got[1], got[2]) if got else None  # each list's place: notices.of_user
    await s.written()
    rows = await s.account.notifications(user, limit, before)
    nxt = encode_cursor(*rows[-1].cursor) if len(rows) == limit else None
    return JSON({"notifications": [r.notification(n) for n in rows], "next_cursor": nxt})


# -- scheduled lotteries ---------------------------------------------------------------


async def lottery_body(s: Services, rec: LotteryRecord, user: str | None) -> r.Lottery:
    status = s.lotteries.status(rec)
    if user is None:
        return r.lottery(rec, status)
    joined = await s.lotteries.is_participant(rec.id, user)
    return r.lottery_for(rec, status, user, joined)


@endpoint(
    "GET",
    "/v1/me/lotteries",
    "The lotteries the caller created or joined, newest first (up to 100)",
    auth="player",
    response=r.MyLotteries,
    errors=(503,),
)
async def my_lotteries(request: Request) -> Response:
    s, user = as_player(request)
    found = await s.lotteries.of_user(user)
    body: r.MyLotteries = {
        "lotteries": [
            r.my_lottery(rec, s.lotteries.status(rec), user, joined, won)
            for rec, joined, won in found
        ]
    }
    return JSON(body)


@endpoint(
    "POST",
    "/v1/lotteries",
    "Create a scheduled lottery",
    auth="player",
    ok=201,
    response=r.LotteryForViewer,
    body=LotteryBody,
    errors=(429, 503, *BODY_ERRORS),
)
async def create_lottery(request: Request) -> Response:
    s, user = as_player(request)
    body = await read(request, LotteryBody)
    rec = await s.lotteries.create(
        user, body.title, body.draw_at, body.prize.name, body.prize.quantity
    )
    return JSON(await lottery_body(s, rec, user), status_code=201)


@endpoint(
    "GET",
    "/v1/lotteries/{id:rowid}",
    "A scheduled lottery",
    auth="optional",
    response=r.Lottery | r.LotteryForViewer,
    errors=(404, 503),
)
async def lottery(request: Request) -> Response:
    s = services(request)
    viewer = s.auth.optional_user(authorization(request))
    return JSON(await lottery_body(s, await s.lotteries.get(request.path_params["id"]), viewer))


@endpoint(
    "DELETE",
    "/v1/lotteries/{id:rowid}",
    "Delete (creator; canceled or empty)",
    auth="player",
    ok=204,
    response=None,
    errors=LOTTERY_ERRORS,
)
async def delete_lottery(request: Request) -> Response:
    s, user = as_player(request)
    await s.lotteries.delete(request.path_params["id"], user)
    return Response(status_code=204)


@endpoint(
    "POST",
    "/v1/lotteries/{id:rowid}/join",
    "Join while open",
    auth="player",
    response=r.LotteryForViewer,
    errors=LOTTERY_ERRORS,
)
async def join_lottery(request: Request) -> Response:
    s, user = as_player(request)
    lid: int = request.path_params["id"]
    await s.lotteries.join(lid, user)
    return JSON(await lottery_body(s, await s.lotteries.get(lid), user))


@endpoint(
    "DELETE",
    "/v1/lotteries/{id:rowid}/join",
    "Leave while open",
    auth="player",
    response=r.LotteryForViewer,
    errors=LOTTERY_ERRORS,
)
async def leave_lottery(request: Request) -> Response:
    s, user = as_player(request)
    lid: int = request.path_params["id"]
    await s.lotteries.leave(lid, user)
    return JSON(await lottery_body(s, await s.lotteries.get(lid), user))


@endpoint(
    "POST",
    "/v1/lotteries/{id:rowid}/cancel",
    "Cancel (creator, while open)",
    auth="player",
    response=r.LotteryForViewer,
    errors=LOTTERY_ERRORS,
)
async def cancel_lottery(request: Request) -> Response:
    s, user = as_player(request)
    rec = await s.lotteries.cancel(request.path_params["id"], user)
    return JSON(await lottery_body(s, rec, user))
