"""What REDRAIN_REDIS_WAIT_REPLICAS costs: draws/s and latency of the draw
script with and without waiting for a replica, in one run.

    python loadtest/wait_bench.py --draws 40000 --tasks 64 --rounds 3

starts a private primary and one replica on loopback (never the machine's
shared Redis), publishes an all-day round, and drives the draw through the
API's pipelining transport (no HTTP) from ``--tasks`` concurrent tasks, with
``wait_replicas`` 0 and 1 in turn. Prints per round and the medians: draws/s,
p50 and p99 of one draw's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import Settings
from app.services.container import Services
from app.store.redis.store import open_store
from app.store.sql.connection import upgrade
from app.store.sql.database import Database
from loadtest.cluster_bench import BY, config, draw_as
from tests.redisproc import RedisServer


def synced(replica: RedisServer) -> None:
    deadline = time.monotonic() + 30
    while "master_link_status:up" not in replica.cli("info", "replication"):
        if time.monotonic() > deadline:
            raise RuntimeError("the replica did not sync")
        time.sleep(0.05)


async def one_run(svc: Services, draws: int, tasks: int) -> dict[str, float]:
    rec = await svc.activities.create(config(1), BY)
    await svc.activities.publish(rec.id, BY)
    rt = await svc.runtimes.get(rec.id)
    rnd = rt.timeline.nearest(svc.clock.now_ms())
    assert rnd is not None
    seed, _ = await svc.runtimes.seed_of(rt, rnd)
    call = svc.redis.draws.prepared(rt, rnd)
    per_task = draws // tasks
    latencies: list[float] = []

    async def worker(t: int) -> int:
        n = 0
        for i in range(per_task):
            u = f"u{rec.id}-{t}-{i}"
            t0 = time.perf_counter()
            n += await draw_as(svc, call, rt.version, seed, u)
            latencies.append(time.perf_counter() - t0)
        return n

    t0 = time.perf_counter()
    done = sum(await asyncio.gather(*[worker(t) for t in range(tasks)]))
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    return {"rate": done / wall, "p50": q[49] * 1000, "p99": q[98] * 1000}


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--draws", type=int, default=40_000)
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        primary = RedisServer(Path(tmp) / "primary").start()
        replica = RedisServer(
            Path(tmp) / "replica", args=["--replicaof", "127.0.0.1", str(primary.port)]
        ).start()
        try:
            synced(replica)
            db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            await asyncio.to_thread(upgrade, db_url)
            settings = Settings(
                _env_file=None,
                redis_url=primary.url,
                database_url=db_url,
                secret_key="w" * 40,  # type: ignore[call-arg]
                rate_limit_user=0,
                rate_limit_ip=0,
            )
            db = Database(db_url, audit_key=settings.audit_key_bytes)
            stacks: dict[int, Services] = {}
            for wait in (0, 1):
                store = open_store(
                    primary.url,
                    timeout=5,
                    cluster=False,
                    connections=1,
                    offset_ms=0,
                    idempotency_ttl=60,
                    wait_replicas=wait,
                    wait_timeout_ms=1000,
                )
                stacks[wait] = Services(settings, store, db)
            print(
                f"wait bench: primary + 1 replica on loopback, {args.draws:,} draws per run, "
                f"{args.tasks} tasks, {args.rounds} rounds"
            )
            results: dict[int, list[dict[str, float]]] = {0: [], 1: []}
            for r in range(args.rounds):
                for wait, svc in stacks.items():  # interleaved
                    res = await one_run(svc, args.draws, args.tasks)
                    results[wait].append(res)
                    print(
                        f"  round {r + 1} wait={wait}: {res['rate']:>8,.0f} draws/s, "
                        f"p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms"
                    )
            for wait, rs in results.items():
                med: dict[str, Any] = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
                print(
                    f"wait={wait}: median {med['rate']:,.0f} draws/s, "
                    f"p50 {med['p50']:.2f} ms, p99 {med['p99']:.2f} ms"
                )
            for svc in stacks.values():
                await svc.redis.close()
            await db.close()
        finally:
            replica.stop()
            primary.stop()


if __name__ == "__main__":
    asyncio.run(main())
