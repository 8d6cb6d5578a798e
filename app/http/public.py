"""For anyone: an activity's public rules and odds, and a round's proof."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from app.domain import ids
from app.domain.errors import NotFound
from app.http import responses as r
from app.http.endpoint import Endpoints, authorization, services
from app.http.errors import JSON

endpoint = Endpoints()
_ROUND_ID = re.compile(r"\d{1,18}:\d{8}:\d{1,4}")  # "<activity>:<YYYYMMDD>:<session>"


@endpoint(
    "GET",
    "/v1/activities/{id:rowid}",
    "Public rules, odds, rounds, remaining chances",
    auth="optional",
    response=r.PublicActivity,
    errors=(404, 503),
)
async def public_activity(request: Request) -> Response:
    s = services(request)
    user = s.auth.optional_user(authorization(request))
    rt = await s.runtimes.fresh(request.path_params["id"])
    now = s.clock.now_ms()
    current, nxt = rt.timeline.at(now)
    current_brief = (
        r.round_brief(rt, current, (await s.runtimes.seed_of(rt, current))[1]) if current else None
    )
    next_brief = r.round_brief(rt, nxt, (await s.runtimes.seed_of(rt, nxt))[1]) if nxt else None
    counts = await s.draws.user_counts(rt, user) if user is not None else None
    paused = await s.runtimes.paused(rt.id)
    return JSON(r.public_activity(rt, now, current_brief, next_brief, counts, paused))


@endpoint(
    "GET",
    "/v1/rounds/{round_id}",
    "A round: status, seed hash, seed and winners once ended",
    response=r.RoundInfo,
    errors=(404, 503),
)
async def round_info(request: Request) -> Response:
    s = services(request)
    round_id: str = request.path_params["round_id"]
    ref = ids.parse_round(round_id)
    if ref is None:
        raise NotFound(f"round {round_id[:80]!r} does not exist", code="round_not_found")
    rt = await s.runtimes.fresh(ref.activity_id)
    rnd = rt.round(ref.sfx)
    if rnd is None:
        raise NotFound(f"round {round_id[:80]!r} does not exist", code="round_not_found")
    seed, seed_hash = await s.runtimes.seed_of(rt, rnd)
    now = s.clock.now_ms()
    shown = None
    if now >= rnd.end_ms:
        shown = await s.draws.winners(rt.id, round_id=rnd.round_id, after_id=0, limit=100)
    return JSON(r.round_info(rt, rnd, seed, seed_hash, shown, now))


@endpoint(
    "GET",
    "/v1/rounds/{round_id}/bundle",
    "An ended round's public audit bundle (gzip JSON lines; players as pseudonyms)",
    response=bytes,
    media="application/gzip",
    errors=(404, 409, 413, 503),
)
async def round_bundle(request: Request) -> Response:
    s = services(request)
    round_id: str = request.path_params["round_id"]
    if not _ROUND_ID.fullmatch(round_id):
        raise NotFound(f"round {round_id[:80]!r} does not exist", code="round_not_found")
    data = await s.bundles.public(round_id)
    return Response(
        data,
        media_type="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="round-{round_id.replace(":", "-")}'
            '.jsonl.gz"'
        },
    )
