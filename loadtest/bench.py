"""The draw-path benchmark: draws/s against a bare ping on the same server, in one run.

    python loadtest/bench.py [--workers 2] [--connections 64] [--duration 10] [--rounds 5] [--pin]

Starts the API with N workers (``redrain serve`` plus the baseline route of
``loadtest/baseline.py``) and ``redrain worker`` (so the stream is flushed to
MariaDB as in production), publishes an activity with ample stock, and makes
tokens for 20,000 distinct users. Then, for each round, runs wrk (a C load
generator) against, in turn:

  ping      GET /healthz                      the HTTP layer alone
  draw      POST /v1/draw                     the real draw path
  draw10    POST /v1/draw {"count": 10}       ten draws in one request (``--batch N``
                                              for another count, 0 for none)
  baseline  POST /bench/draw-baseline         the same draw, Redis calls through
                                              redis-py register_script (in-run baseline)

and prints req/s, p50 and p99 latency, the API processes' CPU per request, and
the ratios draw/ping and draw/baseline, each the median over the rounds. The
CPU of every process during every run (API workers, Redis, MariaDB, the flush
worker, wrk) is printed, so a run limited by the load generator shows up.

``--against REV`` also starts ``redrain serve`` from git revision REV (checked
out into a scratch folder) on the same Redis and database, and adds its ping
and draw as targets ``ping@REV`` and ``draw@REV``: before and after a change,
measured in the same run. REV's own ``redrain worker`` flushes REV's draws
(each revision's worker is stopped with SIGSTOP while the other one's targets
run), so the flush worker's and MariaDB's CPU per draw compare too.

Needs wrk (Debian package ``wrk``) and redis-server: the harness runs its own
Redis on a free port (no persistence), so the machine's shared Redis neither
disturbs nor is disturbed by it. MariaDB is REDRAIN_BENCH_MARIADB_URL (default
mysql+asyncmy://root@127.0.0.1:3306) with a database of its own, dropped after.

``--pin`` puts the API workers on CPU 0 and Redis, the flush worker and wrk on
CPU 1 (taskset): on a 2-core machine this approximates Redis and the database
living on other hosts, and shows what the API itself costs per request.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.domain import tokens  # noqa: E402
from app.store.sql.connection import upgrade  # noqa: E402
from loadtest.harness import (  # noqa: E402
    bench_activity,
    checkout,
    free_port,
    scratch_database,
    start_redis,
    taskset,
    wait_ready,
)

MARIADB = os.environ.get("REDRAIN_BENCH_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306")
DB_NAME = "redrain_bench"
SECRET = "bench-secret-" + "x" * 32
ADMIN = "bench-admin-token-123"
USERS = 20_000
TICK = os.sysconf("SC_CLK_TCK")
TARGETS = ("ping", "draw", "baseline")
SCRIPT = str(ROOT / "loadtest" / "wrk" / "draw.lua")


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu: dict[str, float] = field(default_factory=dict)  # process -> cores used
    redis_usec: dict[str, float] = field(default_factory=dict)  # command -> usec in the run
    wall: float = 1.0  # seconds the run took
    socket_errors: int = 0  # connect/read/write errors and timeouts (part of ``errors``)
    per: int = 1  # draws each request makes (``count``)

    @property
    def api_us(self) -> float:
        """CPU the API workers spent per request, in microseconds."""
        return sum(v for k, v in self.cpu.items() if k.startswith("api-")) / self.rps * 1e6

    @property
    def draws(self) -> float:
        """Draws per second (requests × draws each)."""
        return self.rps * self.per


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def workers_of(pid: int) -> list[int]:
    """uvicorn's worker processes (not multiprocessing's resource tracker)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            out.append(int(stat.parent.name))
    return sorted(out)


def pid_of(name: str) -> int | None:
    res = subprocess.run(["pgrep", "-xo", name], capture_output=True, text=True, check=False)
    return int(res.stdout.split()[0]) if res.stdout.strip() else None


def ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def commandstats(redis_port: int | None) -> dict[str, float]:
    """Redis's own time per command so far (INFO commandstats), microseconds."""
    if redis_port is None:
        return {}
    out = subprocess.run(
        ["redis-cli", "-p", str(redis_port), "INFO", "commandstats"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^cmdstat_(\S+?):calls=\d+,usec=(\d+)", out, re.M)
    }


def run_wrk(
    url: str,
    wrk_args: list[str],
    script_args: list[str],
    processes: dict[str, int],
    duration: float,
    prefix: list[str],
    redis_port: int | None = None,
) -> Result:
    stats_before = commandstats(redis_port)
    before = {k: cpu_ticks(p) for k, p in processes.items()}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    cmd = [*prefix, "wrk", *wrk_args, "--latency", "-d", f"{round(duration)}s", url]
    if script_args:
        cmd += ["--", *script_args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.monotonic() - t0
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {k: (cpu_ticks(p) - before[k]) / TICK / wall for k, p in processes.items()}
    cpu["wrk"] = (
        wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime
    ) / wall

    def find(pattern: str) -> str:
        m = re.search(pattern, out, re.M)
        if m is None:
            raise SystemExit(f"unexpected wrk output:\n{out}")
        return m.group(1)

    stats_after = commandstats(redis_port)
    used = {k: v - stats_before.get(k, 0) for k, v in stats_after.items()}
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors += int(m.group(1))
    socket_errors = 0
    if m := re.search(r"Socket errors:.*", out):
        socket_errors = sum(int(n) for n in re.findall(r"\d+", m.group(0)))
        errors += socket_errors
    return Result(
        rps=float(find(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=ms(find(r"^\s+50%\s+(\S+)")),
        p99_ms=ms(find(r"^\s+99%\s+(\S+)")),
        errors=errors,
        cpu=cpu,
        redis_usec={k: v for k, v in used.items() if v > 0},
        wall=wall,
        socket_errors=socket_errors,
    )


async def prepare(base: str, bases: list[str], *, baseline: bool = True) -> int:
    """Publish the activity through ``base``; one draw on every server's draw routes
    (and on the baseline route of ``base``)."""
    cfg = bench_activity("bench rain")
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        aid = (await c.post("/v1/admin/activities", json=cfg, headers=headers)).json()["id"]
        (await c.post(f"/v1/admin/activities/{aid}/publish", headers=headers)).raise_for_status()
        token = tokens.issue(SECRET.encode(), "warmup", int(time.time()) + 86_400)
        auth = {"Authorization": f"Bearer {token}"}
        urls = [f"{b}/v1/draw" for b in bases]
        if baseline:
            urls.append(f"{base}/bench/draw-baseline")
        for url in urls:
            r = await c.post(url, json={"activity_id": aid}, headers=auth)
            assert r.status_code == 200, r.text
    return int(aid)


def report(
    results: dict[str, list[Result]], args: argparse.Namespace, against: str | None
) -> dict[str, object]:
    targets = list(results)
    med = {t: statistics.median(x.rps for x in results[t]) for t in targets}
    cost = {t: statistics.median(x.api_us for x in results[t]) for t in targets}
    p50 = {t: statistics.median(x.p50_ms for x in results[t]) for t in targets}
    p99 = {t: statistics.median(x.p99_ms for x in results[t]) for t in targets}

    def ratio(a: str, b: str) -> float:
        return statistics.median(x.rps / y.rps for x, y in zip(results[a], results[b], strict=True))

    print(f"\n{'target':<16}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'API CPU us/req':>16}")
    for t in targets:
        print(f"{t:<16}{med[t]:>10,.0f}{p50[t]:>9.2f}{p99[t]:>9.2f}{cost[t]:>16.0f}")
    summary: dict[str, object] = {
        "workers": args.workers,
        "connections": args.connections,
        "duration": args.duration,
        "pinned": args.pin,
        "median_rps": med,
        "median_api_cpu_us": cost,
        "median_p50_ms": p50,
        "median_p99_ms": p99,
        "draw_over_ping": ratio("draw", "ping"),
        "draw_over_baseline": ratio("draw", "baseline"),
    }
    print(
        f"\ndraw/ping     {summary['draw_over_ping']:.2f}   throughput, median of per-round ratios"
    )
    print(f"draw/baseline {summary['draw_over_baseline']:.2f}")
    print(
        f"API CPU per request: a draw costs {cost['draw'] / cost['ping']:.2f} pings; "
        f"the baseline draw costs {cost['baseline'] / cost['draw']:.2f} draws"
    )
    batched = [t for t in targets if results[t][0].per > 1]
    for t in batched:
        summary[t] = batch_summary(results, t)
    summary["stages"] = stages(results, [t for t in targets if t.startswith("draw")])
    if against is not None:
        old, old_ping = f"draw@{against}", f"ping@{against}"
        per_round = statistics.median(
            x.api_us / y.api_us for x, y in zip(results["draw"], results[old], strict=True)
        )
        summary["draw_cpu_over_before"] = per_round
        summary["draw_pings_before"] = cost[old] / cost[old_ping]
        summary["draw_pings_after"] = cost["draw"] / cost["ping"]
        print(
            f"against {against}: API CPU per draw {cost[old]:.0f} us before, "
            f"{cost['draw']:.0f} us after (after/before {per_round:.3f}, median of per-round "
            f"ratios); a draw costs {cost[old] / cost[old_ping]:.2f} pings before, "
            f"{cost['draw'] / cost['ping']:.2f} after"
        )
    summary["runs"] = {t: [r.__dict__ for r in results[t]] for t in targets}
    return summary


def batch_summary(results: dict[str, list[Result]], t: str) -> dict[str, float]:
    """Several draws a request (SPEC §3 "count") against single draws and
    pings of the same rounds: each figure the median of per-round ratios."""
    per = results[t][0].per

    def each(f: Callable[[Result, Result, Result], float]) -> float:
        rounds = zip(results[t], results["draw"], results["ping"], strict=True)
        return statistics.median(f(b, d, p) for b, d, p in rounds)

    def redis_us(r: Result) -> float:
        return r.cpu.get("redis-server", 0) / r.draws * 1e6

    out = {
        "count": per,
        "draws_per_s": statistics.median(r.draws for r in results[t]),
        "draws_over_single": each(lambda b, d, _: b.draws / d.draws),
        "api_cpu_per_draw_over_ping": each(lambda b, _, p: b.api_us / per / p.api_us),
        "single_api_cpu_per_draw_over_ping": each(lambda _, d, p: d.api_us / p.api_us),
        "redis_cpu_per_draw_over_single": each(lambda b, d, _: redis_us(b) / redis_us(d)),
        "p99_ms": statistics.median(r.p99_ms for r in results[t]),
    }
    print(
        f"\n{t}: {out['draws_per_s']:,.0f} draws/s = {out['draws_over_single']:.2f} x single "
        f"draws/s; API CPU per draw {out['api_cpu_per_draw_over_ping']:.2f} pings "
        f"(single {out['single_api_cpu_per_draw_over_ping']:.2f}); Redis CPU per draw "
        f"{out['redis_cpu_per_draw_over_single']:.2f} x single's; p99 of a request "
        f"{out['p99_ms']:.1f} ms (medians of per-round ratios)"
    )
    return out


def stages(results: dict[str, list[Result]], draws: list[str]) -> dict[str, dict[str, float]]:
    """CPU per draw of every process (median over rounds, microseconds), the
    whole machine's, and the co-located ceiling: cores ÷ the machine's CPU per
    draw, the draws/s this box could reach with every core busy."""
    cores = os.cpu_count() or 1
    out: dict[str, dict[str, float]] = {}
    for t in draws:
        runs = results[t]
        names = sorted({k for r in runs for k in r.cpu})
        per = {k: statistics.median(r.cpu.get(k, 0) / r.draws * 1e6 for r in runs) for k in names}
        per["api (all workers)"] = statistics.median(r.api_us / r.per for r in runs)
        machine = statistics.median(sum(r.cpu.values()) / r.draws * 1e6 for r in runs)
        server = statistics.median(
            sum(v for k, v in r.cpu.items() if k != "wrk") / r.draws * 1e6 for r in runs
        )
        per["machine"], per["machine without wrk"] = machine, server
        per["ceiling draws/s"] = cores / machine * 1e6
        per["ceiling without wrk"] = cores / server * 1e6
        per["measured draws/s"] = statistics.median(r.draws for r in runs)
        out[t] = per
        print(f"\nCPU per draw, {t} (us, median of rounds; {cores} cores):")
        for k in [*(k for k in names if not k.startswith("api-")), "api (all workers)"]:
            print(f"  {k:<22}{per[k]:>8.1f}")
        commands = sorted({c for r in runs for c in r.redis_usec})
        for c in commands:  # INFO commandstats: Redis's own time in each command
            per[f"redis {c}"] = statistics.median(
                r.redis_usec.get(c, 0) / r.draws / r.wall for r in runs
            )
            if per[f"redis {c}"] >= 0.05:
                print(f"    redis {c:<16}{per[f'redis {c}']:>8.2f}")
        print(
            f"  {'machine':<22}{machine:>8.1f}   co-located ceiling {per['ceiling draws/s']:,.0f} "
            f"draws/s (measured {per['measured draws/s']:,.0f}); without wrk "
            f"{server:.1f} us, ceiling {per['ceiling without wrk']:,.0f}"
        )
    return out


def revision_of(target: str) -> str:
    """``draw@REV`` -> ``REV``; this tree's targets -> ``""``."""
    return target.partition("@")[2]


def start_api(
    cmd: list[str], env: dict[str, str], log: Path, cpus: str | None, root: Path = ROOT
) -> subprocess.Popen[bytes]:
    """``cmd`` run in ``root``: ``python -m`` puts the working directory first on
    sys.path, so a server of another revision must also start in its folder."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [*taskset(cpus), *cmd], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--pin",
        action="store_true",
        help="API workers on CPU 0; Redis, the flush worker and wrk on CPU 1",
    )
    ap.add_argument(
        "--batch",
        type=int,
        default=10,
        metavar="N",
        help='also measure POST /v1/draw {"count": N} (target drawN; 0: not)',
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument(
        "--against",
        metavar="REV",
        help="also measure `redrain serve` of this git revision (before/after, same run)",
    )
    ap.add_argument(
        "--no-flush-worker",
        action="store_true",
        help="diagnostics only: do not run `redrain worker` during the runs",
    )
    ap.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="switch the per-user and per-IP limiter off (to measure what it costs)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="REDRAIN_NAME=VALUE",
        help="a setting of this revision's server only (repeatable), e.g. "
        "REDRAIN_ACCESS_LOG=true: what it costs, against --against's server",
    )
    args = ap.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    if not all(name.startswith("REDRAIN_") for name in extra):
        raise SystemExit("--set takes REDRAIN_NAME=VALUE")
    for tool in ("wrk", "redis-server", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")

    api_cpus, side_cpus = ("0", "1") if args.pin else (None, None)
    work = Path(tempfile.mkdtemp(prefix="redrain-bench-"))
    asyncio.run(scratch_database(MARIADB, DB_NAME, "create"))
    db_url = f"{MARIADB}/{DB_NAME}"
    upgrade(db_url)
    redis_proc, redis_url = start_redis(work, cpus=side_cpus)
    redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    now_local = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDRAIN_")} | {
        "REDRAIN_REDIS_URL": redis_url,
        "REDRAIN_DATABASE_URL": db_url,
        "REDRAIN_SECRET_KEY": SECRET,
        "REDRAIN_ADMIN_TOKEN": ADMIN,
        "REDRAIN_CLOCK_OFFSET": str(now_local.timestamp() - time.time()),
        # The limiter runs (its cost is measured) but never refuses: all load
        # comes from one address.
        "REDRAIN_RATE_LIMIT_USER": "0" if args.no_rate_limits else "100000",
        "REDRAIN_RATE_LIMIT_IP": "0" if args.no_rate_limits else "1000000",
        "REDRAIN_LOG_LEVEL": "warning",
    }
    flush_cmd = [sys.executable, "-m", "app", "worker"]
    if args.no_flush_worker:
        flush_cmd = [sys.executable, "-c", "import time; time.sleep(10**6)"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api_cmd = [sys.executable, "-m", "loadtest.baseline", "--port", str(port)]
    api_cmd += ["--workers", str(args.workers)]
    here = env | {"PYTHONPATH": str(ROOT)} | extra
    servers = {"": start_api(api_cmd, here, work / "server.log", api_cpus)}
    bases = {"": base}
    trees = {"": (ROOT, here)}  # each revision's folder and environment
    if args.against:
        old_root = checkout(args.against, work / "against")
        trees[args.against] = (old_root, env | {"PYTHONPATH": str(old_root)})
        old_port = free_port()
        bases[args.against] = f"http://127.0.0.1:{old_port}"
        old_cmd = [sys.executable, "-m", "app", "serve", "--port", str(old_port)]
        old_cmd += ["--workers", str(args.workers)]
        servers[args.against] = start_api(
            old_cmd, trees[args.against][1], work / "server-before.log", api_cpus, old_root
        )
    # One flush worker per revision: each target's draws are flushed by its own
    # revision's worker, the other one stopped (SIGSTOP) meanwhile.
    flushers: dict[str, subprocess.Popen[bytes]] = {}
    for rev, (rev_root, rev_env) in trees.items():
        with (work / f"worker{'-before' if rev else ''}.log").open("wb") as worker_log:
            flushers[rev] = subprocess.Popen(
                [*taskset(side_cpus), *flush_cmd],
                env=rev_env,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
                cwd=rev_root,
            )
    flushing = [""]  # the revision whose worker runs now

    def flush_with(rev: str) -> None:
        if rev == flushing[0]:
            return
        time.sleep(1)  # no draws arrive now: the running worker finishes its backlog
        os.kill(flushers[flushing[0]].pid, signal.SIGSTOP)
        os.kill(flushers[rev].pid, signal.SIGCONT)
        flushing[0] = rev

    for rev, proc in flushers.items():
        if rev:
            os.kill(proc.pid, signal.SIGSTOP)
    try:
        for rev, server in servers.items():
            log = work / ("server.log" if not rev else "server-before.log")
            wait_ready(bases[rev], server, log)
        aid = asyncio.run(prepare(base, list(bases.values())))
        tokens_file = work / "tokens.txt"
        exp = int(time.time()) + 86_400
        tokens_file.write_text(
            "\n".join(tokens.issue(SECRET.encode(), f"user{i}", exp) for i in range(USERS))
        )
        shared = {"redis-server": redis_proc.pid}
        if (pid := pid_of("mariadbd")) is not None:
            shared["mariadbd"] = pid
        common = ["-t", str(args.threads), "-c", str(args.connections)]
        script_args = [str(tokens_file), str(aid)]
        plan: dict[str, tuple[str, list[str], list[str], dict[str, int]]] = {}
        for rev, server in servers.items():
            processes = {f"api-{i + 1}": pid for i, pid in enumerate(workers_of(server.pid))}
            processes |= shared | {"flush-worker": flushers[rev].pid}
            at = f"@{rev}" if rev else ""
            plan[f"ping{at}"] = (f"{bases[rev]}/healthz", common, [], processes)
            plan[f"draw{at}"] = (
                f"{bases[rev]}/v1/draw",
                [*common, "-s", SCRIPT],
                script_args,
                processes,
            )
            if not rev and args.batch > 1:
                plan[f"draw{args.batch}"] = (
                    f"{base}/v1/draw",
                    [*common, "-s", SCRIPT],
                    [*script_args, str(args.batch)],
                    processes,
                )
            if not rev:
                plan["baseline"] = (
                    f"{base}/bench/draw-baseline",
                    [*common, "-s", SCRIPT],
                    script_args,
                    processes,
                )
        targets = list(plan)
        print(
            f"redrain bench: {args.workers} API workers, {args.connections} connections, "
            f"{args.duration:g} s per run, {args.rounds} rounds, {os.cpu_count()} cores"
            f"{', pinned (API on CPU 0, the rest on CPU 1)' if args.pin else ''}"
            f"{f', against {args.against}' if args.against else ''}"
        )
        for name, (url, wrk_args, extra, processes) in plan.items():  # warm-up: caches, pools
            flush_with(revision_of(name))
            run_wrk(url, wrk_args, extra, processes, 3, taskset(side_cpus))
        results: dict[str, list[Result]] = {t: [] for t in targets}
        for r in range(args.rounds):
            k = r % len(targets)
            for name in targets[k:] + targets[:k]:  # rotate to spread drift
                url, wrk_args, extra, processes = plan[name]
                flush_with(revision_of(name))
                res = run_wrk(
                    url, wrk_args, extra, processes, args.duration, taskset(side_cpus), redis_port
                )
                res.per = int(extra[2]) if len(extra) > 2 else 1
                results[name].append(res)
                busiest = ", ".join(
                    f"{k} {v:.2f}" for k, v in sorted(res.cpu.items(), key=lambda kv: -kv[1])
                )
                print(
                    f"  round {r + 1} {name:<14} {res.rps:>9,.0f} req/s  p50 {res.p50_ms:6.2f} ms  "
                    f"p99 {res.p99_ms:6.2f} ms  errors {res.errors}  API {res.api_us:4.0f} us/req  "
                    f"cpu(cores): {busiest}"
                )
        summary = report(results, args, args.against)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2))
    finally:
        for proc in (*servers.values(), *flushers.values(), redis_proc):
            os.kill(proc.pid, signal.SIGCONT)  # a stopped worker must see its SIGTERM
            proc.terminate()
            proc.wait(30)
        asyncio.run(scratch_database(MARIADB, DB_NAME, "drop"))
        if sys.exc_info()[0] is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"bench failed: the servers' logs are in {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
