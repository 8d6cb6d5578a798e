"""Flush benchmark: draws/s the worker writes into MariaDB, by batch size.

    python loadtest/flush_bench.py [--rows 200000] [--batches 500,1000,2000,5000] [--repeat 3]
                                   [--wins 0.01] [--users N]

Uses REDRAIN_BENCH_REDIS_URL (default redis://127.0.0.1:6379/11, flushed!) and
REDRAIN_BENCH_MARIADB_URL (default mysql+asyncmy://root@127.0.0.1:3306); creates
and drops its own database. For each batch size it publishes an activity, fills
its round streams with ``--rows`` ledger entries as lua/draw.lua writes them
(every field, in its order; two rounds, so a
batch spans streams as in a real burst), then times the real Worker draining
them (redis-py plus the pipelining transport, as ``redrain worker`` has them):
every row is written, checked for duplicates and acknowledged.
Prints draws/s per run and the median per batch size, with the CPU per draw
of the worker (this process), of Redis (the server behind the URL, found by its
port) and of MariaDB (``mariadbd`` on this machine), Redis's own time per
draw in the stream commands (INFO commandstats), the database rows the run
added per 1,000 draws (every table the flush writes) and MariaDB's data +
index bytes per draw (information_schema after ANALYZE TABLE).

The draws are a rain: ``--wins`` of them win (default 1%), drawn by
``--users`` players (default one per 300 draws: ~150 taps in each of the two rounds). The script reads the ledger
only through SQL and ``db.draws.count``, so a copy of it runs against an
older checkout for a before → after (docs/worker.md).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.ext.asyncio import create_async_engine

from app import heap
from app.config import Settings
from app.domain.audit import Actor
from app.jobs.worker import Worker
from app.services.container import Services
from app.store.redis import connection as engine_conn
from app.store.redis import keys
from app.store.redis.store import RedisStore
from app.store.redis.transport import RedisTransport
from app.store.sql.connection import upgrade
from app.store.sql.database import Database
from loadtest.bench import TICK, commandstats, cpu_ticks, pid_of

REDIS = os.environ.get("REDRAIN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
BENCH = Actor("bench")
MARIADB = os.environ.get("REDRAIN_BENCH_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306")
DB_NAME = "redrain_flush_bench"


def config(day: str) -> dict[str, object]:
    prizes = [
        {
            "key": "c2",
            "type": "coupon",
            "name": "2 yuan",
            "value": "CPN-2",
            "quantity": 10**6,
            "probability": 0.3,
        },
        {
            "key": "c5",
            "type": "coupon",
            "name": "5 yuan",
            "value": "CPN-5",
            "quantity": 10**6,
            "probability": 0.1,
        },
    ]
    return {
        "name": "flush bench",
        "kind": "time",
        "start_date": day,
        "end_date": day,
        "sessions": [
            {"start": "10:00:00", "end": "11:00:00", "pools": [{"prizes": prizes}]},
            {"start": "12:00:00", "end": "13:00:00", "pools": [{"prizes": prizes}]},
        ],
    }


async def fill(client: object, aid: int, rows: int, wins: float, users: int) -> None:
    sfxs = ["20300601:0", "20300601:1"]
    chunk = 5000
    every = max(1, round(1 / wins)) if wins > 0 else rows + 1
    for start in range(0, rows, chunk):
        pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
        for i in range(start, min(rows, start + chunk)):
            sfx = sfxs[i % 2]
            seq = i // 2 + 1
            won = i % every == 0
            pipe.xadd(
                keys.stream(aid, sfx),
                {
                    "d": f"{aid}:{sfx}:{seq}",
                    "u": f"user{(i * 7919) % users}",
                    "n": str(i % 5 + 1),
                    "c": "",
                    "p": "1" if won else "0",
                    "k": "c2" if won else "",
                    "w": "1" if won else "0",
                    "x": f"{i:040x}",
                    "t": str(1_900_000_000_000 + i),
                    "o": "1",
                    "g": "",
                },
            )
        await pipe.execute()


def redis_pid(port: int) -> int | None:
    """The redis-server listening on ``port`` (this machine's, not a container's)."""
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "INFO", "server"], capture_output=True, text=True
    ).stdout
    m = re.search(r"^process_id:(\d+)", out, re.M)
    return int(m.group(1)) if m else None


LEDGER_TABLES = ("draws", "loss_blocks", "loss_users", "notifications")


async def footprint(
    db: Database, *, rebuild: bool = False, parts: dict[str, int] | None = None
) -> tuple[int, int]:
    """(rows, data + index bytes) of the tables the flush writes, as MariaDB counts them;
    ``rebuild``: after OPTIMIZE TABLE, the size at rest (without the pages that
    rewritten blobs and page splits leave until purge and reuse)."""
    async with db.session() as s:
        conn = await s.connection()
        have = [
            t
            for (t,) in await conn.exec_driver_sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
            )
            if t in LEDGER_TABLES
        ]
        rows = 0
        for t in have:
            counted = await conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}")  # noqa: S608 - ours
            rows += int(counted.scalar() or 0)
            await conn.exec_driver_sql(f"{'OPTIMIZE' if rebuild else 'ANALYZE'} TABLE {t}")
        size = 0
        for t in have:
            got = await conn.exec_driver_sql(
                "SELECT data_length + index_length FROM information_schema.tables"
                " WHERE table_schema = DATABASE() AND table_name = %s",
                (t,),
            )
            bytes_ = int(got.scalar() or 0)
            size += bytes_
            if parts is not None:
                parts[t] = bytes_
    return rows, size


async def activity_ids(db: Database) -> list[int]:
    async with db.session() as s:
        got = await (await s.connection()).exec_driver_sql("SELECT id FROM activities")
        return [int(i) for (i,) in got]


async def one_run(
    batch: int,
    rows: int,
    client: object,
    settings: Settings,
    db: Database,
    *,
    settle: bool,
    wins: float,
    users: int,
) -> tuple[float, dict[str, float]]:
    """Draws/s, and per draw: CPU in microseconds of the worker (this process),
    Redis, MariaDB and Redis's own time in the stream commands; rows added per
    1,000 draws; MariaDB bytes per draw."""
    # As `redrain worker` has it: redis-py plus the transport (the stream reads).
    fast = RedisTransport(REDIS, timeout=10)
    eng = RedisStore(client, offset_ms=settings.clock_offset_ms, idempotency_ttl=60, fast=fast)
    svc = Services(settings, eng, db)
    rec = await svc.activities.create(config("2030-06-01"), BENCH)
    await svc.activities.publish(rec.id, BENCH)
    await fill(client, rec.id, rows, wins, users)
    rows0, bytes0 = await footprint(db)
    worker = Worker.wired(
        settings.model_copy(update={"worker_batch": batch}), svc.redis, db, name="bench"
    )
    port = urlparse(REDIS).port or 6379
    others = {"redis": redis_pid(port), "mariadb": pid_of("mariadbd")}
    ticks0 = {k: cpu_ticks(p) for k, p in others.items() if p}
    stats0 = commandstats(port)
    if settle:
        heap.settle(heap.WORKER)  # as `redrain worker` does after start-up
    t0, c0 = time.perf_counter(), time.process_time()
    await worker.drain(600)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    costs = {"worker": cpu / rows * 1e6}
    for k, p in others.items():
        if p:
            costs[k] = (cpu_ticks(p) - ticks0[k]) / TICK / rows * 1e6
    stats1 = commandstats(port)
    costs["redis streams"] = (
        sum(stats1.get(c, 0) - stats0.get(c, 0) for c in ("xreadgroup", "xack", "xautoclaim"))
        / rows
    )
    await fast.aclose()
    assert await db.draws.count(rec.id) == rows, "not every draw was written"
    rows1, bytes1 = await footprint(db)
    costs["rows/1k"] = (rows1 - rows0) / rows * 1000
    costs["bytes"] = (bytes1 - bytes0) / rows
    return rows / elapsed, costs


def per_row(costs: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:5.1f}" for k, v in costs.items())


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batches", default="500,1000,2000,5000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--wins", type=float, default=0.01, help="share of winning draws")
    ap.add_argument(
        "--users", type=int, help="players (default: one per 300 draws, ~150 taps a round)"
    )
    ap.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the event loop (redrain worker runs on uvloop; asyncio: the stock loop)",
    )
    ap.add_argument(
        "--gc",
        choices=("settled", "default"),
        default="settled",
        help="the collector as `redrain worker` sets it (app/heap.py) or Python's default",
    )
    return ap.parse_args()


async def main(args: argparse.Namespace) -> None:

    admin = create_async_engine(f"{MARIADB}/test")
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        await conn.exec_driver_sql(f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4")
    url = f"{MARIADB}/{DB_NAME}"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        _env_file=None,
        redis_url=REDIS,
        database_url=url,
        secret_key="b" * 40,  # type: ignore[call-arg]
        admin_token="bench-admin-token",
        stream_retention=0,
        # "now" is 2030-06-01 12:30 Shanghai: both bench rounds have started.
        clock_offset=dt.datetime(2030, 6, 1, 4, 30, tzinfo=dt.UTC).timestamp() - time.time(),
    )
    client = engine_conn.connect(REDIS, timeout=10)
    db = Database(url, audit_key=settings.audit_key_bytes)
    print(
        f"flush benchmark: {args.rows} draws per run, {args.wins:.1%} wins, "
        f"{args.users or max(1, args.rows // 300)} players, {args.loop} loop, gc {args.gc}, "
        f"MariaDB {MARIADB}, Redis {REDIS}"
    )
    try:
        for batch in (int(b) for b in args.batches.split(",")):
            rates: list[float] = []
            costs: dict[str, list[float]] = {}
            for _ in range(args.repeat):
                await client.flushdb()
                rate, cost = await one_run(
                    batch,
                    args.rows,
                    client,
                    settings,
                    db,
                    settle=args.gc == "settled",
                    wins=args.wins,
                    users=args.users or max(1, args.rows // 300),
                )
                rates.append(rate)
                for k, v in cost.items():
                    costs.setdefault(k, []).append(v)
                print(f"  batch {batch:>5}: {rate:>9,.0f} draws/s  per draw: {per_row(cost)}")
            medians = {k: statistics.median(v) for k, v in costs.items()}
            print(
                f"batch {batch:>5}: median {statistics.median(rates):>9,.0f} draws/s, "
                f"per draw (CPU us, rows per 1k, bytes): {per_row(medians)}"
            )
        drawn = sum([await db.draws.count(a) for a in await activity_ids(db)])
        parts: dict[str, int] = {}
        _, rest = await footprint(db, rebuild=True, parts=parts)
        each = ", ".join(f"{t} {n / drawn:.1f}" for t, n in parts.items())
        print(
            f"at rest (OPTIMIZE TABLE): {rest / drawn:.1f} bytes per draw ({each}) over {drawn:,}"
        )
    finally:
        await client.flushdb()
        await client.aclose()
        await db.close()
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        await admin.dispose()


if __name__ == "__main__":
    cli = parse_args()
    if cli.loop == "asyncio":
        asyncio.run(main(cli))
    else:
        import uvloop

        uvloop.run(main(cli))
