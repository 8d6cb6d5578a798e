"""What ``RedisConnection.prepare`` calls a problem waiting cannot fix
(docs/operations.md, "Start-up"); the servers themselves are in
tests/system/test_startup.py."""

from __future__ import annotations

import pytest
from redis import exceptions as rexc

from app.application import prepare_redis
from app.domain.errors import ConfigError
from app.store.redis.connection import check_version, refused_credentials
from app.store.redis.fakes import fake_client
from app.store.redis.store import RedisStore


def test_versions() -> None:
    for ok in ({"redis_version": "6.2.0"}, {"redis_version": "7.0.15"}, {"redis_version": "10.0"}):
        check_version(ok)
    check_version({"n1": {"redis_version": "7.2.4"}, "n2": {"redis_version": "7.0.0"}})
    for old in ({"redis_version": "6.0.16"}, {"redis_version": "5.0.7"}):
        with pytest.raises(ConfigError, match=r"needs Redis 6\.2 or later"):
            check_version(old)
    with pytest.raises(ConfigError, match=r"Redis 6\.0\.9 is too old"):  # one old cluster node
        check_version({"n1": {"redis_version": "7.2.4"}, "n2": {"redis_version": "6.0.9"}})


def test_credentials_are_told_from_outages() -> None:
    assert refused_credentials(rexc.AuthenticationError("invalid password")) == "invalid password"
    wrapped = rexc.ConnectionError("cannot connect to Redis at h:1: WRONGPASS invalid pair")
    assert refused_credentials(wrapped) is not None
    # The transport wraps a refused AUTH as a connection error (raise ... from).
    outer = rexc.ConnectionError("cannot connect")
    outer.__cause__ = rexc.ResponseError("NOPERM this user has no permissions to run 'info'")
    assert refused_credentials(outer) == "NOPERM this user has no permissions to run 'info'"
    for outage in (
        rexc.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
        rexc.TimeoutError("Timeout reading from socket"),
        rexc.BusyLoadingError("Redis is loading the dataset in memory"),
        OSError("Network is unreachable"),
    ):
        assert refused_credentials(outage) is None


async def test_prepare_loads_every_script() -> None:
    client = fake_client()
    store = RedisStore(client, offset_ms=0, idempotency_ttl=60)
    assert await prepare_redis(store, 0)
    for script in store.scripts.values():
        assert (await client.script_exists(script.sha)) == [True]
    await client.aclose()
