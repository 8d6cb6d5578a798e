"""The hot path's one interface to Redis, and its adapter over a client.

Every draw, stream read and acknowledgement goes through a :class:`FastPath`
(as httpx's calls go through its ``AsyncBaseTransport``). It answers raw
RESP replies (lists and bytes, as hiredis parses them), never redis-py's
parsed forms, so the code above it has one path. Two implementations:

- :class:`~app.store.redis.transport.RedisTransport`: production's pipelining
  client (one connection per node, cluster routing, failover, WAIT);
- :class:`ClientTransport`: the same replies through a redis-py or fakeredis
  asyncio client, for embedded mode and the unit tests on fakeredis. A test
  on either therefore runs the code production runs.
"""

from __future__ import annotations

from typing import Any, Protocol

import redis.asyncio as aioredis

from app.domain.errors import ConfigError


class FastPath(Protocol):
    async def execute(self, *args: Any, key: bytes | str | None = None) -> Any:
        """One command; ``key`` routes it on a cluster."""
        ...

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any: ...

    async def evalsha_wait(
        self, sha: str, numkeys: int, *keys_and_args: Any, replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """EVALSHA then WAIT on one connection: the reply, and the replicas that have it."""
        ...

    async def script_load(self, source: str) -> Any: ...

    async def exists(self, key: str) -> int: ...

    async def hget(self, key: str, field: str) -> Any: ...

    async def hmget(self, key: str, fields: list[str]) -> list[Any]: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


class ClientTransport:
    """:class:`FastPath` over an asyncio redis-py client (or fakeredis's): its
    connection pool, without redis-py's reply parsing."""

    def __init__(self, client: Any) -> None:
        self._raw = aioredis.Redis(connection_pool=client.connection_pool)
        self._raw.response_callbacks.clear()  # raw replies, as RedisTransport gives

    async def execute(self, *args: Any, key: bytes | str | None = None) -> Any:
        reply = await self._raw.execute_command(*args)  # type: ignore[no-untyped-call]
        # fakeredis answers XREADGROUP with a map of streams; Redis (RESP2)
        # with a list of [stream, entries] pairs.
        return [list(pair) for pair in reply.items()] if isinstance(reply, dict) else reply

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self.execute("EVALSHA", sha, numkeys, *keys_and_args)

    async def evalsha_wait(
        self, sha: str, numkeys: int, *keys_and_args: Any, replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        # WAIT must follow the script on its connection, which a pool does not promise.
        raise ConfigError("REDRAIN_REDIS_WAIT_REPLICAS needs a Redis server (not embedded)")

    async def script_load(self, source: str) -> Any:
        return await self.execute("SCRIPT", "LOAD", source)

    async def exists(self, key: str) -> int:
        return int(await self.execute("EXISTS", key))

    async def hget(self, key: str, field: str) -> Any:
        return await self.execute("HGET", key, field)

    async def hmget(self, key: str, fields: list[str]) -> list[Any]:
        result: list[Any] = await self.execute("HMGET", key, *fields)
        return result

    async def ping(self) -> bool:
        return bool(await self.execute("PING"))

    async def aclose(self) -> None:
        """Nothing of its own: the pool is the client's, closed with it."""
