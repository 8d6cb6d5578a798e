"""Every answer counted, and the last resort for a bug.

:class:`Outcomes` sits between the draw fast path and Starlette's exception
handling: it counts each response by route and status
(``redrain_http_responses_total``, so monitoring sees 5xx anywhere), marks
each ``X-Content-Type-Options: nosniff``, and turns
an exception nothing handled into one logged traceback and the usual JSON 500
— Starlette's own last resort would log it, re-raise it for uvicorn to log
again, and answer in plain text.
"""

from __future__ import annotations

import logging

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics
from app.http.errors import INTERNAL

log = logging.getLogger("redrain.http")

NOSNIFF = (b"x-content-type-options", b"nosniff")  # browsers trust the content type we send
_BODY = orjson.dumps(INTERNAL)
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    NOSNIFF,
]


def route_label(scope: Scope) -> str:
    """The matched route's template (bounded label values), or ``unmatched``."""
    route = scope.get("route")
    return str(getattr(route, "path_format", None) or getattr(route, "path", "unmatched"))


class Outcomes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), NOSNIFF]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], route_label(scope))
            if status:  # the response had begun: nothing more can be said
                return
            status = 500
            await send({"type": "http.response.start", "status": 500, "headers": _HEADERS})
            await send({"type": "http.response.body", "body": _BODY})
        finally:
            metrics.count_response(route_label(scope), status or 500)
