"""The rain generator: taps at a multiple of the capacity, on a fixed schedule.

    python loadtest/rain.py --factor 2.5 [--duration 10] [--connections 1000]
                            [--edge | --both] [--guard 0.8] [--procs 1]
                            [--against REV] [--set NAME=VALUE] [--json FILE]

Starts the stack of ``loadtest/overload.py`` (its own Redis, a scratch MariaDB
database, ``redrain serve --workers 2``, ``redrain worker``, tokens for 20,000
players, a published rain with ample stock, rate limits off), then per run:

1. capacity C, in the same run: a closed loop (``--capacity-connections``
   keep-alive connections drawing as fast as answers come back, 1 s warm-up,
   then ``--capacity-seconds``); C = accepted draws/s (200s);
2. the rain, open loop: ``--factor`` × C taps/s on a fixed schedule over
   ``--connections`` connections opened beforehand, against a fresh activity;
   each tap goes out on an idle connection or waits in a FIFO for one, and its
   latency counts from its scheduled time (no coordinated omission);
3. the flush worker drains, ``redrain reconcile`` checks the activity's round,
   and the answered wins are compared with the wins stored in MariaDB.

``--edge`` puts nginx in front (``deploy/nginx/run-local.sh API_PORT
LISTEN_PORT DRAW_RATE``): C is measured through it with the draw guard out of
the way, then the rain goes through it with the guard at ``--guard`` × C.
``--both`` runs straight at the API and through the edge and prints them side
by side with the targets of issue 24 (target 4), PASS or FAIL.
``--against REV`` repeats every run against ``redrain serve`` of that git
revision (before/after in one invocation).

Reported per run: offered rate, C, goodput/C, accepted p50/p99/max, refusals
(503 busy, 429 rate_limited) p50/p99, other statuses, errors, unanswered and
never-sent taps, the generator's schedule lag (a generator that cannot keep
its schedule shows there; add ``--procs``) and the CPU of every process,
the generator's own included. The generator's engine is loadtest/rain_gen.py.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.domain import tokens  # noqa: E402
from app.store.sql.connection import upgrade  # noqa: E402
from loadtest.bench import (  # noqa: E402
    ADMIN,
    MARIADB,
    SECRET,
    TICK,
    USERS,
    cpu_ticks,
    pid_of,
    prepare,
    start_api,
    workers_of,
)
from loadtest.harness import (  # noqa: E402
    EDGE_SCRIPT,
    bench_activity,
    checkout,
    descendants,
    free_port,
    scratch_database,
    start_redis,
    wait_ready,
)
from loadtest.harness import edge as start_edge  # noqa: E402
from loadtest.rain_report import consistent, figures, machine, merge, table, targets  # noqa: E402

UNLIMITED_DRAW_RATE = 10_000_000  # the guard out of the way while C is measured through nginx
MACHINE = "machine (every process)"
NOON = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


# -- processes ----------------------------------------------------------------------


def api_processes(server: subprocess.Popen[bytes]) -> dict[str, list[int]]:
    workers = workers_of(server.pid)
    if workers:
        return {f"api-{i + 1}": [p] for i, p in enumerate(workers)}
    return {"api": [server.pid, *descendants(server.pid)]}  # another process layout


def ticks(watch: dict[str, list[int]]) -> dict[str, int]:
    """CPU ticks so far of each watched group, and the whole machine's busy
    ticks (on a shared box, what other work took shows as the difference)."""
    out = {k: sum(cpu_ticks(p) for p in pids) for k, pids in watch.items()}
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    out[MACHINE] = sum(f) - f[3] - f[4]  # all but idle and iowait
    return out


# -- one generator run ----------------------------------------------------------------


def generate(
    port: int,
    aid: int,
    args: argparse.Namespace,
    work: Path,
    watch: dict[str, list[int]],
    *,
    closed: bool,
    rate: float = 0.0,
) -> tuple[dict[str, Any], dict[str, float], float]:
    """One run of ``args.procs`` generator processes against 127.0.0.1:``port``:
    their merged result, every watched process's CPU (cores) over the counted
    window, and that window's length."""
    procs = args.procs
    conns = args.capacity_connections if closed else args.connections
    duration = args.capacity_seconds if closed else args.duration
    warmup = args.warmup if closed else 0.0
    children = []
    for i in range(procs):
        cfg = {
            "mode": "closed" if closed else "open",
            "host": "127.0.0.1",
            "port": port,
            "activity": aid,
            "tokens": str(work / "tokens.txt"),
            "connections": conns // procs + (i < conns % procs),
            "rate": rate / procs,
            "phase": i / procs,  # this process's taps fall between the others'
            "duration": duration,
            "warmup": warmup,
            "grace": args.grace,
            "out": str(work / f"gen-{i}.json"),
        }
        child = subprocess.Popen(
            [sys.executable, "-m", "loadtest.rain_gen"],
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None
        child.stdin.write(json.dumps(cfg) + "\n")
        child.stdin.flush()
        children.append(child)
    try:
        for child in children:
            assert child.stdout is not None
            if not child.stdout.readline().startswith("ready"):
                raise SystemExit("a generator process did not start (see its stderr above)")
        go = time.time() + 0.3
        for child in children:
            assert child.stdin is not None
            child.stdin.write(f"go {go}\n")
            child.stdin.flush()
        time.sleep(max(0.0, go + warmup - time.time()))
        before, me, t0 = ticks(watch), resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        time.sleep(duration)
        after, me2, wall = ticks(watch), resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        wall -= t0
        for child in children:
            child.wait(timeout=duration + args.grace + 60)
            if child.returncode != 0:
                raise SystemExit(f"a generator process failed (exit {child.returncode})")
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    parts = []
    for i in range(procs):
        parts.append(json.loads((work / f"gen-{i}.json").read_text()))
    merged = merge(parts)
    cpu = {k: (after[k] - before[k]) / TICK / wall for k in before if k != MACHINE}
    own = me2.ru_utime + me2.ru_stime - me.ru_utime - me.ru_stime
    cpu["generator"] = (merged["cpu_s"] + own) / wall
    cpu[MACHINE] = (after[MACHINE] - before[MACHINE]) / TICK / wall
    return merged, cpu, wall


# -- the edge -------------------------------------------------------------------------


@contextmanager
def edge(
    args: argparse.Namespace, api_port: int, rate: float, log: Path
) -> Iterator[tuple[int, list[int]]]:
    """run-local.sh in front of ``api_port`` with the draw guard at ``rate``/s:
    the port it listens on and nginx's processes."""
    env = {"EDGE_WORKERS": str(args.edge_workers)} if args.edge_workers else {}
    with start_edge(api_port, rate, log, script=Path(args.edge_script), env=env) as running:
        yield running


# -- the runs ---------------------------------------------------------------------------


async def new_activity(base: str, name: str) -> int:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        r = await c.post("/v1/admin/activities", json=bench_activity(name), headers=headers)
        aid = int(r.raise_for_status().json()["id"])
        (await c.post(f"/v1/admin/activities/{aid}/publish", headers=headers)).raise_for_status()
    return aid


async def ledger(db_url: str, aid: int) -> tuple[int, int]:
    """Draws and wins MariaDB holds for activity ``aid``."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    eng = create_async_engine(db_url)
    try:
        async with eng.connect() as c:
            # Wins are rows of draws; plain losses are packed in loss_blocks.
            row: Any = (
                await c.exec_driver_sql(
                    "SELECT COUNT(*), COALESCE(SUM(won), 0) FROM draws WHERE activity_id = %s",
                    (aid,),
                )
            ).one()
            lost: Any = await c.scalar(
                text("SELECT COALESCE(SUM(draws), 0) FROM loss_blocks WHERE activity_id = :a"),
                {"a": aid},
            )
    finally:
        await eng.dispose()
    return int(row[0]) + int(lost or 0), int(row[1])


def stored(env: dict[str, str], db_url: str, aid: int, f: dict[str, Any]) -> dict[str, Any]:
    """After the flush worker drains: ``redrain reconcile`` on the activity (its
    clock a day on, so the all-day round has ended) and the ledger against the
    answers. Taps without a readable answer may or may not have drawn."""
    later = float(env["REDRAIN_CLOCK_OFFSET"]) + 86_400
    rec = subprocess.run(
        [sys.executable, "-m", "app", "reconcile", "--activity", str(aid), "--wait", "60"],
        env=env | {"REDRAIN_CLOCK_OFFSET": str(later), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    draws, wins = asyncio.run(ledger(db_url, aid))
    t = f["taps"]
    unknown = t["errors"] + t["unanswered"] + sum(t["other"].values())
    draws_ok = t["accepted"] <= draws <= t["accepted"] + unknown
    wins_ok = t["wins"] <= wins <= t["wins"] + unknown
    last = (rec.stdout.strip().splitlines() or ["(no output)"])[-1]
    return {
        "reconcile_ok": rec.returncode == 0,
        "reconcile": last,
        "draws": draws,
        "wins": wins,
        "pass": rec.returncode == 0 and draws_ok and wins_ok,
        "detail": f"{t['wins']:,} wins answered, {wins:,} stored; {t['accepted']:,} draws "
        f"accepted, {draws:,} stored; reconcile: {last}",
    }


def one_run(
    name: str,
    api_port: int,
    args: argparse.Namespace,
    stack: dict[str, Any],
    watch: dict[str, list[int]],
    *,
    through_edge: bool,
) -> dict[str, Any]:
    """Capacity, then the rain at ``args.factor`` × C, straight or through nginx."""
    work: Path = stack["work"]

    def capacity(port: int, w: dict[str, list[int]]) -> tuple[float, dict[str, Any]]:
        r, cpu, _ = generate(port, stack["aid"], args, work, w, closed=True)
        c = r["accepted_in_window"] / args.capacity_seconds
        return c, figures(r, capacity=c, rate=0, duration=args.capacity_seconds, cpu=cpu)

    aid = asyncio.run(new_activity(f"http://127.0.0.1:{api_port}", f"rain {name}"))
    if through_edge:
        log = work / f"nginx-{name}.log"
        with edge(args, api_port, UNLIMITED_DRAW_RATE, log) as (port, nginx):
            c, closed = capacity(port, watch | {"nginx": nginx})
        guard = args.guard * c
        with edge(args, api_port, guard, log) as (port, nginx):
            r, cpu, _ = generate(
                port,
                aid,
                args,
                work,
                watch | {"nginx": nginx},
                closed=False,
                rate=args.factor * c,
            )
    else:
        c, closed = capacity(api_port, watch)
        r, cpu, _ = generate(api_port, aid, args, work, watch, closed=False, rate=args.factor * c)
    f = figures(r, capacity=c, rate=args.factor * c, duration=args.duration, cpu=cpu)
    f["capacity_run"] = closed
    if through_edge:
        f["edge_guard_per_s"] = round(guard, 1)
    f["activity_id"] = aid
    f["database"] = stored(stack["env"], stack["db_url"], aid, f)
    f["consistency"] = consistent(f) + consistent(closed)
    print(
        f"  {name}: C {c:,.0f}/s, offered {args.factor * c:,.0f}/s, goodput "
        f"{f['goodput_over_c']} C, accepted p99 {f['latency_ms']['accepted_p99']} ms, "
        f"refused p99 {f['latency_ms']['refused_p99']} ms, generator "
        f"{f['cpu_cores']['generator']:.2f} cores",
        flush=True,
    )
    return f


def start_stack(args: argparse.Namespace, stack: dict[str, Any]) -> None:
    """Fills ``stack`` as it starts things, so that stop_stack stops what started."""
    work: Path = stack["work"]
    db_name = stack["db_name"]
    asyncio.run(scratch_database(MARIADB, db_name, "create"))
    db_url = f"{MARIADB}/{db_name}"
    upgrade(db_url)
    stack["servers"], stack["ports"] = {}, {}
    stack["redis"], redis_url = start_redis(work)
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("REDRAIN_")}
        | {
            "REDRAIN_REDIS_URL": redis_url,
            "REDRAIN_DATABASE_URL": db_url,
            "REDRAIN_SECRET_KEY": SECRET,
            "REDRAIN_ADMIN_TOKEN": ADMIN,
            "REDRAIN_CLOCK_OFFSET": str(NOON.timestamp() - time.time()),
            "REDRAIN_RATE_LIMIT_USER": "0",  # off: the generator is one address
            "REDRAIN_RATE_LIMIT_IP": "0",
            "REDRAIN_LOG_LEVEL": "warning",
        }
        | {f"REDRAIN_{k}": v for k, v in (x.split("=", 1) for x in args.set)}
    )
    stack |= {"db_url": db_url, "env": env}
    revs = {"": ROOT} | (
        {args.against: checkout(args.against, work / "against")} if args.against else {}
    )
    for rev, root in revs.items():
        port = free_port()
        cmd = [sys.executable, "-m", "app", "serve", "--port", str(port)]
        cmd += ["--workers", str(args.workers)]
        log = work / f"server{'-' + rev if rev else ''}.log"
        stack["ports"][rev] = port
        stack["servers"][rev] = start_api(cmd, env | {"PYTHONPATH": str(root)}, log, None, root)
    with (work / "worker.log").open("wb") as wlog:
        stack["flusher"] = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            env=env | {"PYTHONPATH": str(ROOT)},
            stdout=wlog,
            stderr=subprocess.STDOUT,
        )
    for rev, server in stack["servers"].items():
        wait_ready(f"http://127.0.0.1:{stack['ports'][rev]}", server, work / "server.log")
    bases = [f"http://127.0.0.1:{p}" for p in stack["ports"].values()]
    stack["aid"] = asyncio.run(prepare(bases[0], bases, baseline=False))
    exp = int(time.time()) + 86_400
    toks = [tokens.issue(SECRET.encode(), f"user{i}", exp) for i in range(USERS)]
    (work / "tokens.txt").write_text("\n".join(toks))


def stop_stack(stack: dict[str, Any]) -> None:
    procs = [*stack.get("servers", {}).values(), stack.get("flusher"), stack.get("redis")]
    for p in procs:
        if p is not None:
            p.terminate()
    for p in procs:
        if p is not None:
            p.wait(timeout=30)
    asyncio.run(scratch_database(MARIADB, stack["db_name"], "drop"))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--factor", type=float, default=2.5, help="offered taps/s as a multiple of C")
    ap.add_argument("--duration", type=float, default=10, help="seconds of the open loop")
    ap.add_argument("--connections", type=int, default=1000, help="for the open loop")
    ap.add_argument("--capacity-connections", type=int, default=96)
    ap.add_argument("--capacity-seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1, help="seconds before C is counted")
    ap.add_argument("--grace", type=float, default=5, help="seconds answers may still come")
    ap.add_argument("--procs", type=int, default=1, help="generator processes")
    ap.add_argument("--workers", type=int, default=2, help="API workers")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--edge", action="store_true", help="through nginx (run-local.sh)")
    mode.add_argument("--both", action="store_true", help="straight and through nginx")
    ap.add_argument("--guard", type=float, default=0.8, help="nginx's draw guard, × C")
    ap.add_argument("--edge-script", default=str(EDGE_SCRIPT))
    ap.add_argument("--edge-workers", type=int, help="nginx worker processes (EDGE_WORKERS)")
    ap.add_argument("--against", metavar="REV", help="also run against this git revision")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a REDRAIN_ setting for the servers, e.g. --set DRAW_CONCURRENCY=64",
    )
    ap.add_argument("--json", type=Path, help="write the report here")
    ap.add_argument("--keep", action="store_true", help="keep the logs' folder")
    args = ap.parse_args()
    if args.procs < 1 or args.connections < args.procs or args.factor <= 0:
        ap.error("--procs >= 1, --connections >= --procs, --factor > 0")
    if (args.edge or args.both) and not Path(args.edge_script).exists():
        ap.error(f"{args.edge_script} is missing: --edge needs the edge script")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    box = machine()
    print(
        f"redrain rain: factor {args.factor:g}, {args.connections} connections, "
        f"{args.duration:g} s, {args.procs} generator process(es), {args.workers} API workers; "
        f"{box['cpu_model']}, {box['cores']} cores",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="redrain-rain-"))
    modes = [False, True] if args.both else [args.edge]
    runs: dict[str, dict[str, Any]] = {}
    stack: dict[str, Any] = {"work": work, "db_name": f"redrain_rain_{os.getpid()}"}
    ok = False
    try:
        start_stack(args, stack)
        shared = {"redis-server": [stack["redis"].pid], "flush-worker": [stack["flusher"].pid]}
        if (pid := pid_of("mariadbd")) is not None:
            shared["mariadbd"] = [pid]
        for rev, server in stack["servers"].items():
            watch = api_processes(server) | shared
            for through_edge in modes:
                name = ("edge" if through_edge else "straight") + (f"@{rev}" if rev else "")
                runs[name] = one_run(
                    name, stack["ports"][rev], args, stack, watch, through_edge=through_edge
                )
        ok = True
    finally:
        stop_stack(stack)
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs: {work}", file=sys.stderr)
    checks = [c for name, f in runs.items() for c in targets(name, f, name.startswith("edge"))]
    print(f"\n{box['cpu_model']}, {box['cores']} cores\n{table(runs)}\n")
    print(f"targets (issue 24, set for 2.5 × C; this run: {args.factor:g} × C):")
    for label, passed, detail in checks:
        print(f"  {'PASS' if passed else 'FAIL'}  {label}: {detail}")
    for name, f in runs.items():
        for problem in f["consistency"]:
            print(f"  COUNTS DO NOT ADD UP in {name}: {problem}")
    if args.json:
        report = {
            "machine": box,
            "args": {k: v for k, v in vars(args).items() if k != "json"},
            "runs": runs,
            "targets": [{"target": t, "pass": p, "detail": d} for t, p, d in checks],
        }
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
