"""A small pipelining Redis client for the draw hot path.

redis-py's asyncio client costs ~35% of an API worker's CPU on the draw path
(connection-pool checkout, a retry wrapper and a timeout per call, command
packing in Python) and sends every command in its own write
(redis/redis-py#3767). Here, concurrent calls share a few connections: the
commands of one event-loop tick leave in one write, hiredis packs and parses,
and replies are matched in order. See docs/performance.md for measurements.

Robustness rules:

- **Order is the only link between a call and its reply.** A caller that is
  cancelled or times out leaves its future in the queue; its reply is dropped
  when it arrives, so no caller can ever receive another caller's reply.
- **Timeouts** cost nothing per call: one watchdog per connection checks the
  oldest outstanding reply; if it is overdue the connection is aborted and all
  its calls fail with ``TimeoutError`` (the next call reconnects).
- **Reconnects** are lazy and single-flight, with exponential backoff: while a
  node is backing off, calls fail at once with ``ConnectionError`` (HTTP 503)
  instead of piling up.
- **Cluster**: calls carrying a key go to the node owning its hash slot
  (``CLUSTER SLOTS``); ``MOVED`` refreshes the map and retries, ``ASK`` sends
  ``ASKING`` then the command to the importing node.

Errors are redis-py's exception classes so callers handle both clients alike.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import ssl
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis
from redis import exceptions as rexc
from redis.crc import key_slot

from app.domain.numbers import parse_int

MAX_REDIRECTS = 5
REFRESH_AFTER_FAILURE = 0.25  # s between slot-map reads prompted by an unreachable node
BACKOFF_START = 0.05
BACKOFF_MAX = 2.0


def pack(*args: Any) -> bytes:
    """RESP-encode one command (in C)."""
    packed: bytes = hiredis.pack_command(args)
    return packed


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _error(reply: rexc.ResponseError) -> rexc.RedisError:
    msg = str(reply)
    if msg.startswith("NOSCRIPT"):
        return rexc.NoScriptError(msg)
    if msg.startswith("LOADING"):
        return rexc.BusyLoadingError(msg)
    return reply


class _Link(asyncio.Protocol):
    """One connection: one write per tick, replies matched in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=rexc.ResponseError)
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.deadlines: collections.deque[float] = collections.deque()
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.watchdog: asyncio.TimerHandle | None = None
        self.failed: Exception | None = None

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports do not subclass asyncio's.
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.fail(rexc.ConnectionError(f"Redis protocol error: {exc}"))
                return
            if reply is False:
                return
            if not self.waiting:  # a reply nobody asked for: the stream is out of step
                self.fail(rexc.ConnectionError("unexpected reply from Redis"))
                return
            fut = self.waiting.popleft()
            self.deadlines.popleft()
            if fut.done():
                continue  # its caller gave up: drop the reply, keep the order
            if isinstance(reply, rexc.ResponseError):
                fut.set_exception(_error(reply))
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(rexc.ConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    # -- calls -------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return (
            self.failed is None and self.transport is not None and not self.transport.is_closing()
        )

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        if self.failed is not None:
            raise self.failed
        fut: asyncio.Future[Any] = self.loop.create_future()
        self.waiting.append(fut)
        self.deadlines.append(time.monotonic() + self.timeout)
        self.out.append(packed)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)
        if self.watchdog is None:
            self.watchdog = self.loop.call_later(self.timeout / 4, self._watch)
        return fut

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.out and self.transport is not None and self.failed is None:
            data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
            self.out.clear()
            self.transport.write(data)

    def _watch(self) -> None:
        self.watchdog = None
        if not self.waiting or self.failed is not None:
            return
        if self.deadlines[0] <= time.monotonic():
            self.fail(rexc.TimeoutError(f"Redis did not answer within {self.timeout:g} s"))
            return
        self.watchdog = self.loop.call_later(self.timeout / 4, self._watch)

    def fail(self, exc: Exception) -> None:
        """Fail every outstanding call and drop the connection."""
        if self.failed is None:
            self.failed = exc
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(exc)
        self.deadlines.clear()
        self.out.clear()
        if self.transport is not None:
            self.transport.abort()


class _Node:
    """One Redis server: a few links, connected lazily with backoff."""

    def __init__(
        self,
        client: RedisTransport,
        host: str,
        port: int,
        path: str | None = None,
        *,
        plain: bool = False,
    ) -> None:
        self.client = client
        self.host, self.port, self.path = host, port, path
        self.plain = plain  # a Sentinel: no AUTH, no SELECT
        self.links: list[_Link] = []
        self.next = 0
        self.connecting: asyncio.Future[None] | None = None  # the connect in progress
        self.retry_at = 0.0
        self.backoff = BACKOFF_START
        self.last_error: Exception | None = None

    @property
    def name(self) -> str:
        return self.path or f"{self.host}:{self.port}"

    async def link(self) -> _Link:
        if len(self.links) == self.client.connections:
            link = self.links[self.next]
            self.next = (self.next + 1) % len(self.links)
            if link.usable:
                return link
        await self._connect()
        return self.links[0]

    async def _connect(self) -> None:
        # The connect runs as its own task: a caller that is cancelled while
        # waiting must not abandon the others waiting on the same connect.
        if self.connecting is None:
            if time.monotonic() < self.retry_at:
                raise rexc.ConnectionError(
                    f"Redis at {self.name} is unreachable (retrying): {self.last_error}"
                )
            self.connecting = asyncio.ensure_future(self._establish())
            self.connecting.add_done_callback(_consume)  # even if every waiter left
        await asyncio.shield(self.connecting)

    async def _establish(self) -> None:
        try:
            self.links = [link for link in self.links if link.usable]
            while len(self.links) < self.client.connections:
                self.links.append(await self._open())
            self.next = 0
            self.backoff = BACKOFF_START
        except (OSError, TimeoutError, rexc.RedisError) as exc:
            self.last_error = exc
            self.retry_at = time.monotonic() + self.backoff
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
            raise rexc.ConnectionError(f"cannot connect to Redis at {self.name}: {exc}") from exc
        finally:
            self.connecting = None

    async def _open(self) -> _Link:
        loop = asyncio.get_running_loop()
        c = self.client

        def factory() -> _Link:
            return _Link(loop, c.timeout)

        if self.path is not None:
            conn = loop.create_unix_connection(factory, self.path)
        else:
            conn = loop.create_connection(factory, self.host, self.port, ssl=c.ssl)
        async with asyncio.timeout(c.timeout):
            _, link = await conn
            if self.plain:
                return link
            if c.password is not None:
                creds = (c.username, c.password) if c.username else (c.password,)
                await link.send(pack("AUTH", *creds))
            if c.db:
                await link.send(pack("SELECT", c.db))
        return link

    async def call(self, packed: bytes) -> Any:
        link = await self.link()
        return await link.send(packed)

    def close(self) -> None:
        for link in self.links:
            link.fail(rexc.ConnectionError("client closed"))
        self.links = []


class RedisTransport:
    """Pipelining client: ``execute``, ``evalsha``, a few read commands."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        connections: int = 1,
        cluster: bool = False,
        sentinels: Sequence[tuple[str, int]] = (),
        service: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        # Sentinel: the primary's address comes from the sentinels, first and
        # again whenever the primary cannot be reached or has become a replica.
        self.sentinels = [_Node(self, host, port, plain=True) for host, port in sentinels]
        self.service = service
        self._resolved = not self.sentinels
        self.timeout = timeout
        self.connections = connections
        self.cluster = cluster
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.ssl = ssl.create_default_context() if parts.scheme == "rediss" else None
        path = parts.path.strip("/")
        if parts.scheme == "unix":
            self.db = 0
            self.seed = _Node(self, "", 0, path=parts.path)
        else:
            self.db = parse_int(path) or 0
            self.seed = _Node(self, parts.hostname or "127.0.0.1", parts.port or 6379)
        self.nodes: dict[tuple[str, int], _Node] = {}
        self.slots: list[_Node] | None = None
        self._refreshing: asyncio.Lock | None = None
        self._refreshed_at = 0.0

    # -- routing -----------------------------------------------------------------

    def _node(self, host: str, port: int) -> _Node:
        node = self.nodes.get((host, port))
        if node is None:
            node = self.nodes[(host, port)] = _Node(self, host, port)
        return node

    async def _refresh_slots(self) -> None:
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            sources = [*self.nodes.values(), self.seed]
            last: Exception | None = None
            for node in sources:
                try:
                    ranges = await node.call(pack("CLUSTER", "SLOTS"))
                except rexc.RedisError as exc:
                    last = exc
                    continue
                table: list[_Node] = [self.seed] * 16384
                for start, end, primary, *_ in ranges:
                    owner = self._node(primary[0].decode() or node.host, int(primary[1]))
                    for slot in range(int(start), int(end) + 1):
                        table[slot] = owner
                self.slots = table
                return
            raise rexc.ConnectionError(f"no cluster node answered CLUSTER SLOTS: {last}")

    async def _resolve(self) -> None:
        """Ask the sentinels (in turn) where the primary of ``service`` is."""
        last: Exception | None = None
        for sentinel in self.sentinels:
            try:
                addr = await sentinel.call(
                    pack("SENTINEL", "get-master-addr-by-name", self.service)
                )
            except rexc.RedisError as exc:
                last = exc
                continue
            if not addr:
                last = rexc.ConnectionError(f"sentinel knows no primary {self.service!r}")
                continue
            host, port = addr[0].decode(), int(addr[1])
            if (host, port) != (self.seed.host, self.seed.port):
                old, self.seed = self.seed, _Node(self, host, port)
                old.close()
            self._resolved = True
            return
        raise rexc.ConnectionError(f"no sentinel gave the primary {self.service!r}: {last}")

    async def _route(self, key: bytes | str | None) -> _Node:
        if not self._resolved:
            await self._resolve()
        if not self.cluster or key is None:
            return self.seed
        if self.slots is None:
            await self._refresh_slots()
        assert self.slots is not None
        return self.slots[key_slot(key.encode() if isinstance(key, str) else key)]

    # -- commands ----------------------------------------------------------------

    async def _failed_over(self, node: _Node, key: bytes | str | None) -> _Node | None:
        """After ``node`` could not be reached: the slot map again (at most every
        ``REFRESH_AFTER_FAILURE`` s), and the node now serving ``key`` if it is
        another one — a replica promoted by a failover."""
        if not (self.cluster or self.sentinels) or (
            time.monotonic() - self._refreshed_at < REFRESH_AFTER_FAILURE
        ):
            return None
        self._refreshed_at = time.monotonic()
        try:
            await (self._refresh_slots() if self.cluster else self._resolve())
        except rexc.RedisError:
            return None
        now = await self._route(key)
        return None if now is node else now

    async def execute(self, *args: Any, key: bytes | str | None = None) -> Any:
        """Run one command; ``key`` routes it on a cluster."""
        (reply,) = await self._dispatch(str(args[0]), key, pack(*args))
        return reply

    async def evalsha_wait(
        self, sha: str, numkeys: int, *keys_and_args: Any, replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """EVALSHA, then ``WAIT replicas timeout_ms`` on the same connection in
        the same write: the script's reply and how many replicas have its
        writes (WAIT covers every earlier write of that connection)."""
        key = keys_and_args[0] if numkeys else None
        reply, waited = await self._dispatch(
            "EVALSHA",
            key,
            pack("EVALSHA", sha, numkeys, *keys_and_args),
            pack("WAIT", replicas, timeout_ms),
        )
        return reply, int(waited)

    async def _dispatch(self, what: str, key: bytes | str | None, *commands: bytes) -> list[Any]:
        """Send ``commands`` in one write on a connection to the node serving
        ``key`` and return their replies: the one loop every command goes
        through, so each follows a redirect alike.

        ``MOVED`` reads the slot map again and resends; ``ASK`` sends
        ``ASKING`` and the commands to the importing node; ``READONLY`` (the old
        primary came back as a replica after a sentinel failover: nothing ran
        there) and a node that cannot be reached make the map (or the
        sentinels) be read again, and commands that never left go to the node
        now serving ``key``. Commands lost with their connection are not resent
        (they may have run) and fail (503), while the next calls follow the new
        map. A redirect of the first command drops the replies of the rest."""
        node = await self._route(key)
        asking = False
        for _ in range(MAX_REDIRECTS):
            try:
                try:
                    link = await node.link()
                except rexc.ConnectionError:
                    moved = await self._failed_over(node, key)
                    if moved is None:
                        raise
                    node, asking = moved, False
                    continue
                if asking:
                    link.send(pack("ASKING")).add_done_callback(_consume)
                replies = [link.send(command) for command in commands]
                try:
                    first = await replies[0]
                except (rexc.ConnectionError, rexc.TimeoutError):
                    for rest in replies[1:]:
                        rest.add_done_callback(_consume)
                    await self._failed_over(node, key)
                    raise
                except rexc.ResponseError:
                    for rest in replies[1:]:
                        rest.add_done_callback(_consume)
                    raise
                return [first, *[await rest for rest in replies[1:]]]
            except rexc.ResponseError as exc:
                msg = str(exc)
                if msg.startswith("READONLY") and self.sentinels:
                    moved = await self._failed_over(node, key)
                    if moved is None:
                        raise
                    node, asking = moved, False
                    continue
                if not self.cluster or not msg.startswith(("MOVED ", "ASK ")):
                    raise
                kind, _, where = msg.split(" ", 2)
                host, _, port = where.rpartition(":")
                node = self._node(host or node.host, int(port))
                asking = kind == "ASK"
                if not asking:
                    await self._refresh_slots()
        raise rexc.ClusterError(f"too many cluster redirections for {what}")

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        key = keys_and_args[0] if numkeys else None
        return await self.execute("EVALSHA", sha, numkeys, *keys_and_args, key=key)

    async def script_load(self, source: str) -> Any:
        """Load a script on every primary (a script runs where its keys live)."""
        if self.cluster:
            if self.slots is None:
                await self._refresh_slots()
            sha = None
            for node in {id(n): n for n in self.slots or [self.seed]}.values():
                sha = await node.call(pack("SCRIPT", "LOAD", source))
            return sha
        return await self.execute("SCRIPT", "LOAD", source)

    async def exists(self, key: str) -> int:
        return int(await self.execute("EXISTS", key, key=key))

    async def hget(self, key: str, field: str) -> Any:
        return await self.execute("HGET", key, field, key=key)

    async def hmget(self, key: str, fields: list[str]) -> list[Any]:
        result: list[Any] = await self.execute("HMGET", key, *fields, key=key)
        return result

    async def ping(self) -> bool:
        return bool(await self.execute("PING"))

    async def aclose(self) -> None:
        for node in (self.seed, *self.nodes.values(), *self.sentinels):
            node.close()
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)
