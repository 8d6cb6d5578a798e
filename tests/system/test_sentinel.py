"""Standalone Redis behind Sentinel (issue 15): REDRAIN_REDIS_SENTINELS names
the sentinels, both clients find the primary through them, and when the
primary is SIGKILLed mid-rain the replica Sentinel promotes takes the draws
without a restart: 503 only during the failover window. Private servers on
loopback ports (never the machine's shared Redis)."""

from __future__ import annotations

import asyncio
import collections
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from app.domain.errors import Unavailable
from app.services.container import Services
from app.store.redis.store import open_store
from app.store.sql.connection import upgrade
from app.store.sql.database import Database
from tests.conftest import settings_for
from tests.helpers import AUDIT_KEY, BY, all_day_utc, free_port
from tests.redisproc import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WINDOW_S = 20


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer, int]]:
    primary = RedisServer(tmp_path / "primary").start()
    replica = RedisServer(
        tmp_path / "replica", args=["--replicaof", "127.0.0.1", str(primary.port)]
    ).start()
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {primary.port} 1\n"
        "sentinel down-after-milliseconds mymaster 1000\n"
        "sentinel failover-timeout mymaster 5000\n"
    )
    sentinel = subprocess.Popen(
        ["redis-server", str(conf), "--sentinel", "--logfile", str(tmp_path / "sentinel.log")]
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            out = subprocess.run(
                ["redis-cli", "-p", str(port), "sentinel", "replicas", "mymaster"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "127.0.0.1" in out and "master_link_status:up" in replica.cli("info", "replication"):
                break
            assert time.monotonic() < deadline, "sentinel did not see the replica"
            time.sleep(0.1)
        yield primary, replica, port
    finally:
        sentinel.terminate()
        sentinel.wait(10)
        replica.stop()
        primary.stop()


@pytest_asyncio.fixture
async def svc(
    watched: tuple[RedisServer, RedisServer, int], tmp_path: Path
) -> AsyncIterator[Services]:
    _, _, port = watched
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'sentinel.db'}"
    await asyncio.to_thread(upgrade, db_url)
    settings = settings_for(
        db_url,
        0.0,
        redis_url=None,
        redis_sentinels=f"127.0.0.1:{port}",
        rate_limit_user=0,
        rate_limit_ip=0,
    )
    assert not settings.embedded and settings.sentinel_addresses == [("127.0.0.1", port)]
    store = open_store(
        None,
        timeout=2,
        cluster=False,
        connections=1,
        offset_ms=0,
        idempotency_ttl=60,
        sentinels=settings.sentinel_addresses,
        service="mymaster",
    )
    services = Services(settings, store, Database(db_url, audit_key=AUDIT_KEY))
    yield services
    await services.close()


async def test_the_primary_killed_behind_sentinel(
    svc: Services, watched: tuple[RedisServer, RedisServer, int]
) -> None:
    primary, replica, _ = watched
    rec = await svc.activities.create(all_day_utc(), BY)
    await svc.activities.publish(rec.id, BY)
    answered: list[float] = []
    failures: list[tuple[float, str]] = []
    stop = asyncio.Event()

    async def player(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                await svc.draws.draw(f"s{n}-{i}", rec.id)
                answered.append(time.monotonic())
            except Exception as exc:  # recorded; only Unavailable is allowed below
                failures.append((time.monotonic(), type(exc).__name__))
                await asyncio.sleep(0.05)

    players = [asyncio.create_task(player(n)) for n in range(4)]
    await asyncio.sleep(1.0)
    before = len(answered)
    killed_at = time.monotonic()
    primary.kill()
    deadline = killed_at + WINDOW_S + 10
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        last_failure = max((t for t, _ in failures), default=0.0)
        if sum(t > killed_at for t in answered) > 200 and time.monotonic() - last_failure > 2:
            break
    stop.set()
    await asyncio.gather(*players)

    assert before > 50
    assert failures, "the kill did not land"
    assert set(collections.Counter(k for _, k in failures)) == {Unavailable.__name__}
    window = max(t for t, _ in failures) - min(t for t, _ in failures)
    assert window < WINDOW_S, f"draws refused for {window:.1f} s"
    assert sum(t > max(t for t, _ in failures) for t in answered) > 100
    assert "role:master" in replica.cli("info", "replication")  # promoted
    print(f"sentinel failover: {len(failures)} draws refused over {window:.1f} s")
