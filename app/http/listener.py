"""The event loop ``redrain serve`` runs: uvloop, with an accept loop of its own.

libuv accepts one connection per turn of the event loop (since 1.45,
libuv/libuv#3696: "accepting in a loop is nearly always suboptimal"). Under
a draw load an API worker's loop turns only 30-50 times a second, each turn
serving hundreds of requests, so the first second of a rain, when thousands
of players open connections at once, queued them in the kernel's accept
queue: with 1,000 new connections on 2 busy workers the last was accepted
8.8 s after its request was sent (strace: one ``accept4`` per turn, never an
``EAGAIN``), the whole of the closed-loop p99 of 1.4-2.7 s
(docs/performance.md, issue 24).

:class:`Loop` serves a listening socket with its own reader that accepts up
to :data:`BURST` connections per turn and hands each to uvloop
(``connect_accepted_socket``): a burst of 1,000 is in within a few turns.
The bound keeps a worker from taking a whole burst off a socket it shares
with the other workers (``--workers N`` listen on one socket): each takes
its share per turn. TLS servers and Unix sockets keep uvloop's own path.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

import uvloop

log = logging.getLogger("redrain.http")

BURST = 64  # connections accepted per socket per turn of the loop
PAUSE_ON_EXHAUSTION = 1.0  # s without accepting when out of descriptors or memory
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Listener(asyncio.AbstractServer):
    """Listening sockets served by :class:`Loop`'s accept loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        socks: list[socket.socket],
        factory: Callable[[], asyncio.BaseProtocol],
    ) -> None:
        self._loop = loop
        self._socks = socks
        self._factory = factory
        self._serving = False
        self._pending: set[asyncio.Task[Any]] = set()
        self._closed = asyncio.Event()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._socks)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._watch(self._socks)

    async def serve_forever(self) -> None:  # pragma: no cover - uvicorn never calls it
        await self.start_serving()
        await self._closed.wait()

    def close(self) -> None:
        if self._serving:
            for sock in self._socks:
                if sock.fileno() >= 0:
                    self._loop.remove_reader(sock.fileno())
        self._serving = False
        for sock in self._socks:
            sock.close()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _watch(self, socks: Iterable[socket.socket]) -> None:
        self._serving = True
        for sock in socks:
            if sock.fileno() >= 0:
                self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(BURST):
            try:
                conn, _addr = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _EXHAUSTED:
                    raise
                # Out of descriptors or buffers: serve those held, try again later
                # (asyncio's own accept loop does the same).
                log.error(
                    "cannot accept connections (%s); retrying in %.0f s", exc, PAUSE_ON_EXHAUSTION
                )
                self._loop.remove_reader(sock.fileno())
                self._loop.call_later(PAUSE_ON_EXHAUSTION, self._resume, sock)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._loop.connect_accepted_socket(self._factory, conn))
            self._pending.add(task)
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("dropped an accepted connection: %r", exc)

    def _resume(self, sock: socket.socket) -> None:
        if self._serving and sock.fileno() >= 0:
            self._loop.add_reader(sock.fileno(), self._accept, sock)


class Loop(uvloop.Loop):
    """uvloop whose plain TCP servers accept in bursts (:class:`Listener`)."""

    async def create_server(  # type: ignore[override]  # (uvloop's overloads)
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | None = None,
        port: int | None = None,
        **options: Any,
    ) -> asyncio.AbstractServer:
        sock: socket.socket | None = options.get("sock")
        backlog: int = options.get("backlog", 100)
        plain = set(options) <= {"sock", "backlog", "ssl"} and options.get("ssl") is None
        if not plain or (sock is not None and sock.family == socket.AF_UNIX):
            return await super().create_server(protocol_factory, host, port, **options)  # type: ignore[arg-type]
        socks = [sock] if sock is not None else await self._bind(host, port, backlog)
        for s in socks:
            s.setblocking(False)
            s.listen(backlog)  # a socket handed over is bound, maybe not listening yet
        server = Listener(self, socks, protocol_factory)
        await server.start_serving()
        return server

    async def _bind(self, host: str | None, port: int | None, backlog: int) -> list[socket.socket]:
        """Listening sockets for every address ``host`` names, as asyncio binds them."""
        infos = await self.getaddrinfo(
            host, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        socks: list[socket.socket] = []
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                s = socket.socket(family, kind, proto)
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind(address)
                s.listen(backlog)
        except OSError:
            for s in socks:
                s.close()
            raise
        return socks


def new_loop() -> asyncio.AbstractEventLoop:
    """The loop factory uvicorn's ``loop`` setting names."""
    return Loop()
