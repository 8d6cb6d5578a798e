"""The hot path's interface (issue 29, item 1): over fakeredis, the adapter
answers raw replies shaped as production's transport gives them, so unit
tests run the code production runs (tests/store/redis/test_streams.py
compares the two on real Redis)."""

from __future__ import annotations

import pytest
from redis import exceptions as rexc

from app.domain.errors import ConfigError
from app.store.redis.fakes import fake_client
from app.store.redis.fast import ClientTransport, FastPath
from app.store.redis.transport import RedisTransport

pytestmark = pytest.mark.unit


async def test_the_adapter_gives_raw_replies_as_the_transport_does() -> None:
    client = fake_client()
    fast: FastPath = ClientTransport(client)
    await client.xadd("s", {"a": "1", "b": "2"}, id="1-1")
    await client.xgroup_create("s", "g", id="0")
    got = await fast.execute("XREADGROUP", "GROUP", "g", "c", "COUNT", 5, "STREAMS", "s", ">")
    assert got == [[b"s", [[b"1-1", [b"a", b"1", b"b", b"2"]]]]]  # RESP2's shape, not a map
    assert await fast.execute("XACK", "s", "g", "1-1") == 1
    assert await fast.hmget("h", ["x"]) == [None] and await fast.exists("s") == 1
    sha = (await fast.script_load("return KEYS[1]")).decode()
    assert await fast.evalsha(sha, 1, "k") == b"k"
    with pytest.raises(rexc.NoScriptError):
        await fast.evalsha("0" * 40, 0)
    with pytest.raises(ConfigError, match="WAIT_REPLICAS"):
        await fast.evalsha_wait(sha, 1, "k", replicas=1, timeout_ms=10)
    await client.aclose()


def test_both_implement_the_interface() -> None:
    members = [m for m in vars(FastPath) if not m.startswith("_")]
    for impl in (RedisTransport, ClientTransport):
        assert all(callable(getattr(impl, m, None)) for m in members), impl
