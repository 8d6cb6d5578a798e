"""The HTTP/1.1 protocol ``redrain serve`` runs: uvicorn's httptools
protocol, with the writes of one event-loop tick coalesced per connection,
and bounded request heads.

uvicorn writes a response's head and its body separately, and uvloop sends
each write at once: two ``send`` syscalls (and, with TCP_NODELAY, two
segments) per answer. In a profile of a worker under the draw load those two
writes were 24% of its samples. Here writes made in the same tick leave in
one ``send`` at the end of the tick; ``close`` sends what is held first.
docs/performance.md has the measurement.

uvicorn sets no limit on a request's headers with httptools (a 1 MB header
and 5,000 headers were read, kept and handed to the app). Here a request
with more than :data:`MAX_HEADERS` headers, or more than :data:`MAX_HEAD`
bytes of target and headers, is answered 431 in the error shape and its
connection closed (SPEC §3), before the app sees it: checked when the head
ends and after every read that leaves it unfinished, so what is held of a
head stays within the limit plus a read.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app import metrics
from app.domain.errors import HeadersTooLarge
from app.http import keepalive
from app.http.bodies import MAX_BODY
from app.http.errors import error_response
from app.http.fastpath import ARRIVED
from app.http.middleware import PRIVATE
from app.http.shedding import Shedder

MAX_HEADERS = 100
MAX_HEAD = 16 * 1024  # bytes of the request target and headers (names, values, ": " and CRLF)


def _refusal() -> bytes:
    error = error_response(
        HeadersTooLarge(
            f"request headers are limited to {MAX_HEADERS} and to {MAX_HEAD} bytes in all"
        )
    )
    body = bytes(error.body)
    head = [
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        *(b"%s: %s" % pair for pair in PRIVATE),
        b"connection: close",
    ]
    return b"".join([STATUS_LINE[431], *(h + b"\r\n" for h in head), b"\r\n", body])


_REFUSAL = _refusal()


class _Coalesced:
    """A transport that holds writes until the end of the loop tick."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)

    def write_now(self, data: bytes) -> None:
        """A whole answer: sent at once unless writes are held (they go first)."""
        if self._held:
            self._held.append(data)
        elif not self._transport.is_closing():
            self._transport.write(data)

    def _flush(self) -> None:
        if self._held:
            data = b"".join(self._held) if len(self._held) > 1 else self._held[0]
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else: the real transport
        return getattr(self._transport, name)


def _shedder_of(app: Any) -> Shedder | None:
    """The app's shedder, under what uvicorn may have wrapped around it."""
    for _ in range(4):
        found = getattr(getattr(app, "state", None), "shedder", None)
        if isinstance(found, Shedder):
            return found
        app = getattr(app, "app", None)
    return None


class CoalescingHttpTools(HttpToolsProtocol):
    # Bytes of the reads made while a request head was being read or awaited
    # (uvicorn's cycle has no more body to read), reset when a head completes:
    # checked after each read (a header still arriving, which httptools holds
    # whole until it ends). When a head completes, that count or the last
    # read's length bounds its size; the exact size is summed only past the
    # limit. No per-header hook: these run for every request.
    _unread = 0
    _read = 0
    _refused = False
    # A draw held back from the app while the worker is full: its body so far
    # (app.http.shedding decides when the body ends).
    _held: bytearray | None = None
    _shedder: Shedder | None = None
    _idle_since: float | None = None  # loop time since when no request is owed (keepalive)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Coalesced(transport, self.loop))  # type: ignore[arg-type]
        self._shedder = _shedder_of(self.app)
        self._idle_since = self.loop.time()
        keepalive.watch(self.loop, self.server_state, self.timeout_keep_alive)

    def on_response_complete(self) -> None:
        # uvicorn's, with the keep-alive timer replaced by a mark: it armed a
        # timer per answer (call_later, cancelled by the next read), 8% of a
        # worker's CPU in a rain; app.http.keepalive closes what idled too long.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._idle_since = self.loop.time()

    def _heading(self) -> bool:
        cycle = self.cycle
        return cycle is None or not cycle.more_body

    def data_received(self, data: bytes) -> None:
        self._idle_since = None
        # A read that starts in a body counts from the next read on.
        cycle = self.cycle
        heading = cycle is None or not cycle.more_body
        self._unread = self._unread + len(data) if heading else 0
        self._read = len(data)
        HttpToolsProtocol.data_received(self, data)
        if self._unread > MAX_HEAD and self._heading():
            self._refuse()

    def on_headers_complete(self) -> None:
        bound = self._unread or self._read
        if len(self.headers) > MAX_HEADERS or (bound > MAX_HEAD and self._head() > MAX_HEAD):
            self._refused = True
            raise HeadersTooLarge("request head too large")  # uvicorn calls send_400_response
        self._unread = 0
        if self.url == b"/v1/draw" and self._may_shed() and self.parser.get_method() == b"POST":
            self._held = bytearray()
            return
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)
        self.scope[ARRIVED] = monotonic()  # type: ignore[literal-required]  # the deadline's start

    # Shedding (app.http.shedding): a draw that arrives while the worker is
    # full is held here, not started; when its body has been read it is
    # refused at once, or, if it is not well-formed, handed to the app as
    # usual for its 4xx.
    def _may_shed(self) -> bool:
        if self.expect_100_continue or not (self.cycle is None or self.cycle.response_complete):
            return False  # a client waiting to send, or an answer still owed before this one
        return self._shedder is not None and self._shedder.full()

    def on_body(self, body: bytes) -> None:
        held = self._held
        if held is None:
            HttpToolsProtocol.on_body(self, body)
            return
        held += body
        if len(held) > MAX_BODY:  # the app refuses it (413)
            self._release(more=True)

    def on_message_complete(self) -> None:
        held = self._held
        if held is None:
            HttpToolsProtocol.on_message_complete(self)
            return
        shedder = self._shedder
        if shedder is None or not shedder.well_formed(self.headers, bytes(held)):
            self._release(more=False)
            return
        self._held = None
        answer = shedder.refusal(self.server_state.default_headers)
        transport = self.transport
        if isinstance(transport, _Coalesced):
            transport.write_now(answer)  # one whole answer: no need to wait for the tick's end
        else:
            transport.write(answer)
        if not self.parser.should_keep_alive():
            self.transport.close()
        self.on_response_complete()

    def _release(self, *, more: bool) -> None:
        """The held draw goes to the app after all, with what was read of its body."""
        body, self._held = self._held or bytearray(), None
        HttpToolsProtocol.on_headers_complete(self)
        cycle = self.cycle
        cycle.body = body
        cycle.more_body = more
        cycle.message_event.set()

    def _head(self) -> int:
        """The head's size: target, names, values, ": " and line ends."""
        return len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)

    def send_400_response(self, msg: str) -> None:
        if self._refused:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        if self.transport.is_closing():  # refused already
            return
        metrics.count_response("unmatched", 431)
        self.transport.write(_REFUSAL)
        self.transport.close()
