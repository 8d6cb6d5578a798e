"""The Redis connection: clients, script calls, and error translation.

Scripts are loaded once and called by SHA; a ``NOSCRIPT`` reply (after a Redis
restart or ``SCRIPT FLUSH``) reloads the script and retries transparently.
Connection problems surface as :class:`Unavailable` (HTTP 503), never as a
hang: every call has a socket timeout. The hot path (scripts, activity and
seed reads) goes through the pipelining transport when there is one; the
rest uses redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from app import metrics
from app.domain.errors import ConfigError, InternalError, Unavailable
from app.domain.numbers import parse_int
from app.store.redis import scripts
from app.store.redis.fast import ClientTransport, FastPath

_NOT_READY = ("LOADING", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "TRYAGAIN")
# Redis refusing who redrain is: waiting will not change its mind.
_CREDENTIALS = ("NOAUTH", "WRONGPASS", "NOPERM", "invalid password", "invalid username-password")
# XAUTOCLAIM and XTRIM MINID (the flush worker) arrived in Redis 6.2.
MIN_VERSION = (6, 2)


def connect(url: str, *, timeout: float, cluster: bool = False) -> Any:
    """A redis-py asyncio client with bounded timeouts and one quick retry."""
    common: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": False,
    }
    if cluster:
        return aioredis.RedisCluster.from_url(url, **common)
    # A burst waits (up to the timeout) for a pooled connection instead of failing.
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=256, timeout=timeout, retry=Retry(NoBackoff(), 1), **common
    )
    return aioredis.Redis.from_pool(pool)


def connect_sentinel(
    url: str, sentinels: Sequence[tuple[str, int]], service: str, *, timeout: float
) -> Any:
    """A redis-py client on the primary Sentinel names, following failovers."""
    parts = urlsplit(url)
    sentinel = Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
        list(sentinels), socket_timeout=timeout, socket_connect_timeout=timeout
    )
    client = sentinel.master_for(
        service,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=False,
        password=unquote(parts.password) if parts.password else None,
        username=unquote(parts.username) if parts.username else None,
        db=parse_int(parts.path.strip("/")) or 0,
    )
    # Closed with the client (RedisConnection.close): the connections to the
    # sentinels themselves, and the pool the primary's client was made from.
    client.redrain_closers = [*sentinel.sentinels, client.connection_pool]
    return client


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Redis errors as redrain's: outages 503, anything else a logged 500."""
    try:
        yield
    except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
        raise Unavailable("Redis cannot be reached") from exc
    except rexc.BusyLoadingError as exc:
        raise Unavailable("Redis is loading its dataset") from exc
    except rexc.ResponseError as exc:
        if str(exc).startswith(_NOT_READY):
            raise Unavailable(f"Redis is not ready: {exc}") from exc
        raise InternalError(f"Redis refused a command: {exc}") from exc
    except rexc.RedisError as exc:
        raise InternalError(f"Redis client error: {exc}") from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def refused_credentials(exc: BaseException) -> str | None:
    """Redis's own words when ``exc`` (or what caused it: the transport wraps
    a failed AUTH as a connection error) is Redis refusing the credentials."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, rexc.AuthenticationError) or any(m in str(seen) for m in _CREDENTIALS):
            words = _first_line(seen)
            # redis-py words NOAUTH after its HELLO as a lecture on HELLO.
            return "NOAUTH: Redis requires a password" if "HELLO" in words else words
        seen = seen.__cause__ or seen.__context__
    return None


def check_version(info: Any) -> None:
    """:class:`ConfigError` when ``INFO server`` (of one node, or of each node
    of a cluster) names a Redis older than :data:`MIN_VERSION`."""
    nodes = info.values() if info and all(isinstance(v, dict) for v in info.values()) else [info]
    for node in nodes:
        version = text(node.get("redis_version", "")) if isinstance(node, dict) else ""
        parts = tuple(parse_int(p) or 0 for p in version.split(".")[:2] if p.isdigit())
        if version and parts < MIN_VERSION:
            need = ".".join(map(str, MIN_VERSION))
            raise ConfigError(
                f"Redis {version} is too old: redrain needs Redis {need} or later "
                "(XAUTOCLAIM, XTRIM MINID)"
            )


def text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class RedisConnection:
    """Clients, the loaded scripts, and the time settings every script shares."""

    def __init__(
        self,
        client: Any,
        *,
        offset_ms: int,
        idempotency_ttl: int,
        fast: FastPath | None = None,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 200,
    ) -> None:
        self.client = client
        # The hot path (draws, stream reads and acks) goes through ``fast``:
        # production's pipelining transport, or the client itself adapted to
        # the same raw replies (embedded mode, tests on fakeredis).
        self.fast: FastPath = fast if fast is not None else ClientTransport(client)
        if wait_replicas and fast is None:
            raise ConfigError("REDRAIN_REDIS_WAIT_REPLICAS needs a Redis server (not embedded)")
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.offset = str(offset_ms)  # REDRAIN_CLOCK_OFFSET, passed to every script
        self.idempotency_ttl = str(idempotency_ttl)
        self.scripts = {name: scripts.load(name) for name in scripts.NAMES}

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.aclose()
        for closer in getattr(self.client, "redrain_closers", ()):
            with contextlib.suppress(Exception):
                await (closer.disconnect() if hasattr(closer, "disconnect") else closer.aclose())
        with contextlib.suppress(Exception):
            await self.fast.aclose()

    async def ping(self) -> bool:
        async with translated():
            return bool(await self.fast.ping())

    async def load_scripts(self) -> None:
        async with translated():
            for script in self.scripts.values():
                await self.fast.script_load(script.source)
                await self.client.script_load(script.source)  # publish pipelines use it

    async def prepare(self) -> None:
        """At start: check that this Redis can serve redrain and load every script.

        Raises :class:`ConfigError` (one line) for what waiting cannot fix:
        credentials refused, a version before :data:`MIN_VERSION`, a script
        Redis does not compile; :class:`Unavailable` when Redis cannot be
        reached or is not ready yet (docs/operations.md, "Start-up")."""
        name = ""
        try:
            try:
                check_version(await self.client.info("server"))
            except rexc.ResponseError as exc:
                if str(exc).startswith((*_NOT_READY, "NOAUTH", "WRONGPASS")):
                    raise
                # INFO renamed away or not granted to this user: the version is unchecked.
            for name in self.scripts:
                source = self.scripts[name].source
                await self.fast.script_load(source)
                await self.client.script_load(source)
        except (rexc.RedisError, OSError) as exc:
            if (words := refused_credentials(exc)) is not None:
                raise ConfigError(
                    f"Redis refused redrain's credentials ({words}): "
                    "check the user and password in REDRAIN_REDIS_URL"
                ) from exc
            if isinstance(exc, rexc.ResponseError) and not str(exc).startswith(_NOT_READY):
                raise ConfigError(f"Redis refused lua/{name}.lua: {_first_line(exc)}") from exc
            raise Unavailable(f"Redis cannot be reached: {_first_line(exc)}") from exc

    async def run(
        self, name: str, keys: Sequence[str], args: Sequence[Any], *, durable: bool = False
    ) -> Any:
        """One EVALSHA of a script, reloading it once on NOSCRIPT. ``durable``
        (the draw) in the WAIT mode: answered only once ``wait_replicas``
        replicas have its writes, else :class:`Unavailable` (503: a retry with
        the same Idempotency-Key gets the stored answer, or draws anew if a
        failover lost it)."""
        script = self.scripts[name]
        started = time.perf_counter()
        try:
            async with translated():
                try:
                    return await self._call(script.sha, keys, args, durable)
                except rexc.NoScriptError:
                    await self.fast.script_load(script.source)
                    return await self._call(script.sha, keys, args, durable)
        finally:
            metrics.observe_script(name, time.perf_counter() - started)

    async def _call(self, sha: str, keys: Sequence[str], args: Sequence[Any], durable: bool) -> Any:
        if not (durable and self.wait_replicas):
            return await self.fast.evalsha(sha, len(keys), *keys, *args)
        reply, acked = await self.fast.evalsha_wait(
            sha,
            len(keys),
            *keys,
            *args,
            replicas=self.wait_replicas,
            timeout_ms=self.wait_timeout_ms,
        )
        if acked < self.wait_replicas:
            metrics.WAIT_SHORT.inc()
            raise Unavailable(
                f"the draw reached {acked} of {self.wait_replicas} replicas in time; retry it"
            )
        return reply

    async def evalsha_many(self, calls: list[list[Any]]) -> list[Any]:
        """Several EVALSHA of one slot at once: the transport pipelines
        concurrent calls by itself (and routes them on a cluster, where redis-py
        refuses EVALSHA in a pipeline)."""
        async with translated():
            return list(await asyncio.gather(*[self.fast.evalsha(*call) for call in calls]))

    async def now_ms(self) -> int:
        """The Redis clock plus the offset: the time authority."""
        async with translated():
            sec, usec = await self.client.time()
        return int(sec) * 1000 + int(usec) // 1000 + int(self.offset)
