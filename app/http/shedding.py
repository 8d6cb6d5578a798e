"""Refusing a draw at the door: 503 ``busy`` from the protocol, before it becomes a request.

When the worker's admission is full (``app.http.admission``), a well-formed
``POST /v1/draw`` is answered by the HTTP protocol itself
(``app.http.protocol``) when its body has been read: no ASGI task, no scope,
no middleware, one prepared answer written to the socket. A refusal that
went through the app cost about a third of a draw (27 of 80 µs of API CPU),
so in a rain 2.5 × the capacity the refusals alone ate the capacity; here
one costs a fraction of that (docs/performance.md, issue 24).

What the client sees does not change: the same status, headers (``nosniff``,
``no-store``, ``Retry-After``) and body as the app's busy answer, counted
the same way (``redrain_draws_total{outcome="busy"}`` and the response count
of ``/v1/draw``). Bad input is still told apart: the same cheap checks as the
app's (token, Idempotency-Key, Content-Type, body) run first, and a request
that fails one is handed to the app, which answers its 4xx.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from app import metrics
from app.domain.errors import Busy, RedrainError
from app.http.admission import Admission
from app.http.bodies import MAX_BODY, require_json
from app.http.errors import error_response
from app.http.fastpath import check_draw, draw_headers
from app.http.middleware import DRAW, PRIVATE

Headers = Iterable[tuple[bytes, bytes]]


class Shedder:
    """What the protocol asks about a draw while the worker is full."""

    def __init__(self, state: Any, admission: Admission) -> None:
        self._state = state  # the app's state: its services appear at start-up
        self.admission = admission
        error = error_response(Busy(admission.retry_after))
        self._head = b"".join(b"%s: %s\r\n" % pair for pair in [*error.raw_headers, *PRIVATE])
        self._body = bytes(error.body)

    def full(self) -> bool:
        return self.admission.full()

    def well_formed(self, headers: Headers, body: bytes) -> bool:
        """Whether the draw passes the app's cheap checks: only then is it
        refused here; anything else is the app's to answer."""
        services = getattr(self._state, "services", None)
        if services is None or len(body) > MAX_BODY:
            return False
        authorization, key, _, content_type = draw_headers(headers)
        try:
            require_json(content_type)
            check_draw(services, authorization, key, body)
        except RedrainError:
            return False
        return True

    def refusal(self, default_headers: Headers) -> bytes:
        """The busy answer, whole, counted as the app counts it."""
        metrics.count_busy()
        metrics.count_response(DRAW, 503)
        common = b"".join(b"%s: %s\r\n" % pair for pair in default_headers)
        return b"".join((STATUS_LINE[503], common, self._head, b"\r\n", self._body))
