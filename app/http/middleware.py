"""Every answer, once: its common headers, its count, and the last resort for a bug.

:class:`Outcomes` is the outermost middleware: every answer passes through it —
the draw fast path's (``app.http.fastpath``, which it calls itself), the
router's, a refusal, the last resort's 500. It marks each ``X-Content-Type-Options: nosniff``, each
answer of a route that depends on who asks (``private``: a token, a session,
or credentials being issued) ``Cache-Control: no-store`` (SPEC §3), counts
each by route and status (``redrain_http_responses_total``, so monitoring
sees 5xx anywhere), and turns an exception nothing handled into one logged
traceback and the usual JSON 500 — Starlette's own last resort would log it,
re-raise it for uvicorn to log again, and answer in plain text.

It also names each request (``X-Request-Id``, app/logs.py): the id is set
for every line logged while the request is served and sent back on its
answer, and with ``access_log`` one line per answer is logged at its end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import logs, metrics
from app.http.errors import INTERNAL

log = logging.getLogger("redrain.http")

NOSNIFF = (b"x-content-type-options", b"nosniff")  # browsers trust the content type we send
NO_STORE = (b"cache-control", b"no-store")  # no cache keeps what one caller was told
PUBLIC = (NOSNIFF,)
PRIVATE = (NOSNIFF, NO_STORE)
_BODY = orjson.dumps(INTERNAL)
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    *PRIVATE,  # a 500 is nobody's to keep
]


# A route served ahead of the router renders its answer; this middleware sends it.
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, headers, body
Handler = Callable[[Scope, Receive], Awaitable[Answer]]
DRAW = "/v1/draw"
REQUEST_ID = b"x-request-id"
# Scope keys the draw's fast path fills for the access log: its answer's
# body (the draw ids) or the refusal's error code.
DRAWN = "redrain.drawn"
REFUSED = "redrain.refused"


def route_label(scope: Scope) -> str:
    """The matched route's template (bounded label values), or ``unmatched``."""
    route = scope.get("route")
    return str(getattr(route, "path_format", None) or getattr(route, "path", "unmatched"))


class Outcomes:
    """``draw`` serves ``POST /v1/draw`` (``app.http.fastpath``): its answer
    is sent from here without the Starlette app, and without wrapping
    ``send``, so the hot path pays only for the headers and the count."""

    def __init__(
        self, app: ASGIApp, draw: Handler | None = None, access_log: logs.AccessLog | None = None
    ) -> None:
        self.app = app
        self.draw = draw
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        label = None
        sent = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID:
                sent = value
                break
        rid = logs.request_id(sent)
        named = logs.REQUEST_ID.set(rid)
        tag = (REQUEST_ID, rid.encode())
        started = time.perf_counter()
        try:
            if self.draw is not None and scope["path"] == DRAW and scope["method"] == "POST":
                label = DRAW
                answer = await self.draw(scope, receive)
                status = answer[0]
                headers = [*answer[1], *PRIVATE, tag]  # (a cached answer's list stays as it is)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": answer[2]})
                return

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    # The route is known by now: the router set it.
                    extra = PRIVATE if getattr(scope.get("route"), "private", False) else PUBLIC
                    message["headers"] = [*message.get("headers", ()), *extra, tag]
                await send(message)

            await self.app(scope, receive, sending)
        except Exception:
            label = label or route_label(scope)
            log.exception("unexpected error on %s %s", scope["method"], label)
            if status:  # the response had begun: nothing more can be said
                return
            status = 500
            await send({"type": "http.response.start", "status": 500, "headers": [*_HEADERS, tag]})
            await send({"type": "http.response.body", "body": _BODY})
        finally:
            label = label or route_label(scope)
            metrics.count_response(label, status or 500)
            if self.access_log is not None:
                log_answer(self.access_log, scope, rid, label, status or 500, started)
            logs.REQUEST_ID.reset(named)


def log_answer(
    access_log: logs.AccessLog,
    scope: Scope,
    request_id: str,
    route: str,
    status: int,
    started: float,
) -> None:
    """The access log's line for one answer."""
    fields: dict[str, Any] = {
        "request_id": request_id,
        "method": scope["method"],
        "route": route,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    drawn = scope.get(DRAWN)
    if drawn is not None:
        draws = drawn.get("draws", [drawn])
        fields["draw_ids"] = [d["draw_id"] for d in draws]
        fields["won"] = sum(bool(d["won"]) for d in draws)
    elif REFUSED in scope:
        fields["code"] = scope[REFUSED]
    access_log.write(f"{scope['method']} {route} {status}", fields)
