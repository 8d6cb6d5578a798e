"""For operators and trusted backends: activities, publishing, stock, stats,
winners, the blacklist, and grants."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app import metrics
from app.domain import ids
from app.domain.activity import ActivityConfig
from app.domain.errors import NotFound, ValidationFailed
from app.domain.operators import Can
from app.domain.records import STATUSES
from app.http import responses as r
from app.http.bodies import (
    BlacklistBody,
    CodesBody,
    GrantBody,
    PreviewBody,
    TopUpBody,
    encode_cursor,
    query_cursor,
    query_format,
    query_int,
    read,
    read_json,
)
from app.http.endpoint import BODY_ERRORS, Endpoints, actor, services
from app.http.errors import JSON
from app.http.responses import planning as rp
from app.http.spreadsheet import row as safe_row
from app.services import planning
from app.services.activities import Pending

endpoint = Endpoints()


@endpoint(
    "POST",
    "/v1/grants",
    "Issue a draw chance (trusted backend)",
    auth="operator",
    can=Can.GRANT,
    ok=201,
    existed=True,
    response=r.Grant,
    body=GrantBody,
    errors=(404, 409, 503, *BODY_ERRORS),
)
async def grants(request: Request) -> Response:
    s = services(request)
    body = await read(request, GrantBody)
    g, created = await s.grants.create(body.activity_id, body.user_id, body.amount, body.reference)
    return JSON(r.grant(g, *await s.grants.state(g)), status_code=201 if created else 200)


@endpoint(
    "GET",
    "/v1/admin/blacklist",
    "Blacklisted users and IPs",
    auth="operator",
    can=Can.READ,
    response=r.Blacklist,
    errors=(503,),
)
async def blacklist(request: Request) -> Response:
    s = services(request)
    return JSON(r.blacklist(await s.guard.blacklist()))


@endpoint(
    "POST",
    "/v1/admin/blacklist",
    "Blacklist a user or an IP",
    auth="operator",
    can=Can.EDIT,
    ok=201,
    existed=True,
    response=r.Blacklisted,
    body=BlacklistBody,
    errors=(503, *BODY_ERRORS),
)
async def blacklist_add(request: Request) -> Response:
    s, by = services(request), actor(request)
    body = await read(request, BlacklistBody)
    created, value, reason = await s.guard.add(body.kind, body.value, body.reason, by)
    out: r.Blacklisted = {"kind": body.kind, "value": value, "reason": reason}  # as listed
    return JSON(out, status_code=201 if created else 200)


@endpoint(
    "DELETE",
    "/v1/admin/blacklist/{kind}/{value}",
    "Lift a blacklist entry",
    auth="operator",
    can=Can.EDIT,
    ok=204,
    response=None,
    errors=(404, 503),
)
async def blacklist_remove(request: Request) -> Response:
    s, by = services(request), actor(request)
    kind: str = request.path_params["kind"]
    if kind not in ("user", "ip"):
        raise NotFound(f"no blacklist of kind {kind!r}", code="not_found")
    await s.guard.remove(kind, request.path_params["value"], by)
    return Response(status_code=204)


@endpoint(
    "GET",
    "/v1/admin/activities",
    "Activities, newest first",
    auth="operator",
    can=Can.READ,
    response=r.Activities,
    errors=(422, 503),
    query=(
        ("limit", int),
        ("offset", int),
        ("status", Literal["draft", "pending_approval", "published", "archived"]),
    ),
)
async def list_activities(request: Request) -> Response:
    """Every activity but the archived ones, or those of one ``status``."""
    s = services(request)
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 10**9)
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"status: expected one of {', '.join(STATUSES)}", field="status")
    recs = await s.activities.latest(limit, offset, status)
    return JSON({"activities": [r.admin_activity(rec, s.clock.now_ms()) for rec in recs]})


@endpoint(
    "POST",
    "/v1/admin/activities/preview",
    "The rounds, release slices and budget a configuration makes, before saving it",
    auth="operator",
    can=Can.READ,
    response=rp.PlanPreview,
    body=PreviewBody,
    errors=BODY_ERRORS,
)
async def preview_activity(request: Request) -> Response:
    body = await read(request, PreviewBody)
    done = await planning.preview(body.config, body.players, body.taps)
    return JSON(rp.plan_preview(done))


@endpoint(
    "POST",
    "/v1/admin/activities/{id:rowid}/archive",
    "Put a draft away (it leaves the default list)",
    auth="operator",
    can=Can.EDIT,
    response=r.AdminActivity,
    errors=(404, 409, 503),
)
async def archive_activity(request: Request) -> Response:
    s, by = services(request), actor(request)
    return JSON(
        r.admin_activity(
            await s.activities.archive(request.path_params["id"], by), s.clock.now_ms()
        )
    )


@endpoint(
    "POST",
    "/v1/admin/activities/{id:rowid}/restore",
    "Bring an archived draft back",
    auth="operator",
    can=Can.EDIT,
    response=r.AdminActivity,
    errors=(404, 409, 503),
)
async def restore_activity(request: Request) -> Response:
    s, by = services(request), actor(request)
    rec = await s.activities.archive(request.path_params["id"], by, restore=True)
    return JSON(r.admin_activity(rec, s.clock.now_ms()))


@endpoint(
    "GET",
    "/v1/admin/activities/{id:rowid}/outcomes",
    "Draw answers so far by outcome: won, lost, each refusal code (live view)",
    auth="operator",
    can=Can.READ,
    response=rp.Outcomes,
    errors=(404, 503),
)
async def outcomes(request: Request) -> Response:
    s = services(request)
    aid: int = request.path_params["id"]
    await s.activities.get(aid)  # 404 for an activity that does not exist
    out: rp.Outcomes = {"activity_id": aid, "outcomes": metrics.activity_outcomes(aid)}
    return JSON(out)


@endpoint(
    "POST",
    "/v1/admin/activities",
    "Create an activity",
    auth="operator",
    can=Can.EDIT,
    ok=201,
    response=r.AdminActivity,
    body=ActivityConfig,
    errors=(503, *BODY_ERRORS),
)
async def create_activity(request: Request) -> Response:
    s, by = services(request), actor(request)
    rec = await s.activities.create(await read_json(request), by)
    return JSON(r.admin_activity(rec, s.clock.now_ms()), status_code=201)


@endpoint(
    "GET",
    "/v1/admin/activities/{id:rowid}",
    "An activity",
    auth="operator",
    can=Can.READ,
    response=r.AdminActivity,
    errors=(404, 503),
)
async def get_activity(request: Request) -> Response:
    s = services(request)
    return JSON(
        r.admin_activity(await s.activities.get(request.path_params["id"]), s.clock.now_ms())
    )


@endpoint(
    "PUT",
    "/v1/admin/activities/{id:rowid}",
    "Replace an activity (before it starts)",
    auth="operator",
    can=Can.EDIT,
    response=r.AdminActivity,
    body=ActivityConfig,
    errors=(404, 409, 503, *BODY_ERRORS),
)
async def replace_activity(request: Request) -> Response:
    s, by = services(request), actor(request)
    rec = await s.activities.replace(request.path_params["id"], await read_json(request), by)
    return JSON(r.admin_activity(rec, s.clock.now_ms()))


@endpoint(
    "POST",
    "/v1/admin/activities/{id:rowid}/publish",
    "Load rounds, stock, odds and seeds into Redis",
    auth="operator",
    can=Can.PUBLISH,
    response=r.Published,
    errors=(404, 422, 503),
)
async def publish(request: Request) -> Response:
    s, by = services(request), actor(request)
    done = await s.activities.publish(request.path_params["id"], by)
    if isinstance(done, Pending):  # four-eyes: another publisher approves
        return JSON(r.pending(done), status_code=202)
    return JSON(r.published(done))


@endpoint(
    "POST",
    "/v1/admin/activities/{id:rowid}/prizes/{key}/codes",
    "Add unique redemption codes to a coupon prize (each win takes one)",
    auth="operator",
    can=Can.EDIT,
    response=r.CodesAdded,
    body=CodesBody,
    errors=(404, 409, 503, *BODY_ERRORS),
)
async def add_codes(request: Request) -> Response:
    s, by = services(request), actor(request)
    body = await read(request, CodesBody)
    done = await s.activities.add_codes(
        request.path_params["id"], request.path_params["key"], body.codes, by
    )
    out: r.CodesAdded = {"added": done.added, "available": done.available}
    return JSON(out)


@endpoint(
    "POST",
    "/v1/admin/activities/{id:rowid}/pause",
    "Emergency stop: every draw is refused (409 activity_paused) until resumed",
    auth="operator",
    can=Can.PUBLISH,
    response=r.AdminActivity,
    errors=(404, 409, 503),
)
async def pause(request: Request) -> Response:
    s, by = services(request), actor(request)
    rec = await s.activities.pause(request.path_params["id"], by, paused=True)
    return JSON(r.admin_activity(rec, s.clock.now_ms()))


@endpoint(
    "POST",
    "/v1/admin/activities/{id:rowid}/resume",
    "End an emergency stop: draws are served again",
    auth="operator",
    can=Can.PUBLISH,
    response=r.AdminActivity,
    errors=(404, 409, 503),
)
async def resume(request: Request) -> Response:
    s, by = services(request), actor(request)
    rec = await s.activities.pause(request.path_params["id"], by, paused=False)
    return JSON(r.admin_activity(rec, s.clock.now_ms()))


@endpoint(
    "POST",
    "/v1/admin/activities/{id:rowid}/stock",
    "Top up a round",
    auth="operator",
    can=Can.PUBLISH,
    response=r.ToppedUp,
    body=TopUpBody,
    errors=(404, 409, 503, *BODY_ERRORS),
)
async def topup(request: Request) -> Response:
    s, by = services(request), actor(request)
    body = await read(request, TopUpBody)
    done = await s.activities.topup(request.path_params["id"], body.round, body.prize, body.add, by)
    out: r.ToppedUp = {
        "round_id": done.round_id,
        "prize": done.prize,
        "quantity": done.quantity,
        "released": done.released,
    }
    return JSON(out)


@endpoint(
    "GET",
    "/v1/admin/activities/{id:rowid}/stats",
    "Stock, wins, draws and users per round",
    auth="operator",
    can=Can.READ,
    response=r.Stats,
    errors=(404, 422, 503),
    query=(("round", str), ("limit", int)),
)
async def stats(request: Request) -> Response:
    s = services(request)
    limit = query_int(request, "limit", 200, 1, 5000)
    rt, rounds = await s.activities.stats(
        request.path_params["id"], request.query_params.get("round"), limit
    )
    return JSON(r.stats(rt, rounds, s.clock.now_ms()))


@endpoint(
    "GET",
    "/v1/admin/activities/{id:rowid}/winners",
    "Winners export",
    auth="operator",
    can=Can.READ,
    response=r.Winners,
    csv=True,
    errors=(404, 422, 503),
    query=(("format", Literal["json", "csv"]), ("round", str), ("limit", int), ("cursor", str)),
)
async def winners(request: Request) -> Response:
    s = services(request)
    aid: int = request.path_params["id"]
    fmt = query_format(request)
    rnd = request.query_params.get("round")
    round_id = None if rnd is None else ids.scoped(aid, rnd)
    await s.written()
    if fmt == "json":
        limit = query_int(request, "limit", 1000, 1, 10_000)
        cursor = query_cursor(request, 1)
        after = cursor[0] if cursor else 0
        rows = await s.draws.winners(aid, round_id=round_id, after_id=after, limit=limit)
        nxt = encode_cursor(rows[-1].id) if len(rows) == limit else None
        found = await s.support.deliveries_of(rows)
        body: r.Winners = {
            "winners": [r.winner(d, found) for d in rows],
            "next_cursor": nxt,
        }
        return JSON(body)
    await s.activities.get(aid)

    async def lines() -> AsyncIterator[bytes]:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=r.WINNER_FIELDS, lineterminator="\r\n")
        writer.writeheader()
        async for page in s.draws.all_winners(aid, round_id=round_id):
            found = await s.support.deliveries_of(page)
            for d in page:
                # no formulas (OWASP)
                writer.writerow(safe_row(r.winner(d, found)))
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
        if out.tell():
            yield out.getvalue().encode()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="winners-{aid}.csv"'},
    )
