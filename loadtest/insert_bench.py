"""What a draw row costs MariaDB, and what other ways of writing it would save.

    python loadtest/insert_bench.py [--rows 100000] [--batch 1000] [--repeat 2]

Writes ``--rows`` draw rows (1% wins, as in a rain) into the real ``draws``
table of a scratch database (REDRAIN_BENCH_MARIADB_URL, default
mysql+asyncmy://root@127.0.0.1:3306; created and dropped here), batch by
batch, one commit per batch, and prints the CPU per row of this process (the
client) and of ``mariadbd`` for:

- ``insert``: one multi-row INSERT per batch in text (asyncmy's executemany:
  every value escaped into the statement), what the worker did before and
  still does on MySQL;
- ``bulk``: the worker's path on MariaDB (app/store/sql/bulk.py): one
  prepared INSERT, every row bound in binary by ``COM_STMT_BULK_EXECUTE``;
- ``load data``: the same rows as a tab-separated file and ``LOAD DATA INFILE``
  (the server reads the file: MariaDB must run on this machine with
  ``secure_file_priv`` empty; asyncmy's ``LOCAL`` variant, which a remote
  database needs, fails in asyncmy 0.2.18 with a TypeError on the file name);
- ``insert -<index>``: the INSERT with one secondary index dropped, to price
  each index.

Pairs run interleaved; the machine is shared, so compare medians of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.ext.asyncio import create_async_engine

from app.domain.types import DrawRecord
from app.store.sql import bulk
from app.store.sql.connection import upgrade
from app.store.sql.rows import DRAWS, INSERT_COLUMNS, draw_row
from loadtest.bench import TICK, cpu_ticks, pid_of
from loadtest.harness import scratch_database

MARIADB = os.environ.get("REDRAIN_BENCH_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306")
DB_NAME = "redrain_insert_bench"
# The draws table's secondary indexes, as the models declare them.
INDEXES = {ix.name: ix for ix in DRAWS.indexes if ix.name and ix.name.startswith("ix_")}
_TSV = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\0": "\\0"})


def draw_rows(n: int, first_seq: int) -> list[tuple[Any, ...]]:
    out = []
    for i in range(n):
        seq = first_seq + i
        won = seq % 100 == 0
        rec = DrawRecord(
            draw_id=f"7:20300601:0:{seq}",
            activity_id=7,
            round_id="7:20300601:0",
            seq=seq,
            user_id=f"user{seq % 50_000}",
            nonce=seq % 5 + 1,
            client_seed="",
            pick=1 if won else 0,
            won=won,
            prize_key="c2" if won else None,
            random=f"{seq:040x}",
            drawn_at_ms=1_900_000_000_000 + seq,
            stream_id=f"1900000000000-{seq}",
        )
        out.append(draw_row(rec, None))
    return out


def tsv(rows: list[tuple[Any, ...]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "\\N"
        if isinstance(v, bool):
            return "1" if v else "0"
        return v.translate(_TSV) if isinstance(v, str) else str(v)

    return "\n".join("\t".join(cell(v) for v in row) for row in rows)


async def one_run(
    conn: Any, mode: str, batches: list[list[tuple[Any, ...]]], tmp: Path
) -> dict[str, float]:
    sql = bulk.statement("draws", INSERT_COLUMNS, "%s")
    load = (
        f"LOAD DATA INFILE '{tmp}' INTO TABLE draws CHARACTER SET utf8mb4 "
        f"({', '.join(INSERT_COLUMNS)})"
    )
    server = pid_of("mariadbd")
    rows = sum(len(b) for b in batches)
    c0, s0, t0 = time.process_time(), cpu_ticks(server) if server else 0, time.perf_counter()
    async with conn.cursor() as cur:
        for batch in batches:
            if mode == "bulk":  # as the worker writes on MariaDB (app/store/sql/bulk.py)
                names, bound = bulk.without_null_columns(INSERT_COLUMNS, batch)
                assert await bulk.bind(conn, bulk.statement("draws", names, "?"), bound)
            elif mode == "load data":
                tmp.write_text(tsv(batch))  # noqa: ASYNC240 - part of the cost measured
                await cur.execute(load)
                assert cur.rowcount == len(batch), "LOAD DATA skipped rows"
            else:
                await cur.executemany(sql, batch)
            await conn.commit()
    out = {
        "client": (time.process_time() - c0) / rows * 1e6,
        "rows/s": rows / (time.perf_counter() - t0),
    }
    if server:
        out["mariadbd"] = (cpu_ticks(server) - s0) / TICK / rows * 1e6
    return out


async def main(args: argparse.Namespace) -> None:
    import asyncmy  # the driver the worker uses, without SQLAlchemy in between

    await scratch_database(MARIADB, DB_NAME, "create")
    url = f"{MARIADB}/{DB_NAME}"
    await asyncio.to_thread(upgrade, url)
    admin = create_async_engine(url)
    conn = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", db=DB_NAME)
    tmp = Path(tempfile.gettempdir()) / "redrain-insert-bench.tsv"
    modes = ["insert", "bulk", "load data", *(f"insert -{ix}" for ix in INDEXES)]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    print(f"insert benchmark: {args.rows} rows per run, batches of {args.batch}, {MARIADB}")
    seq = 1
    try:
        for _ in range(args.repeat):
            for mode in modes:
                async with admin.begin() as c:
                    # TRUNCATE, not DELETE: no purge left to count in the next run
                    await c.exec_driver_sql("TRUNCATE TABLE draws")
                    for ix in INDEXES:  # every index back, then drop the one priced
                        if ix not in await index_names(c):
                            await c.run_sync(INDEXES[ix].create)
                    if mode.startswith("insert -"):
                        await c.exec_driver_sql(f"DROP INDEX {mode[8:]} ON draws")
                await asyncio.sleep(1)  # let the server's background work settle
                batches = [
                    draw_rows(args.batch, seq + k * args.batch)
                    for k in range(args.rows // args.batch)
                ]
                seq += args.rows
                kind = mode if mode in ("bulk", "load data") else "insert"
                r = await one_run(conn, kind, batches, tmp)
                results[mode].append(r)
                print(
                    f"  {mode:30} " + "  ".join(f"{k} {v:,.1f}" for k, v in r.items()), flush=True
                )
        print("medians (CPU in us per row):")
        for mode, runs in results.items():
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"  {mode:30} " + "  ".join(f"{k} {v:,.1f}" for k, v in med.items()))
    finally:
        conn.close()
        await admin.dispose()
        tmp.unlink(missing_ok=True)
        await scratch_database(MARIADB, DB_NAME, "drop")


async def index_names(c: Any) -> set[str]:
    res = await c.exec_driver_sql("SHOW INDEX FROM draws")
    return {row[2] for row in res}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2)
    asyncio.run(main(ap.parse_args()))
