"""REDRAIN_REDIS_WAIT_REPLICAS (issue 15): a draw is answered only once a
replica has it. A private primary with one replica (never the machine's
shared Redis): with the replica up draws pass; with it stopped they answer
503 within the timeout, and a retry with the same Idempotency-Key afterwards
gets the stored answer, not a second draw."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from app import metrics
from app.domain.errors import Unavailable
from app.services.container import Services
from app.store.redis.store import open_store
from app.store.sql.connection import upgrade
from app.store.sql.database import Database
from tests.conftest import settings_for
from tests.helpers import AUDIT_KEY, BY, all_day_utc, prize
from tests.redisproc import RedisServer

pytestmark = [pytest.mark.integration]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    primary = RedisServer(tmp_path / "primary").start()
    replica = RedisServer(
        tmp_path / "replica", args=["--replicaof", "127.0.0.1", str(primary.port)]
    ).start()
    deadline = time.monotonic() + 20
    while "master_link_status:up" not in replica.cli("info", "replication"):
        assert time.monotonic() < deadline, "the replica did not sync"
        time.sleep(0.05)
    try:
        yield primary, replica
    finally:
        if replica.proc is not None:
            os.kill(replica.proc.pid, signal.SIGCONT)
        replica.stop()
        primary.stop()


@pytest_asyncio.fixture
async def svc(pair: tuple[RedisServer, RedisServer], tmp_path: Path) -> AsyncIterator[Services]:
    primary, _ = pair
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'wait.db'}"
    await asyncio.to_thread(upgrade, db_url)
    settings = settings_for(db_url, 0.0, redis_url=primary.url, redis_wait_replicas=1)
    store = open_store(
        primary.url,
        timeout=2,
        cluster=False,
        connections=1,
        offset_ms=0,
        idempotency_ttl=60,
        wait_replicas=1,
        wait_timeout_ms=300,
    )
    services = Services(settings, store, Database(db_url, audit_key=AUDIT_KEY))
    yield services
    await services.close()


async def test_draws_wait_for_a_replica(
    svc: Services, pair: tuple[RedisServer, RedisServer]
) -> None:
    _, replica = pair
    rec = await svc.activities.create(all_day_utc([prize("c2", 100, 0.5)]), BY)
    await svc.activities.publish(rec.id, BY)
    # A replica that just synced may take longer than the 0.3 s WAIT to ack
    # on a loaded machine: the first answer proves it acknowledges at all.
    for attempt in range(20):
        try:
            _, first = await svc.draws.draw("alice", rec.id, idempotency_key="warm-up")
            break
        except Unavailable:
            assert attempt < 19, "the replica never acknowledged a draw"
            await asyncio.sleep(0.25)
    assert first.draw_id

    assert replica.proc is not None
    os.kill(replica.proc.pid, signal.SIGSTOP)  # the replica stops acknowledging
    short = metrics.WAIT_SHORT._value.get()
    t0 = time.monotonic()
    with pytest.raises(Unavailable):
        await svc.draws.draw("bob", rec.id, idempotency_key="tap-1")
    assert time.monotonic() - t0 < 2  # the WAIT timeout (0.3 s), not a hang
    assert metrics.WAIT_SHORT._value.get() == short + 1

    os.kill(replica.proc.pid, signal.SIGCONT)
    _, retried = await svc.draws.draw("bob", rec.id, idempotency_key="tap-1")
    assert retried.replayed  # the draw had happened: its stored answer, no second draw
    _, again = await svc.draws.draw("carol", rec.id)
    assert not again.replayed
