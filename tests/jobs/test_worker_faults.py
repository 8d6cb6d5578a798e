"""The worker as a real process under faults: kill -9 at random moments and at
the worst ones (before commit, after commit before XACK, between XACKs), the
database or Redis unreachable mid-flush. Afterwards nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.domain.types import DrawResult
from app.services.container import Services
from app.store.redis import keys
from tests.conftest import ServiceFactory
from tests.helpers import (
    BY,
    DAY,
    MARIADB_URL,
    REDIS_URL,
    local,
    offset_to,
    prize,
    production_env,
    rain,
    subprocess_env,
    users_in,
)
from tests.proxy import Proxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OFFSET = offset_to(local(DAY, 10, 5))


def worker_env(database_url: str, redis_url: str = REDIS_URL, **extra: str) -> dict[str, str]:
    return subprocess_env(
        production_env(
            database_url,
            redis_url=redis_url,
            clock_offset=str(OFFSET),
            worker_batch="150",
            worker_claim_idle="0.5",
            stream_retention="0",
            redis_timeout="1",
        )
        | extra
    )


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "app", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def published(svc: Services, cfg: dict[str, Any]) -> int:
    rec = await svc.activities.create(cfg, BY)
    await svc.activities.publish(rec.id, BY)
    return rec.id


async def draw_many(
    svc: Services, aids: list[int], n: int, prefix: str, count: int | None = None
) -> list[DrawResult]:
    """n draws by n players, or with ``count`` as n / count batches (SPEC §3)."""
    if count is None:
        res = await asyncio.gather(
            *[svc.draws.draw(f"{prefix}{i}", aids[i % len(aids)]) for i in range(n)]
        )
        return [r for _, r in res]
    batches = await asyncio.gather(
        *[
            svc.draws.draw_many(f"{prefix}{i}", aids[i % len(aids)], count)
            for i in range(n // count)
        ]
    )
    out = [d for _, b in batches for d in b.draws]
    assert len(out) == n  # no limit here: every batch is whole
    return out


async def wait_for_rows(svc: Services, aids: list[int], expected: int, within: float) -> int:
    deadline = time.monotonic() + within
    while True:
        count = sum([await svc.db.draws.count(a) for a in aids])
        if count >= expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.2)


async def assert_exact(svc: Services, aids: list[int], results: list[DrawResult]) -> None:
    assert sum([await svc.db.draws.count(a) for a in aids]) == len(results)
    stored_wins = {
        w.record.draw_id for a in aids for w in await svc.db.draws.winners(a, limit=100_000)
    }
    assert stored_wins == {r.draw_id for r in results if r.won}
    # Each draw once, by id, whether a row or a compact loss (docs/worker.md).
    rounds = {r.draw_id.rsplit(":", 1)[0] for r in results}
    stored = [
        d.record.draw_id for rid in rounds for d in (await svc.db.draws.round_draws(rid)).draws
    ]
    assert sorted(stored) == sorted(r.draw_id for r in results)
    for a in aids:
        assert await svc.db.draws.dead_letters(activity_id=a) == []


def started(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the worker says it started, or it already died (a failpoint may
    kill it during its first batch); at most 30 s."""
    deadline = time.monotonic() + 30
    line = f"worker {socket.gethostname()}-{proc.pid} started"
    while line not in log.read_text() and proc.poll() is None:
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.05)


async def lives(proc: subprocess.Popen[bytes], seconds: float) -> None:
    """Until the worker has run ``seconds``, or sooner if it died (a failpoint
    fired: it killed itself)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        await asyncio.to_thread(proc.wait, seconds)


def stop(proc: subprocess.Popen[bytes], log: Path) -> int:
    """SIGTERM once the worker is running (a signal during start-up just kills it)."""
    deadline = time.monotonic() + 30
    while f"worker {socket.gethostname()}-{proc.pid} started" not in log.read_text():
        assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


async def test_kill_9_loop_loses_and_doubles_nothing(
    make_mariadb_service: ServiceFactory, mariadb_url: str, artifacts: Path
) -> None:
    svc = make_mariadb_service(OFFSET)
    # Two activities: a batch then spans two streams, so a kill can land between XACKs.
    aids = [await published(svc, rain([prize("c2", 2000, 0.3)])) for _ in range(2)]
    log = artifacts / "worker-kill9.log"
    log.unlink(missing_ok=True)
    env = worker_env(
        mariadb_url, REDRAIN_FAILPOINTS="before_commit=0.08,after_commit=0.1,mid_ack=0.3"
    )
    results: list[DrawResult] = []
    killed = 0
    rng = random.Random()
    for i in range(12):
        # Every other life of the worker flushes ten-draw batches (SPEC §3).
        results += await draw_many(svc, aids, 400, prefix=f"k{i}-", count=10 if i % 2 else None)
        proc = start_worker(env, log)
        started(proc, log)  # start-up (imports) takes seconds on a slow machine
        await lives(proc, rng.uniform(0.8, 2.0))
        if proc.poll() is None:
            proc.kill()
        if proc.wait(10) == -signal.SIGKILL:
            killed += 1
    assert killed >= 10
    text = log.read_text()
    assert "failpoint" in text  # some kills hit the worst moments on purpose
    final = start_worker(worker_env(mariadb_url), log)
    try:
        count = await wait_for_rows(svc, aids, len(results), within=90)
    finally:
        assert stop(final, log) == 0
    assert count == len(results)
    await assert_exact(svc, aids, results)
    assert "unexpected error" not in log.read_text()


async def test_database_unreachable_mid_flush(
    make_mariadb_service: ServiceFactory, mariadb_url: str, artifacts: Path
) -> None:
    svc = make_mariadb_service(OFFSET)
    aid = await published(svc, rain([prize("c2", 5000, 0.3)]))
    log = artifacts / "worker-db-outage.log"
    log.unlink(missing_ok=True)
    with Proxy(3306) as proxy:
        url = f"{MARIADB_URL.rsplit(':', 1)[0]}:{proxy.port}/{mariadb_url.rsplit('/', 1)[1]}"
        proc = start_worker(worker_env(url), log)
        try:
            results = await draw_many(svc, [aid], 500, prefix="before-")
            assert await wait_for_rows(svc, [aid], 500, within=30) == 500
            proxy.cut()
            results += await draw_many(svc, [aid], 1500, prefix="during-")
            await asyncio.sleep(3)
            stored_during = await svc.db.draws.count(aid)
            proxy.restore()
            results += await draw_many(svc, [aid], 500, prefix="after-")
            assert await wait_for_rows(svc, [aid], len(results), within=60) == len(results)
        finally:
            assert stop(proc, log) == 0
    assert stored_during == 500  # nothing could be written while it was cut
    await assert_exact(svc, [aid], results)
    text = log.read_text()
    assert "database cannot be reached" in text and "recovered" in text
    assert "unexpected error" not in text


async def test_redis_unreachable_mid_flush(
    make_mariadb_service: ServiceFactory, mariadb_url: str, artifacts: Path
) -> None:
    svc = make_mariadb_service(OFFSET)
    aid = await published(svc, rain([prize("c2", 5000, 0.3)]))
    log = artifacts / "worker-redis-outage.log"
    log.unlink(missing_ok=True)
    with Proxy(6379) as proxy:
        redis_url = f"redis://127.0.0.1:{proxy.port}/{REDIS_URL.rsplit('/', 1)[1]}"
        proc = start_worker(worker_env(mariadb_url, redis_url), log)
        try:
            results = await draw_many(svc, [aid], 500, prefix="before-")
            assert await wait_for_rows(svc, [aid], 500, within=30) == 500
            proxy.cut()
            results += await draw_many(svc, [aid], 1000, prefix="during-")
            await asyncio.sleep(2.5)
            proxy.restore()
            assert await wait_for_rows(svc, [aid], len(results), within=60) == len(results)
        finally:
            assert stop(proc, log) == 0
    await assert_exact(svc, [aid], results)
    assert "Redis" in log.read_text()
    assert "unexpected error" not in log.read_text()


async def test_rebalancer_killed_mid_move_conserves_every_unit(
    make_mariadb_service: ServiceFactory, mariadb_url: str, artifacts: Path
) -> None:
    """Issue 15: worker lives that SIGKILL themselves between the halves of a
    stock move — after the take-out, after the put-in, after the record, in
    turn — while players in one bucket keep it dry. The round's units
    (quantity over the buckets plus any in flight) never change, each life
    completes what the last one left half done, and a clean worker finishes
    every move exactly once."""
    svc = make_mariadb_service(OFFSET)
    aid = await published(svc, rain([prize("c2", 30, 1.0)], buckets=3))
    sfx = "20300601:0"
    players = users_in(aid, 0, 3, 108, prefix="m")  # 12 for each of nine lives
    log = artifacts / "worker-rebalance-kill.log"
    log.unlink(missing_ok=True)

    async def total() -> int:
        units = 0
        for b in range(3):
            q = await svc.redis.client.hget(keys.round_(aid, sfx, keys.bucket(b, 3)), "q1")
            units += int(q)
            for m in await svc.redis.moves.log(aid, sfx, 3, b):
                landed = await svc.redis.moves.log(aid, sfx, 3, m.peer)
                if m.state == "out" and not any(x.move_id == m.move_id for x in landed):
                    units += m.units  # in flight
        return units

    drawn = 0
    points = ["moved_out", "moved_in", "move_recorded"]
    for i in range(9):  # bounded: nine worker lives, three at each point
        for u in players[i * 12 : i * 12 + 12]:
            drawn += (await svc.draws.draw(u, aid))[1].won
        proc = start_worker(worker_env(mariadb_url, REDRAIN_FAILPOINTS=f"{points[i % 3]}=1"), log)
        started(proc, log)
        await lives(proc, 1.5)  # three looks (every 0.5 s), unless a failpoint fired
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        await svc.redis.client.delete(keys.rebalance_lock(aid))  # the dead worker's lease
        assert await total() == 30
    text = log.read_text()
    assert {p for p in points if f"failpoint {p}" in text} == set(points), text[-2000:]
    assert "completing stock move" in text
    final = start_worker(worker_env(mariadb_url), log)
    try:
        await asyncio.sleep(2.5)
    finally:
        assert stop(final, log) == 0
    assert await total() == 30
    for b in range(3):
        assert all(m.state != "out" for m in await svc.redis.moves.log(aid, sfx, 3, b))
    moves = await svc.db.guard.moves(f"{aid}:{sfx}")
    assert moves and len({m.move_id for m in moves}) == len(moves)
    st = (await svc.activities.stats(aid, sfx))[1][0]
    assert st.prizes[0].won == drawn <= 30
