"""The HTTP/1.1 protocol ``redrain serve`` runs: uvicorn's httptools
protocol, with the writes of one event-loop tick coalesced per connection.

uvicorn writes a response's head and its body separately, and uvloop sends
each write at once: two ``send`` syscalls (and, with TCP_NODELAY, two
segments) per answer. In a profile of a worker under the draw load those two
writes were 24% of its samples. Here writes made in the same tick leave in
one ``send`` at the end of the tick; ``close`` sends what is held first.
docs/performance.md has the measurement.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


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
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Coalesced(transport, self.loop))  # type: ignore[arg-type]
