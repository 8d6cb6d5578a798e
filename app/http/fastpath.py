"""``POST /v1/draw``: the hot path.

:class:`DrawFastPath` serves it ahead of Starlette's router, exception
middleware and Request/Response objects: the same :func:`perform_draw` and
error rendering, a fifth less CPU per draw (docs/performance.md). The edge
middleware (:class:`~app.http.middleware.Outcomes`) calls it for that one
route and sends its answer with the headers every answer carries, counted as
``/v1/draw`` as any route's answer is. The router's ``/v1/draw`` route
(``players.draw``) runs the same function, for an app built without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import orjson
from starlette.types import Receive, Scope

from app import metrics
from app.domain.errors import Busy, InvalidRequest, RedrainError
from app.http import responses as r
from app.http.admission import Admission
from app.http.bodies import IDEMPOTENCY_KEY, DrawBody, parse, parse_json, receive_body
from app.http.client_ip import client_ip
from app.http.errors import INTERNAL, JSON, error_response
from app.http.middleware import DRAWN, REFUSED, Answer
from app.services.container import Services

log = logging.getLogger("redrain.http")
ARRIVED = "redrain.arrived"  # scope key: time.monotonic() when the request's first bytes were read
_JSON_TYPE = (b"content-type", b"application/json")


def draw_headers(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[str | None, str | None, bytes | None, bytes | None]:
    """What a draw reads of its request's headers: Authorization,
    Idempotency-Key, Content-Length and Content-Type."""
    authorization = idempotency_key = None
    declared = content_type = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"idempotency-key":
            idempotency_key = value.decode("latin-1")
        elif name == b"content-length":
            declared = value
        elif name == b"content-type":
            content_type = value
    return authorization, idempotency_key, declared, content_type


def outcomes(won: int, made: int) -> list[tuple[str, int]]:
    """A batch's draws for the metrics: ("won", n) and ("lost", n), each when n > 0."""
    return [(outcome, n) for outcome, n in (("won", won), ("lost", made - won)) if n]


def check_draw(
    s: Services, authorization: str | None, idempotency_key: str | None, body: bytes
) -> tuple[str, DrawBody]:
    """The cheap checks of a draw (token, key, body: a few µs, no I/O): the
    player and the body, or the 4xx for bad input."""
    user = s.auth.require_user(authorization)
    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        raise InvalidRequest(
            "Idempotency-Key must be 1-64 characters of A-Z a-z 0-9 _ - : .",
            code="invalid_idempotency_key",
        )
    return user, parse(DrawBody, parse_json(body))


async def perform_draw(
    s: Services,
    authorization: str | None,
    idempotency_key: str | None,
    body: bytes,
    ip: str = "",
    admission: Admission | None = None,
    arrived: float | None = None,
) -> tuple[r.Draw | r.Batch, dict[str, str] | None]:
    """POST /v1/draw from its raw inputs: the body and extra response headers.
    With ``count`` in the body, several draws in one script call (SPEC §3).

    Admission comes after the cheap checks, so bad input is a 4xx even under
    load, and before any store is asked; ``arrived`` (when the request's
    first bytes were read) sets its queue deadline."""
    user, data = check_draw(s, authorization, idempotency_key, body)
    ticket = admission.admit(arrived) if admission is not None else None
    if admission is not None and ticket is None:
        raise Busy(admission.retry_after)
    try:
        if data.count is not None:
            rt, drawn = await s.draws.draw_many(
                user,
                data.activity_id,
                data.count,
                client_seed=data.client_seed,
                idempotency_key=idempotency_key,
                client_ip=ip,
            )
        else:
            rt, result = await s.draws.draw(
                user,
                data.activity_id,
                client_seed=data.client_seed,
                idempotency_key=idempotency_key,
                grant_id=data.grant_id,
                client_ip=ip,
            )
    except RedrainError as exc:
        # Per activity only for a published one: any id can be sent, and each
        # would otherwise add label sets to /metrics for good.
        if s.runtimes.peek(data.activity_id) is not None:
            metrics.count_activity(data.activity_id, exc.code)
        raise
    finally:
        if admission is not None and ticket is not None:
            admission.done(ticket)
    if data.count is not None:
        won = sum(one.won for one in drawn.draws)  # metrics count draws, not requests
        for outcome, n in outcomes(won, len(drawn.draws)):
            metrics.count_activity(data.activity_id, outcome, n)
        if drawn.stopped is not None:
            metrics.count_activity(data.activity_id, drawn.stopped.code)
        seed_hash = await s.draws.seed_hash(rt, drawn.draws[0].round_id)
        headers = {"Idempotent-Replayed": "true"} if drawn.replayed else None
        return r.batch(rt, drawn, seed_hash), headers
    metrics.count_activity(data.activity_id, "won" if result.won else "lost")
    seed_hash = await s.draws.seed_hash(rt, result.round_id)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return r.draw(rt, result, seed_hash), headers


class DrawFastPath:
    """Serves ``POST /v1/draw`` for :class:`~app.http.middleware.Outcomes`,
    ahead of the router: it renders the answer, Outcomes adds the headers
    every answer carries, sends it and counts it."""

    def __init__(self) -> None:
        self._busy: Answer | None = None

    def busy(self, admission: Admission) -> Answer:
        """The 503 busy answer, rendered once."""
        if self._busy is None:
            error = error_response(Busy(admission.retry_after))
            self._busy = 503, error.raw_headers, bytes(error.body)
        return self._busy

    async def __call__(self, scope: Scope, receive: Receive) -> Answer:
        authorization, idempotency_key, declared, content_type = draw_headers(scope["headers"])
        state = scope["app"].state
        service: Services = state.services
        admission: Admission = state.admission
        started = time.perf_counter()
        try:
            body = await receive_body(receive, declared, content_type)
            payload, extra = await perform_draw(
                service,
                authorization,
                idempotency_key,
                body,
                client_ip(scope),
                admission,
                scope.get(ARRIVED),
            )
        except Busy:
            metrics.count_busy()
            return self.busy(admission)
        except RedrainError as exc:
            error = error_response(exc)
            metrics.count_draw(exc.code, time.perf_counter() - started)
            scope[REFUSED] = exc.code
            return error.status_code, error.raw_headers, bytes(error.body)
        except Exception:
            log.exception("unexpected error on POST /v1/draw")
            error = JSON(INTERNAL, status_code=500)
            metrics.count_draw("internal_error", time.perf_counter() - started)
            return 500, error.raw_headers, bytes(error.body)
        took = time.perf_counter() - started
        scope[DRAWN] = payload  # for the access log: its draw ids
        if "draws" in payload:
            won = sum(one["won"] for one in payload["draws"])
            for outcome, n in outcomes(won, len(payload["draws"])):
                metrics.count_draw(outcome, took, n)
        else:
            metrics.count_draw("won" if payload["won"] else "lost", took)
        content = orjson.dumps(payload)
        headers = [_JSON_TYPE, (b"content-length", str(len(content)).encode())]
        if extra:
            headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        return 200, headers, content
