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
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app import metrics
from app.domain.errors import HeadersTooLarge
from app.http.errors import error_response
from app.http.middleware import PRIVATE

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

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Coalesced(transport, self.loop))  # type: ignore[arg-type]

    def _heading(self) -> bool:
        cycle = self.cycle
        return cycle is None or not cycle.more_body

    def data_received(self, data: bytes) -> None:
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
        HttpToolsProtocol.on_headers_complete(self)

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
