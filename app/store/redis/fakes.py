"""fakeredis for the embedded mode and fast tests, made to run our scripts.

fakeredis runs Lua 5.1 like Redis but does not provide ``redis.sha1hex``;
we add it, computed exactly as Redis does, to the server's Lua runtime. The
same script tests run on real Redis and on this, so any drift shows up there.
"""

from __future__ import annotations

import hashlib
from typing import Any

import fakeredis


def _sha1hex(data: bytes) -> bytes:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest().encode()


def fake_server() -> Any:
    """A fakeredis server whose Lua runtime has ``redis.sha1hex``."""
    server = fakeredis.FakeServer()
    sync = fakeredis.FakeStrictRedis(server=server)
    sync.eval("return 1", 0)  # creates the server's Lua runtime
    runtime: Any = getattr(server, "_lua_runtime")  # noqa: B009 - fakeredis internals
    runtime.eval("function(f) redis.sha1hex = f end")(_sha1hex)
    sync.close()
    return server


def fake_client(server: Any | None = None) -> Any:
    """An asyncio fakeredis client (on a new server unless one is given)."""
    # In-memory connections are free; a large pool keeps bursts from failing.
    return fakeredis.aioredis.FakeRedis(server=server or fake_server(), max_connections=100_000)
