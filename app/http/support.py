"""After the win: a winner's delivery address, operators shipping physical
prizes, and the user lookup for disputes (SPEC §3)."""

from __future__ import annotations

import csv
import io
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from app.domain.errors import ValidationFailed
from app.domain.operators import Can
from app.http.bodies import (
    DeliveryBody,
    ShipBody,
    encode_cursor,
    query_cursor,
    query_format,
    query_int,
    read,
)
from app.http.endpoint import BODY_ERRORS, Endpoints, actor, as_player, services
from app.http.errors import JSON
from app.http.responses import support as rs
from app.http.spreadsheet import row as safe_row

endpoint = Endpoints()


@endpoint(
    "PUT",
    "/v1/me/draws/{draw_id}/delivery",
    "Where the caller's physical prize goes (until it is shipped)",
    auth="player",
    response=rs.Delivery,
    body=DeliveryBody,
    errors=(404, 409, 503, *BODY_ERRORS),
)
async def give_address(request: Request) -> Response:
    s, user = as_player(request)
    body = await read(request, DeliveryBody)
    await s.written()  # embedded: the win just drawn can be given an address at once
    done = await s.support.give_address(
        user, request.path_params["draw_id"], body.name, body.phone, body.address
    )
    return JSON(rs.delivery(done.draw_id, done))


@endpoint(
    "GET",
    "/v1/admin/activities/{id:rowid}/deliveries",
    "Physical wins and where each stands: awaiting address, address given, shipped",
    auth="operator",
    can=Can.EDIT,
    response=rs.PhysicalWins,
    errors=(404, 422, 503),
    query=(("limit", int), ("cursor", str)),
)
async def deliveries(request: Request) -> Response:
    s = services(request)
    limit = query_int(request, "limit", 200, 1, 1000)
    cursor = query_cursor(request, 1)
    rows = await s.support.physical_wins(
        request.path_params["id"], after_id=cursor[0] if cursor else 0, limit=limit
    )
    nxt = encode_cursor(rows[-1][0].id) if len(rows) == limit else None
    out: rs.PhysicalWins = {
        "deliveries": [rs.physical_win(d, found) for d, found in rows],
        "next_cursor": nxt,
    }
    return JSON(out)


@endpoint(
    "POST",
    "/v1/admin/deliveries/{draw_id}/ship",
    "Mark a physical prize shipped, with a tracking note",
    auth="operator",
    can=Can.EDIT,
    response=rs.Delivery,
    body=ShipBody,
    errors=(404, 409, 503, *BODY_ERRORS),
)
async def ship(request: Request) -> Response:
    s, by = services(request), actor(request)
    body = await read(request, ShipBody)
    done = await s.support.ship(request.path_params["draw_id"], body.tracking, by)
    return JSON(rs.delivery(done.draw_id, done))


@endpoint(
    "GET",
    "/v1/admin/users/{user_id}",
    "Dispute lookup: a user's draws with proofs, wins, codes, grants, limits used, blacklist",
    auth="operator",
    can=Can.READ,
    response=rs.UserLookup,
    errors=(422, 503),
)
async def user_lookup(request: Request) -> Response:
    s = services(request)
    user_id: str = request.path_params["user_id"]
    await s.written()
    return JSON(rs.user_lookup(await s.support.lookup(user_id[:64])))


@endpoint(
    "GET",
    "/v1/admin/activities/{id:rowid}/report",
    "Per campaign day: draws, players, wins and their cost per prize",
    auth="operator",
    can=Can.READ,
    response=rs.Report,
    csv=True,
    errors=(404, 422, 503),
    query=(("format", Literal["json", "csv"]),),
)
async def report(request: Request) -> Response:
    s = services(request)
    aid: int = request.path_params["id"]
    fmt = query_format(request)
    rep = await s.support.report(aid)
    if fmt == "json":
        return JSON(rs.report(aid, rep))
    fields, rows = rs.report_csv(rep)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(safe_row(row))
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="report-{aid}.csv"'},
    )


@endpoint(
    "GET",
    "/v1/admin/activities/{id:rowid}/history",
    "A round's saved draws and wins over its last minutes, in 10 s steps (the live charts' start)",
    auth="operator",
    can=Can.READ,
    response=rs.RoundHistory,
    errors=(404, 422, 503),
    query=(("round", str), ("minutes", int)),
)
async def round_history(request: Request) -> Response:
    s = services(request)
    ref = request.query_params.get("round")
    if not ref:
        raise ValidationFailed("round: required (a round id, or its YYYYMMDD:i)", field="round")
    minutes = query_int(request, "minutes", 10, 1, 60)
    round_id, samples = await s.support.recent(request.path_params["id"], ref, minutes)
    return JSON(rs.round_history(round_id, 10_000, samples))
