"""Redis-side draws/s of one round with 1 and with K buckets on a loopback
Redis Cluster (SPEC §9), the draw script driven directly: no HTTP, which is
the limit on a two-core machine.

    python loadtest/cluster_bench.py --masters 3 --buckets 1,3 --draws 60000

starts ``--masters`` cluster nodes (their own ports and folders), publishes
one all-day round per K, and sends the draws through the same pipelining
transport the API uses, from ``--tasks`` concurrent tasks of distinct users.
Per run it reads ``INFO commandstats`` of every primary before and after:
a shard's script CPU (``usec`` of ``evalsha``) is what limits the round there,
so **Redis-side draws/s = draws / (the busiest primary's script seconds)**.
With one bucket every draw lands on one primary; with K buckets spread over
the slot space (app/store/redis/keys.py) they split over the primaries. The
client's own wall-clock rate is printed too, but on two cores the Python
client, not Redis, sets it. Repeats ``--rounds`` times and prints medians.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import Settings
from app.domain import fairness
from app.domain.audit import Actor
from app.domain.buckets import bucket_of
from app.services.container import Services
from app.store.redis.connection import connect
from app.store.redis.draw import RoundCall
from app.store.redis.replies import Drawn
from app.store.redis.store import open_store
from app.store.sql.connection import upgrade
from app.store.sql.database import Database
from tests.redisproc import redis_cluster

BY = Actor("cluster-bench", "")


def config(k: int) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    return {
        "name": f"cluster bench K={k}",
        "kind": "time",
        "timezone": "UTC",
        "start_date": today.isoformat(),
        "end_date": (today + dt.timedelta(days=1)).isoformat(),
        "probability": "manual",
        "buckets": k,
        "stop_when_sold_out": False,
        "sessions": [
            {
                "start": "00:00:00",
                "end": "24:00:00",
                "pools": [
                    {
                        "prizes": [
                            {
                                "key": "c2",
                                "type": "coupon",
                                "name": "2 yuan",
                                "value": "C2",
                                "quantity": 10**8,
                                "probability": 0.1,
                            }
                        ]
                    }
                ],
            }
        ],
    }


async def draw_as(svc: Services, call: RoundCall, version: int, seed: bytes, user: str) -> bool:
    """One draw through the API's own store call, no HTTP; True if drawn."""
    out = await svc.redis.draws.draw(
        call,
        version=version,
        user_id=user,
        user_key=fairness.user_key(seed, user, ""),
        client_seed="",
        idempotency_key=None,
        grant_id=None,
    )
    return isinstance(out, Drawn)


async def script_usec(urls: list[str]) -> dict[str, tuple[int, int]]:
    """``(calls, usec)`` of evalsha on each primary."""
    out = {}
    for url in urls:
        c = connect(url, timeout=10)
        try:
            stats = await c.info("commandstats")
            s = stats.get("cmdstat_evalsha", {"calls": 0, "usec": 0})
            out[url] = (int(s["calls"]), int(s["usec"]))
        finally:
            await c.aclose()
    return out


async def one_run(svc: Services, urls: list[str], k: int, draws: int, tasks: int) -> dict[str, Any]:
    rec = await svc.activities.create(config(k), BY)
    await svc.activities.publish(rec.id, BY)
    rt = await svc.runtimes.get(rec.id)
    rnd = rt.timeline.nearest(svc.clock.now_ms())
    assert rnd is not None
    seed, _ = await svc.runtimes.seed_of(rt, rnd)
    calls = [svc.redis.draws.prepared(rt, rnd, b) for b in range(k)]
    users = [f"u{rec.id}-{i}" for i in range(draws)]
    before = await script_usec(urls)
    per_task = draws // tasks

    async def worker(t: int) -> int:
        n = 0
        for u in users[t * per_task : (t + 1) * per_task]:
            n += await draw_as(svc, calls[bucket_of(rt.id, u, k)], rt.version, seed, u)
        return n

    t0 = time.perf_counter()
    done = sum(await asyncio.gather(*[worker(t) for t in range(tasks)]))
    wall = time.perf_counter() - t0
    after = await script_usec(urls)
    per_node = {
        url: (after[url][0] - before[url][0], after[url][1] - before[url][1]) for url in urls
    }
    busiest = max(usec for _, usec in per_node.values())
    return {
        "drawn": done,
        "wall": done / wall,
        "redis": done / (busiest / 1e6),
        "usec_per_draw": sum(u for _, u in per_node.values()) / max(1, done),
        "split": [c for c, _ in per_node.values()],
    }


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--masters", type=int, default=3)
    ap.add_argument("--buckets", default="1,3")
    ap.add_argument("--draws", type=int, default=60_000)
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ks = [int(k) for k in args.buckets.split(",")]
    with tempfile.TemporaryDirectory() as tmp, redis_cluster(Path(tmp), args.masters) as nodes:
        urls = [n.url for n in nodes]
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(upgrade, db_url)
        settings = Settings(
            _env_file=None,
            redis_url=urls[0],
            redis_cluster=True,
            database_url=db_url,
            secret_key="c" * 40,  # type: ignore[call-arg]
            rate_limit_user=0,
            rate_limit_ip=0,
        )
        # The API's own transport (pipelining, routed by slot).
        store = open_store(
            urls[0], timeout=10, cluster=True, connections=8, offset_ms=0, idempotency_ttl=60
        )
        db = Database(db_url, audit_key=settings.audit_key_bytes)
        svc = Services(settings, store, db)
        print(
            f"cluster bench: {args.masters} primaries on loopback, {args.draws:,} draws per run, "
            f"{args.tasks} tasks, {args.rounds} rounds"
        )
        results: dict[int, list[dict[str, Any]]] = {k: [] for k in ks}
        try:
            for r in range(args.rounds):
                for k in ks:  # interleaved, so drift on a shared machine hits both
                    res = await one_run(svc, urls, k, args.draws, args.tasks)
                    results[k].append(res)
                    print(
                        f"  round {r + 1} K={k}: Redis-side {res['redis']:>9,.0f} draws/s, "
                        f"client {res['wall']:>7,.0f} draws/s, {res['usec_per_draw']:.1f} us "
                        f"script CPU per draw, calls per primary {res['split']}"
                    )
        finally:
            await svc.close()
        base = statistics.median(x["redis"] for x in results[ks[0]])
        for k in ks:
            med = statistics.median(x["redis"] for x in results[k])
            print(
                f"K={k}: median Redis-side {med:,.0f} draws/s "
                f"({med / base:.2f}x K={ks[0]}), client {statistics.median(x['wall'] for x in results[k]):,.0f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
