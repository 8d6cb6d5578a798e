"""HTTP edge: routes, request parsing, and the one place errors become responses.

Every error body is ``{"error": {"code", "message", ...}}``; no stack traces,
no HTML. Handlers stay thin: parse, call :class:`app.service.Redrain`, render.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import ipaddress
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
)
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from app import lotteries, metrics
from app.activity import describe
from app.exceptions import (
    BadGateway,
    Conflict,
    Forbidden,
    InvalidRequest,
    LimitReached,
    NotFound,
    PayloadTooLarge,
    RedrainError,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from app.repository import ActivityRecord, GrantRecord, LotteryRecord, StoredDraw
from app.service import Redrain, Runtime, iso
from app.tokens import USER_ID
from app.types import DrawResult, Limits, RoundPlan, RoundStats

log = logging.getLogger("redrain.api")
ROW_ID = re.compile("[0-9]{1,18}")
STATIC = Path(__file__).with_name("static")  # database ids: every match fits a signed BIGINT

MAX_BODY = 64 * 1024
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")

STATUS: dict[type[RedrainError], int] = {
    InvalidRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    ValidationFailed: 422,
    LimitReached: 429,
    BadGateway: 502,
    Unavailable: 503,
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(exc: RedrainError) -> JSON:
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 500)
    body: dict[str, Any] = {"error": {"code": exc.code, "message": exc.message, **exc.details}}
    if "next_round_start" in exc.details:  # also top level, where clients look first
        body["next_round_start"] = exc.details["next_round_start"]
    headers = {}
    if isinstance(exc, LimitReached) and exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = "1"
    return JSON(body, status_code=status, headers=headers)


async def on_redrain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RedrainError)
    if isinstance(exc, Unavailable):
        log.warning("unavailable: %s (%r)", exc.message, exc.__cause__)
    return error_response(exc)


async def on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSON(
        {"error": {"code": code, "message": message}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def on_unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return JSON({"error": {"code": "internal_error", "message": "internal error"}}, status_code=500)


EXCEPTION_HANDLERS = {
    RedrainError: on_redrain_error,
    HTTPException: on_http_error,
    Exception: on_unexpected,
}


# -- request parsing -----------------------------------------------------------


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than {MAX_BODY} bytes")


async def receive_body(receive: Receive, declared: bytes | str | None) -> bytes:
    """The request body from the ASGI messages, refusing more than MAX_BODY."""
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large()
    # Read directly: cheaper than Starlette's stream() generator, and a body
    # is nearly always one message.
    message = await receive()
    body = message.get("body", b"")
    while message.get("more_body", False):
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            raise _too_large()
    if message["type"] == "http.disconnect":
        raise InvalidRequest("the client disconnected", code="client_disconnected")
    if len(body) > MAX_BODY:
        raise _too_large()
    return bytes(body)


def parse_json(body: bytes) -> Any:
    if not body:
        raise InvalidRequest("request body must be JSON", code="invalid_json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"malformed JSON: {exc}", code="invalid_json") from exc


async def read_json(request: Request) -> Any:
    return parse_json(await receive_body(request.receive, request.headers.get("content-length")))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


PositiveId = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
UserId = Annotated[StrictStr, Field(pattern=USER_ID.pattern)]


class DrawBody(_Strict):
    activity_id: PositiveId
    client_seed: Annotated[StrictStr, Field(max_length=64, pattern=r"^[\x20-\x7e]*$")] = ""
    grant_id: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")] | None = None


class GrantBody(_Strict):
    user_id: UserId
    activity_id: PositiveId
    amount: Annotated[StrictInt, Field(ge=0, le=10**12)]
    reference: Annotated[StrictStr, Field(min_length=1, max_length=128)]


class LotteryPrize(_Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)]


class LotteryBody(_Strict):
    title: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    draw_at: Annotated[AwareDatetime, Field(strict=False)]  # ISO-8601 with an offset
    prize: LotteryPrize


class WechatBody(_Strict):
    code: Annotated[StrictStr, Field(min_length=1, max_length=128)]


class DevLoginBody(_Strict):
    user_id: UserId


class TopUpBody(_Strict):
    round: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    prize: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    add: Annotated[StrictInt, Field(ge=1, le=100_000_000)]


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object", field="")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, message = describe(exc)
        raise ValidationFailed(message, field=field) from exc


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ValidationFailed(f"{name}: expected an integer in [{lo}, {hi}]", field=name)
    return int(raw)


# -- rendering -----------------------------------------------------------------


def _utc(ts: dt.datetime | None) -> str | None:
    return None if ts is None else ts.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


def activity_body(rec: ActivityRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "status": rec.status,
        "version": rec.version,
        "created_at": _utc(rec.created_at),
        "updated_at": _utc(rec.updated_at),
        "published_at": _utc(rec.published_at),
        **rec.config.model_dump(mode="json", exclude_none=True),
    }


def _remaining(limit: int, used: int) -> int | None:
    return None if limit == 0 else max(0, limit - used)


def draw_body(rt: Runtime, result: DrawResult, seed_hash: str) -> dict[str, Any]:
    lim: Limits = rt.limits
    prize = result.prize
    return {
        "draw_id": result.draw_id,
        "round_id": result.round_id,
        "won": result.won,
        "prize": None
        if prize is None
        else {"key": prize.key, "type": prize.type.value, "name": prize.name, "value": prize.value},
        "remaining": {
            "round": _remaining(lim.per_round, result.counts.round),
            "day": _remaining(lim.per_day, result.counts.day),
            "total": _remaining(lim.total, result.counts.total),
        },
        "proof": {
            "seed_hash": seed_hash,
            "client_seed": result.client_seed,
            "nonce": result.nonce,
            "random": result.random,
        },
    }


def round_brief(rt: Runtime, rnd: RoundPlan, seed_hash: str) -> dict[str, Any]:
    zone = rt.config.zone
    return {
        "round_id": rnd.round_id,
        "start": iso(rnd.start_ms, zone),
        "end": iso(rnd.end_ms, zone),
        "seed_hash": seed_hash,
    }


def round_status(rnd: RoundPlan, now: int) -> str:
    if now < rnd.start_ms:
        return "upcoming"
    return "open" if now < rnd.end_ms else "ended"


def stats_body(rt: Runtime, rounds: list[RoundStats], now: int) -> dict[str, Any]:
    zone = rt.config.zone
    out = []
    for st in rounds:
        out.append(
            {
                "round_id": st.round_id,
                "start": iso(st.start_ms, zone),
                "end": iso(st.end_ms, zone),
                "status": "upcoming"
                if now < st.start_ms
                else ("open" if now < st.end_ms else "ended"),
                "draws": st.draws,
                "users": st.users,
                "prizes": [
                    {
                        "key": p.key,
                        "quantity": p.quantity,
                        "released": p.released,
                        "won": p.won,
                        "remaining": p.remaining,
                        "released_remaining": p.released_remaining,
                    }
                    for p in st.prizes
                ],
            }
        )
    return {
        "activity_id": rt.id,
        "version": rt.version,
        "rounds": out,
        "totals": {
            "draws": sum(st.draws for st in rounds),
            "won": sum(p.won for st in rounds for p in st.prizes),
        },
    }


def _utc_ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def stored_prize(d: StoredDraw) -> dict[str, Any] | None:
    if not d.record.won:
        return None
    return {
        "key": d.record.prize_key,
        "type": d.prize_type,
        "name": d.prize_name,
        "value": d.prize_value,
    }


def history_body(d: StoredDraw) -> dict[str, Any]:
    r = d.record
    return {
        "draw_id": r.draw_id,
        "activity_id": r.activity_id,
        "round_id": r.round_id,
        "won": r.won,
        "prize": stored_prize(d),
        "fulfilment": d.fulfilment,
        "grant_id": r.grant_id,
        "drawn_at": _utc_ms(r.drawn_at_ms),
        "proof": {"client_seed": r.client_seed, "nonce": r.nonce, "random": r.random},
    }


WINNER_FIELDS = (
    "draw_id",
    "round_id",
    "user_id",
    "prize_key",
    "prize_type",
    "prize_name",
    "prize_value",
    "fulfilment",
    "drawn_at",
)


def winner_row(d: StoredDraw) -> dict[str, Any]:
    r = d.record
    return {
        "draw_id": r.draw_id,
        "round_id": r.round_id,
        "user_id": r.user_id,
        "prize_key": r.prize_key,
        "prize_type": d.prize_type,
        "prize_name": d.prize_name,
        "prize_value": d.prize_value,
        "fulfilment": d.fulfilment,
        "drawn_at": _utc_ms(r.drawn_at_ms),
    }


def mask(user_id: str) -> str:
    """Enough of a winner's id to recognise oneself, not enough to identify others."""
    if len(user_id) <= 2:
        return user_id[:1] + "***"
    return f"{user_id[:2]}***{user_id[-1]}"


def encode_cursor(*parts: int) -> str:
    raw = ".".join(str(p) for p in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, n: int) -> tuple[int, ...]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        parts = tuple(int(p) for p in raw.split("."))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor: not a cursor this API returned", field="cursor") from exc
    if len(parts) != n:
        raise ValidationFailed("cursor: not a cursor this API returned", field="cursor")
    return parts


# -- handlers ------------------------------------------------------------------


def svc(request: Request) -> Redrain:
    service: Redrain = request.app.state.redrain
    return service


def _auth(request: Request) -> str | None:
    return request.headers.get("authorization")


async def metrics_page(request: Request) -> Response:
    """Prometheus text format: this process's (or every worker's) counters plus
    gauges of live stock and stream lag read from Redis now."""
    s = svc(request)
    live, streams = await s.live_snapshot()
    stock = [
        metrics.LiveStock(
            int(r.round_id.split(":")[0]), r.round_id, p.key, p.quantity, p.released, p.won
        )
        for r in live
        for p in r.prizes
        if p.quantity or p.released  # not the empty outcome
    ]
    lag = [metrics.StreamLag(rid, st.undelivered, st.pending) for rid, st in streams]
    return Response(metrics.exposition(stock, lag), media_type=metrics.CONTENT_TYPE)


async def console_page(request: Request) -> Response:
    return _page("console.html")


async def rain_page(request: Request) -> Response:
    return _page("rain.html")


def _page(name: str) -> Response:
    # No-store: a redeploy's page must not meet an old cached script.
    return Response(
        STATIC.joinpath(name).read_bytes(),
        media_type="text/html; charset=utf-8",
        headers={"cache-control": "no-store"},
    )


async def openapi(request: Request) -> Response:
    from app.openapi import document  # builds on this module's models

    return JSON(document())


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    s = svc(request)
    checks: dict[str, str] = {}
    try:
        await s.engine.ping()
        checks["redis"] = "ok"
    except Unavailable as exc:
        checks["redis"] = exc.message
    try:
        await s.db.ping()
        checks["database"] = "ok"
    except Unavailable as exc:
        checks["database"] = exc.message
    ready = all(v == "ok" for v in checks.values())
    if ready:
        return JSON({"status": "ready", **checks})
    return JSON(
        {"error": {"code": "unavailable", "message": "not ready", **checks}}, status_code=503
    )


async def dev_login(request: Request) -> Response:
    s = svc(request)
    if not s.settings.dev_login_enabled:
        raise HTTPException(404)
    body = parse(DevLoginBody, await read_json(request))
    token, ttl = s.issue_token(body.user_id)
    return JSON({"token": token, "user_id": body.user_id, "expires_in": ttl})


async def list_activities(request: Request) -> Response:
    s = svc(request)
    s.require_admin(_auth(request))
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 10**9)
    recs = await s.list_activities(limit, offset)
    return JSON({"activities": [activity_body(r) for r in recs]})


async def create_activity(request: Request) -> Response:
    s = svc(request)
    s.require_admin(_auth(request))
    rec = await s.create_activity(await read_json(request))
    return JSON(activity_body(rec), status_code=201)


async def activity_admin(request: Request) -> Response:
    s = svc(request)
    s.require_admin(_auth(request))
    aid: int = request.path_params["id"]
    if request.method == "PUT":
        rec = await s.replace_activity(aid, await read_json(request))
    else:
        rec = await s.activity(aid)
    return JSON(activity_body(rec))


async def publish(request: Request) -> Response:
    s = svc(request)
    s.require_admin(_auth(request))
    return JSON(await s.publish(request.path_params["id"]))


async def topup(request: Request) -> Response:
    s = svc(request)
    s.require_admin(_auth(request))
    body = parse(TopUpBody, await read_json(request))
    return JSON(await s.topup(request.path_params["id"], body.round, body.prize, body.add))


async def stats(request: Request) -> Response:
    s = svc(request)
    s.require_admin(_auth(request))
    limit = query_int(request, "limit", 200, 1, 5000)
    rt, rounds = await s.stats(request.path_params["id"], request.query_params.get("round"), limit)
    return JSON(stats_body(rt, rounds, s.now_ms()))


async def public_activity(request: Request) -> Response:
    s = svc(request)
    user = s.require_user(_auth(request)) if _auth(request) else None
    rt = await s.fresh_runtime(request.path_params["id"])
    now = s.now_ms()
    current, nxt = rt.timeline.at(now)
    cfg = rt.config
    if now < rt.window[0]:
        status = "not_started"
    elif current is not None:
        status = "open"
    elif nxt is None:
        status = "ended"
    else:
        status = "closed"
    body: dict[str, Any] = cfg.model_dump(
        mode="json",
        exclude_none=True,
        exclude={
            "sessions": {"__all__": {"pools": {"__all__": {"prizes": {"__all__": {"value"}}}}}}
        },
    )
    body.update(
        id=rt.id,
        status=status,
        server_time=iso(now, cfg.zone),
        current_round=round_brief(rt, current, (await s.seed_of(rt, current))[1])
        if current
        else None,
        next_round=round_brief(rt, nxt, (await s.seed_of(rt, nxt))[1]) if nxt else None,
    )
    if user is not None:
        in_round, in_day, in_total, wins = await s.user_counts(rt, user)
        lim = rt.limits
        body["remaining"] = {
            "round": _remaining(lim.per_round, in_round) if current else None,
            "day": _remaining(lim.per_day, in_day),
            "total": _remaining(lim.total, in_total),
            "wins": _remaining(lim.wins_total, wins),
        }
    return JSON(body)


class ClientIp:
    """The client's address: the peer's, or — only when the peer is a trusted
    proxy — the one its client-IP header carries (for X-Forwarded-For, the
    right-most address that is not itself a trusted proxy)."""

    def __init__(self, trusted: str, header: str) -> None:
        self.networks = [
            ipaddress.ip_network(p.strip(), strict=False) for p in trusted.split(",") if p.strip()
        ]
        self.header = header.encode()

    def trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def __call__(self, scope: Scope) -> str:
        peer = scope["client"][0] if scope.get("client") else ""
        if not self.header or not self.trusted(peer):
            return str(peer)
        raw = next((v for k, v in scope["headers"] if k == self.header), None)
        if raw is None:
            return str(peer)
        text: str = raw.decode("latin-1")
        hops = [h.strip() for h in text.split(",") if h.strip()]
        if self.header == b"x-forwarded-for":
            for hop in reversed(hops):
                if not self.trusted(hop):
                    return hop
            return hops[0] if hops else str(peer)
        return hops[0] if hops else str(peer)


def client_ip(scope: Scope) -> str:
    resolve: ClientIp = scope["app"].state.client_ip  # set where the app is built
    return resolve(scope)


async def perform_draw(
    s: Redrain,
    authorization: str | None,
    idempotency_key: str | None,
    body: bytes,
    ip: str = "",
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """POST /v1/draw from its raw inputs: the body and extra response headers."""
    user = s.require_user(authorization)
    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        raise InvalidRequest(
            "Idempotency-Key must be 1-64 characters of A-Z a-z 0-9 _ - : .",
            code="invalid_idempotency_key",
        )
    data = parse(DrawBody, parse_json(body))
    rt, result = await s.draw(
        user,
        data.activity_id,
        client_seed=data.client_seed,
        idempotency_key=idempotency_key,
        grant_id=data.grant_id,
        client_ip=ip,
    )
    rnd = rt.timeline.by_sfx.get(result.round_id.partition(":")[2])
    seed_hash = (await s.seed_of(rt, rnd))[1] if rnd else ""
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return draw_body(rt, result, seed_hash), headers


async def draw_with(s: Redrain, request: Request) -> Response:
    body = await receive_body(request.receive, request.headers.get("content-length"))
    payload, headers = await perform_draw(
        s, _auth(request), request.headers.get("idempotency-key"), body, client_ip(request.scope)
    )
    return JSON(payload, headers=headers)


async def draw(request: Request) -> Response:
    return await draw_with(svc(request), request)


async def draw_baseline(request: Request) -> Response:
    """The same draw through redis-py's register_script (benchmark baseline)."""
    baseline: Redrain | None = getattr(request.app.state, "baseline", None)
    if baseline is None:
        raise HTTPException(404)
    return await draw_with(baseline, request)


_JSON_TYPE = (b"content-type", b"application/json")


class DrawFastPath:
    """ASGI middleware serving ``POST /v1/draw`` without Starlette's router,
    exception middleware and Request/Response objects: the same
    :func:`perform_draw` and error rendering, a fifth less CPU per draw
    (docs/performance.md). Everything else goes to the Starlette app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/draw" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        authorization = idempotency_key = declared = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key":
                idempotency_key = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        service: Redrain = scope["app"].state.redrain
        started = time.perf_counter()
        try:
            body = await receive_body(receive, declared)
            payload, extra = await perform_draw(
                service, authorization, idempotency_key, body, client_ip(scope)
            )
        except RedrainError as exc:
            if isinstance(exc, Unavailable):
                log.warning("unavailable: %s (%r)", exc.message, exc.__cause__)
            error = error_response(exc)
            status, content, headers = error.status_code, bytes(error.body), error.raw_headers
            metrics.count_draw(exc.code, time.perf_counter() - started)
        else:
            metrics.count_draw("won" if payload["won"] else "lost", time.perf_counter() - started)
            status, content = 200, orjson.dumps(payload)
            headers = [_JSON_TYPE, (b"content-length", str(len(content)).encode())]
            if extra:
                headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def round_info(request: Request) -> Response:
    s = svc(request)
    round_id: str = request.path_params["round_id"]
    aid_text, _, sfx = round_id.partition(":")
    if not aid_text.isdigit():
        raise NotFound(f"round {round_id!r} does not exist", code="round_not_found")
    rt = await s.fresh_runtime(int(aid_text))
    rnd = rt.timeline.by_sfx.get(sfx)
    if rnd is None:
        raise NotFound(f"round {round_id!r} does not exist", code="round_not_found")
    seed, seed_hash = await s.seed_of(rt, rnd)
    now = s.now_ms()
    ended = now >= rnd.end_ms
    shown = await s.winners(rt.id, round_id=rnd.round_id, after_id=0, limit=100) if ended else []
    body = {
        "activity_id": rt.id,
        **round_brief(rt, rnd, seed_hash),
        "status": round_status(rnd, now),
        "seed": seed.hex() if ended else None,
        "winners": [{"user": mask(d.record.user_id), "prize": d.prize_name} for d in shown]
        if ended
        else None,
        "prizes": [
            {"key": p.key, "type": p.type.value, "name": p.name, "quantity": p.quantity}
            for p in rnd.prizes
        ],
    }
    return JSON(body)


def query_activity(request: Request) -> int | None:
    """The optional ``activity_id`` filter: a row id, like the path's ``{id:rowid}``."""
    activity = request.query_params.get("activity_id")
    if activity is None:
        return None
    if not ROW_ID.fullmatch(activity):
        raise ValidationFailed("activity_id: expected an activity id", field="activity_id")
    return int(activity)


async def my_grants(request: Request) -> Response:
    s = svc(request)
    user = s.require_user(_auth(request))
    limit = query_int(request, "limit", 20, 1, 100)
    rows = await s.my_grants(user, query_activity(request), limit)
    return JSON({"grants": [await grant_body(s, g) for g in rows]})


async def my_grant(request: Request) -> Response:
    s = svc(request)
    user = s.require_user(_auth(request))
    return JSON(await grant_body(s, await s.my_grant(user, request.path_params["grant_id"])))


async def my_draws(request: Request) -> Response:
    s = svc(request)
    user = s.require_user(_auth(request))
    limit = query_int(request, "limit", 20, 1, 100)
    cursor = request.query_params.get("cursor")
    before = decode_cursor(cursor, 2) if cursor else None
    rows = await s.my_draws(
        user,
        activity_id=query_activity(request),
        limit=limit,
        before=(before[0], before[1]) if before else None,
    )
    nxt = encode_cursor(rows[-1].record.drawn_at_ms, rows[-1].id) if len(rows) == limit else None
    return JSON({"draws": [history_body(d) for d in rows], "next_cursor": nxt})


async def winners(request: Request) -> Response:
    s = svc(request)
    s.require_admin(_auth(request))
    aid: int = request.path_params["id"]
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValidationFailed("format: expected json or csv", field="format")
    rnd = request.query_params.get("round")
    round_id = None if rnd is None else (rnd if rnd.startswith(f"{aid}:") else f"{aid}:{rnd}")
    if fmt == "json":
        limit = query_int(request, "limit", 1000, 1, 10_000)
        cursor = request.query_params.get("cursor")
        after = decode_cursor(cursor, 1)[0] if cursor else 0
        rows = await s.winners(aid, round_id=round_id, after_id=after, limit=limit)
        nxt = encode_cursor(rows[-1].id) if len(rows) == limit else None
        return JSON({"winners": [winner_row(d) for d in rows], "next_cursor": nxt})
    await s.activity(aid)

    async def lines() -> AsyncIterator[bytes]:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=WINNER_FIELDS, lineterminator="\r\n")
        writer.writeheader()
        async for page in s.all_winners(aid, round_id=round_id):
            for d in page:
                writer.writerow(winner_row(d))
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


# Starlette tries routes in order: the hot ones first.
class BlacklistBody(_Strict):
    kind: Literal["user", "ip"]
    value: Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-@.:]+$")]
    reason: Annotated[StrictStr, Field(max_length=200)] = ""


async def blacklist(request: Request) -> Response:
    s = svc(request)
    s.require_admin(_auth(request))
    if request.method == "POST":
        body = parse(BlacklistBody, await read_json(request))
        if body.kind == "ip":
            try:
                ipaddress.ip_address(body.value)
            except ValueError as exc:
                raise ValidationFailed("value: not an IP address", field="value") from exc
        created = await s.blacklist_add(body.kind, body.value, body.reason)
        return JSON(
            {"kind": body.kind, "value": body.value, "reason": body.reason},
            status_code=201 if created else 200,
        )
    entries = await s.blacklist()
    return JSON(
        {
            "entries": [
                {
                    "kind": e.kind,
                    "value": e.value,
                    "reason": e.reason,
                    "created_at": _iso_utc(e.created_at),
                }
                for e in entries
            ]
        }
    )


async def blacklist_entry(request: Request) -> Response:
    s = svc(request)
    s.require_admin(_auth(request))
    kind: str = request.path_params["kind"]
    if kind not in ("user", "ip"):
        raise NotFound(f"no blacklist of kind {kind!r}", code="not_found")
    await s.blacklist_remove(kind, request.path_params["value"])
    return Response(status_code=204)


async def grants(request: Request) -> Response:
    s = svc(request)
    s.require_admin(_auth(request))
    body = parse(GrantBody, await read_json(request))
    grant, created = await s.create_grant(
        body.activity_id, body.user_id, body.amount, body.reference
    )
    return JSON(await grant_body(s, grant), status_code=201 if created else 200)


async def grant_body(s: Redrain, grant: GrantRecord) -> dict[str, Any]:
    used, draw_id = await s.grant_state(grant)
    return {
        "grant_id": grant.id,
        "user_id": grant.user_id,
        "activity_id": grant.activity_id,
        "amount": grant.amount,
        "reference": grant.reference,
        "created_at": _iso_utc(grant.created_at),
        "used": used,
        "draw_id": draw_id,
    }


def _iso_utc(t: dt.datetime | None) -> str | None:
    return None if t is None else t.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


async def lottery_body(s: Redrain, rec: LotteryRecord, user: str | None) -> dict[str, Any]:
    status = s.lotteries.status(rec)
    drawn = status == lotteries.DRAWN
    body: dict[str, Any] = {
        "id": rec.id,
        "title": rec.title,
        "creator": mask(rec.creator),
        "draw_at": _iso_utc(rec.draw_at),
        "prize": {"name": rec.prize_name, "quantity": rec.quantity},
        "status": lotteries.NAMES[status],
        "status_code": status,
        "participants": rec.participants,
        "seed_hash": rec.seed_hash,
        "seed": rec.seed if drawn else None,
        "drawn_at": _iso_utc(rec.drawn_at),
        "winners": [mask(u) for u in rec.winners] if drawn else None,
    }
    if user is not None:
        body["is_creator"] = user == rec.creator
        body["joined"] = await s.db.is_participant(rec.id, user)
        body["won"] = (user in rec.winners) if drawn else None
    return body


async def create_lottery(request: Request) -> Response:
    s = svc(request)
    user = s.require_user(_auth(request))
    body = parse(LotteryBody, await read_json(request))
    rec = await s.lotteries.create(
        user, body.title, body.draw_at, body.prize.name, body.prize.quantity
    )
    return JSON(await lottery_body(s, rec, user), status_code=201)


async def lottery(request: Request) -> Response:
    s = svc(request)
    lid: int = request.path_params["id"]
    if request.method == "DELETE":
        await s.lotteries.delete(lid, s.require_user(_auth(request)))
        return Response(status_code=204)
    viewer = s.require_user(_auth(request)) if _auth(request) else None
    return JSON(await lottery_body(s, await s.lotteries.get(lid), viewer))


async def lottery_join(request: Request) -> Response:
    s = svc(request)
    user = s.require_user(_auth(request))
    lid: int = request.path_params["id"]
    if request.method == "DELETE":
        await s.lotteries.leave(lid, user)
    else:
        await s.lotteries.join(lid, user)
    return JSON(await lottery_body(s, await s.lotteries.get(lid), user))


async def lottery_cancel(request: Request) -> Response:
    s = svc(request)
    user = s.require_user(_auth(request))
    rec = await s.lotteries.cancel(request.path_params["id"], user)
    return JSON(await lottery_body(s, rec, user))


async def my_notifications(request: Request) -> Response:
    s = svc(request)
    user = s.require_user(_auth(request))
    limit = query_int(request, "limit", 20, 1, 100)
    cursor = request.query_params.get("cursor")
    before = decode_cursor(cursor, 1)[0] if cursor else None
    rows = await s.notifications(user, limit, before)
    items = [
        {"id": n.id, "kind": n.kind, "created_at": _iso_utc(n.created_at), **n.payload}
        for n in rows
    ]
    nxt = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return JSON({"notifications": items, "next_cursor": nxt})


async def wechat_login(request: Request) -> Response:
    s = svc(request)
    body = parse(WechatBody, await read_json(request))
    token, user_id, ttl = await s.wechat_login(body.code)
    return JSON({"token": token, "user_id": user_id, "expires_in": ttl})


class RowId(Convertor[int]):
    """Database ids: at most 18 digits so every match fits a signed BIGINT;
    longer numbers fall through to the router's 404."""

    regex = ROW_ID.pattern

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("rowid", RowId())

ROUTES = [
    Route("/v1/draw", draw, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/metrics", metrics_page, methods=["GET"]),
    Route("/console", console_page, methods=["GET"]),
    Route("/rain/{id:rowid}", rain_page, methods=["GET"]),
    # The pages' scripts and styles (no build step): app/static.
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/v1/auth/dev", dev_login, methods=["POST"]),
    Route("/v1/auth/wechat", wechat_login, methods=["POST"]),
    Route("/v1/grants", grants, methods=["POST"]),
    Route("/v1/admin/blacklist", blacklist, methods=["GET", "POST"]),
    Route("/v1/admin/blacklist/{kind}/{value}", blacklist_entry, methods=["DELETE"]),
    Route("/v1/lotteries", create_lottery, methods=["POST"]),
    Route("/v1/lotteries/{id:rowid}", lottery, methods=["GET", "DELETE"]),
    Route("/v1/lotteries/{id:rowid}/join", lottery_join, methods=["POST", "DELETE"]),
    Route("/v1/lotteries/{id:rowid}/cancel", lottery_cancel, methods=["POST"]),
    Route("/v1/me/notifications", my_notifications, methods=["GET"]),
    Route("/v1/admin/activities", list_activities, methods=["GET"]),
    Route("/v1/admin/activities", create_activity, methods=["POST"]),
    Route("/v1/admin/activities/{id:rowid}", activity_admin, methods=["GET", "PUT"]),
    Route("/v1/admin/activities/{id:rowid}/publish", publish, methods=["POST"]),
    Route("/v1/admin/activities/{id:rowid}/stock", topup, methods=["POST"]),
    Route("/v1/admin/activities/{id:rowid}/stats", stats, methods=["GET"]),
    Route("/v1/admin/activities/{id:rowid}/winners", winners, methods=["GET"]),
    Route("/v1/me/draws", my_draws, methods=["GET"]),
    Route("/v1/me/grants", my_grants, methods=["GET"]),
    Route("/v1/me/grants/{grant_id}", my_grant, methods=["GET"]),
    Route("/v1/activities/{id:rowid}", public_activity, methods=["GET"]),
    Route("/bench/draw-baseline", draw_baseline, methods=["POST"]),
    Route("/v1/rounds/{round_id}", round_info, methods=["GET"]),
]
