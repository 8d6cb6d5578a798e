"""Campaign rehearsal: a whole rain under load and faults, proved afterwards.

    python loadtest/rehearse.py            # full: 3 rounds of 30 s, 3,000 players
    python loadtest/rehearse.py --short    # CI: 3 rounds of 12 s, 300 players (~2 min)

Starts, on loopback: its own redis-server (AOF, fsync every second, so a
restart keeps stock and streams), ``redrain serve --workers 2``, two
``redrain worker``s, all talking to MariaDB through a TCP proxy the rehearsal
can cut. It publishes a red-envelope rain with three rounds (sliced stock,
per-round limit 1, wins_total 1), then runs a headless Locust burst
(loadtest/rehearse_locust.py) through the rounds while it

- kills a flush worker with SIGKILL in round 1 and starts it again,
- kills Redis with SIGKILL between rounds 1 and 2 and restarts it from its AOF,
- makes MariaDB unreachable for part of round 2.

Afterwards it waits for the streams to drain, runs ``redrain reconcile`` and
``redrain verify`` on every round, checks invariants I1-I6 of SPEC §7 against
the database and the players' log, and prints a report. Exit status 0 only
when every check passes. ``--json FILE`` also writes the report's numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from app.domain.types import DrawRecord  # noqa: E402
from app.store.sql.connection import upgrade  # noqa: E402
from app.store.sql.database import Database  # noqa: E402
from app.store.sql.models import RoundRow  # noqa: E402
from loadtest.harness import (  # noqa: E402
    edge,
    free_port,
    scratch_database,
    start_redis,
    wait_ready,
)
from tests.proxy import Proxy  # noqa: E402

MARIADB = os.environ.get("REDRAIN_BENCH_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306")
MARIADB_HOST = urlsplit(MARIADB).hostname or "127.0.0.1"
MARIADB_PORT = urlsplit(MARIADB).port or 3306
DB_NAME = "redrain_rehearsal"
SECRET = "rehearsal-secret-" + "r" * 32
ADMIN = "rehearsal-admin-token"
DAY = dt.date(2030, 6, 1)
ZONE = dt.timezone(dt.timedelta(hours=8))
ODDS = {"c2": 0.3, "c5": 0.1}  # the empty remainder: 0.6
SETUP_S = 15  # at most, to start Redis, the API and the workers: virtual 10:00 then


@dataclass
class Plan:
    users: int
    spawn_rate: int
    round_s: int
    gap_s: int
    lead_s: int  # from the start of the burst to the first round
    db_outage_s: int

    @property
    def rounds(self) -> list[tuple[int, int]]:
        """(start, end) of each round, seconds after the virtual t0."""
        out = []
        t = self.lead_s
        for _ in range(3):
            out.append((t, t + self.round_s))
            t += self.round_s + self.gap_s
        return out


FULL = Plan(users=3000, spawn_rate=300, round_s=30, gap_s=10, lead_s=15, db_outage_s=10)
SHORT = Plan(users=300, spawn_rate=150, round_s=12, gap_s=8, lead_s=6, db_outage_s=5)


def activity(plan: Plan, t0: dt.datetime) -> dict[str, Any]:
    stock = max(10, plan.users // 10)

    def hms(seconds: int) -> str:
        return (t0 + dt.timedelta(seconds=seconds)).strftime("%H:%M:%S")

    return {
        "name": "rehearsal rain",
        "kind": "time",
        "timezone": "Asia/Shanghai",
        "start_date": DAY.isoformat(),
        "end_date": DAY.isoformat(),
        "probability": "manual",
        "limits": {"per_round": 1, "per_day": 0, "total": 0, "wins_total": 1},
        "release": {"slices": 3, "lead_seconds": 0},
        "sessions": [
            {
                "start": hms(start),
                "end": hms(end),
                "pools": [
                    {
                        "prizes": [
                            {
                                "key": "c2",
                                "type": "coupon",
                                "name": "2 yuan",
                                "value": "C2",
                                "quantity": stock,
                                "probability": ODDS["c2"],
                            },
                            {
                                "key": "c5",
                                "type": "coupon",
                                "name": "5 yuan",
                                "value": "C5",
                                "quantity": stock // 4,
                                "probability": ODDS["c5"],
                            },
                            {"key": "thanks", "type": "empty", "name": "Thanks"},
                        ]
                    }
                ],
            }
            for start, end in plan.rounds
        ],
    }


@dataclass
class Stack:
    work: Path
    env: dict[str, str]
    redis_port: int
    redis: subprocess.Popen[bytes] | None = None
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes] | None] = field(default_factory=lambda: [None, None])
    events: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def log(self, text: str) -> None:
        line = f"[{time.monotonic() - self.started:6.1f}s] {text}"
        self.events.append(line)
        print(line, flush=True)

    def start_redis(self) -> None:
        self.redis, _ = start_redis(self.work, port=self.redis_port, aof=True)

    def start_worker(self, i: int) -> None:
        out = (self.work / f"worker-{i}.log").open("ab")
        self.workers[i] = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"], env=self.env, stdout=out, stderr=out
        )

    def stop(self) -> None:
        for p in [self.server, *self.workers]:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in [self.server, *self.workers]:
            if p is not None:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.redis is not None and self.redis.poll() is None:
            self.redis.kill()
            self.redis.wait(10)


def admin(base: str, method: str, path: str, body: Any = None) -> Any:
    r = httpx.request(
        method, base + path, json=body, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
    )
    r.raise_for_status()
    return r.json()


def next_second(offset: float) -> tuple[dt.datetime, float]:
    """The next whole second of the servers' virtual clock (shifted by
    ``offset``), and when that is on ``time.monotonic``'s."""
    now, mono = time.time() + offset, time.monotonic()
    at = float(int(now) + 1)
    return dt.datetime.fromtimestamp(at, ZONE), mono + at - now


def sleep_until(t0: float, at: float) -> None:
    time.sleep(max(0.0, t0 + at - time.monotonic()))


def run_faults(stack: Stack, plan: Plan, t0: float, proxy: Proxy) -> None:
    (r1s, r1e), (r2s, _), _ = plan.rounds
    sleep_until(t0, r1s + plan.round_s / 2)
    victim = stack.workers[0]
    assert victim is not None
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    stack.log("fault: flush worker 0 killed with SIGKILL (round 1)")
    time.sleep(2)
    stack.start_worker(0)
    stack.log("flush worker 0 started again")
    sleep_until(t0, r1e + 1)
    assert stack.redis is not None
    stack.redis.send_signal(signal.SIGKILL)
    stack.redis.wait()
    stack.log("fault: Redis killed with SIGKILL (between rounds 1 and 2)")
    time.sleep(1)
    stack.start_redis()
    stack.log("Redis restarted from its AOF")
    sleep_until(t0, r2s + 2)
    proxy.cut()
    stack.log(f"fault: MariaDB unreachable for {plan.db_outage_s} s (round 2)")
    time.sleep(plan.db_outage_s)
    proxy.restore()
    stack.log("MariaDB reachable again")


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def wait_drained(base: str, rounds: list[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = httpx.get(f"{base}/metrics", timeout=5).text
        except httpx.HTTPError:
            time.sleep(1)
            continue
        left = 0.0
        for line in text.splitlines():
            if line.startswith(("redrain_stream_lag{", "redrain_stream_pending{")) and any(
                f'"{r}"' in line for r in rounds
            ):
                left += float(line.rsplit(" ", 1)[1])
        if left == 0:
            return True
        time.sleep(1)
    return False


def server_quantiles(base: str, qs: tuple[float, ...]) -> list[float | None]:
    """Upper bounds (ms) of draw-latency quantiles from the API's own histogram
    (redrain_draw_seconds, summed over its workers): free of the load
    generator's queueing."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    buckets = []
    for line in text.splitlines():
        if line.startswith("redrain_draw_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append(
                (float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1]))
            )
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    out: list[float | None] = []
    for q in qs:
        bound = next((le for le, n in buckets if total and n >= q * total), None)
        out.append(None if bound is None else bound * 1000)
    return out


def wait_measured(proc: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait for ``proc``; the cores it used on average (from /proc, sampled
    each half second): a load generator near 1.0 is one saturated process, and
    the players' latencies then are partly its own."""
    tick = os.sysconf("SC_CLK_TCK")
    start, used = time.monotonic(), 0
    while proc.poll() is None and time.monotonic() - start < timeout:
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            used = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.5)
    proc.wait(timeout=max(1.0, timeout - (time.monotonic() - start)))
    return used / tick / max(1e-9, time.monotonic() - start)


def locust_stats(prefix: Path) -> dict[str, dict[str, str]]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return {}
    with path.open() as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


async def ledger(db_url: str, aid: int) -> list[DrawRecord]:
    """Every stored draw of the activity, rows and compact losses."""
    db = Database(db_url, audit_key=b"")  # reads only
    try:
        async with db.session() as s:
            rounds = list(await s.scalars(select(RoundRow.id).where(RoundRow.activity_id == aid)))
        return [d.record for r in rounds for d in (await db.draws.round_draws(r)).draws]
    finally:
        await db.close()


def chi_square_p(observed: list[int], expected_p: list[float]) -> float:
    from scipy.stats import chisquare

    n = sum(observed)
    return float(chisquare(observed, [p * n for p in expected_p]).pvalue)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--short", action="store_true", help="the CI variant (~2 minutes)")
    ap.add_argument("--users", type=int, help="simulated players (default 3000, short 300)")
    ap.add_argument("--json", type=Path, help="also write the report here")
    ap.add_argument("--keep", type=Path, help="write the logs to this folder (kept)")
    ap.add_argument(
        "--no-edge",
        action="store_true",
        help="players straight at the API (default: through deploy/nginx, as deployed)",
    )
    ap.add_argument(
        "--edge-rate",
        type=int,
        default=50_000,
        help="the edge's global draw guard, draws/s (the rehearsal proves invariants, "
        "not overload: by default well above what this box serves)",
    )
    args = ap.parse_args()
    plan = SHORT if args.short else FULL
    if args.users:
        plan.users = args.users
    work = (args.keep or Path(tempfile.mkdtemp(prefix="redrain-rehearsal-"))).resolve()
    if work.exists() and any(work.iterdir()):
        # A previous run's AOF would be loaded back and its log appended to.
        if not (work / "server.log").exists():
            raise SystemExit(f"{work} is not empty and not an earlier rehearsal's folder")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    via = "straight at the API" if args.no_edge else "through nginx (deploy/nginx)"
    print(
        f"redrain rehearsal: {plan.users} players {via}, 3 rounds of {plan.round_s} s; "
        f"logs in {work}"
    )

    asyncio.run(scratch_database(MARIADB, DB_NAME, "create"))
    upgrade(f"{MARIADB}/{DB_NAME}")
    proxy = Proxy(MARIADB_PORT, MARIADB_HOST).__enter__()
    parts = urlsplit(MARIADB)
    login = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    db_via_proxy = f"{parts.scheme}://{login}127.0.0.1:{proxy.port}/{DB_NAME}"
    db_direct = f"{MARIADB}/{DB_NAME}"

    # Virtual 10:00:00 of DAY is SETUP_S from now: the stack starts meanwhile,
    # and the plan's t0 is the next whole virtual second once it is up.
    offset = dt.datetime.combine(DAY, dt.time(10, 0), ZONE).timestamp() - (time.time() + SETUP_S)
    redis_port = free_port()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDRAIN_")} | {
        "REDRAIN_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REDRAIN_DATABASE_URL": db_via_proxy,
        "REDRAIN_SECRET_KEY": SECRET,
        "REDRAIN_ADMIN_TOKEN": ADMIN,
        "REDRAIN_CLOCK_OFFSET": str(offset),
        "REDRAIN_LOG_LEVEL": "warning",
        "REDRAIN_RATE_LIMIT_IP": "0",  # every player comes from 127.0.0.1 here
        "REDRAIN_WORKER_CLAIM_IDLE": "5",
    }
    stack = Stack(work, env, redis_port)
    report: dict[str, Any] = {"plan": plan.__dict__, "checks": {}}
    checks: dict[str, tuple[bool, str]] = {}
    exits = contextlib.ExitStack()
    try:
        stack.start_redis()
        out = (work / "server.log").open("ab")
        stack.server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=out,
        )
        wait_ready(base, stack.server, work / "server.log")
        players = base
        if not args.no_edge:
            edge_port, _ = exits.enter_context(edge(port, args.edge_rate, work / "nginx.log"))
            players = f"http://127.0.0.1:{edge_port}"
            stack.log(f"nginx in front: players draw through {players}")
        stack.start_worker(0)
        stack.start_worker(1)
        t0_virtual, t0 = next_second(offset)
        aid = admin(base, "POST", "/v1/admin/activities", activity(plan, t0_virtual))["id"]
        admin(base, "POST", f"/v1/admin/activities/{aid}/publish")
        round_ids = [f"{aid}:{DAY:%Y%m%d}:{i}" for i in range(3)]
        stack.log(f"activity {aid} published: rounds {', '.join(round_ids)}")

        end_s = plan.rounds[-1][1] + 2
        log_path = work / "players.jsonl"
        csv_prefix = work / "locust"
        locust = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(ROOT / "loadtest" / "rehearse_locust.py"),
                "--headless",
                "-u",
                str(plan.users),
                "-r",
                str(plan.spawn_rate),
                "-t",
                f"{int(t0 + end_s - time.monotonic())}s",
                "--host",
                players,
                "--csv",
                str(csv_prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env=env
            | {
                "REHEARSAL_ACTIVITY": str(aid),
                "REHEARSAL_SECRET": SECRET,
                "REHEARSAL_LOG": str(log_path),
            },
            stdout=(work / "locust.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        stack.log(f"locust: {plan.users} players arriving at {plan.spawn_rate}/s")
        run_faults(stack, plan, t0, proxy)
        locust_cores = wait_measured(locust, end_s + 120)
        stack.log("burst over; waiting for the streams to drain")
        drained = wait_drained(base, round_ids, 120)
        stack.log("drained" if drained else "NOT drained after 120 s")
        stats = admin(base, "GET", f"/v1/admin/activities/{aid}/stats")
        server_p50, server_p99 = server_quantiles(base, (0.5, 0.99))
        direct = env | {"REDRAIN_DATABASE_URL": db_direct}
        rec = run_cli(direct, "reconcile", "--activity", str(aid), "--wait", "60")
        verifies = {rid: run_cli(direct, "verify", rid) for rid in round_ids}
    finally:
        exits.close()
        stack.stop()
        proxy.__exit__(None, None, None)

    # -- the evidence ----------------------------------------------------------
    rows = asyncio.run(ledger(db_direct, aid))
    lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()]
    answers = [x for x in lines if "replay" not in x and "abuse" not in x]
    ok = [x for x in answers if x["s"] == 200]
    refusals = collections.Counter(x.get("c", str(x["s"])) for x in answers if x["s"] != 200)
    logged_wins = {x["d"] for x in ok if x["w"]}
    logged_draws = {x["d"] for x in ok}
    replays = [x for x in lines if "replay" in x]
    abuse = [x for x in lines if "abuse" in x]
    ls = locust_stats(csv_prefix)
    draw_stats = ls.get("draw", {})
    open_s = 3 * plan.round_s

    # I1: won <= released <= quantity per round and prize, in Redis and in the ledger.
    i1_bad = []
    db_wins = collections.Counter((r.round_id, r.prize_key) for r in rows if r.won)
    per_prize = []
    for rnd in stats["rounds"]:
        for p in rnd["prizes"]:
            if p["quantity"] == 0 and p["released"] == 0:
                continue  # the empty outcome
            won_db = db_wins[(rnd["round_id"], p["key"])]
            per_prize.append(
                (rnd["round_id"], p["key"], won_db, p["won"], p["released"], p["quantity"])
            )
            if not (0 <= p["won"] <= p["released"] <= p["quantity"]) or won_db > p["released"]:
                i1_bad.append(f"{rnd['round_id']} {p['key']}")
    checks["I1 stock: won <= released <= quantity"] = (
        not i1_bad,
        "every round and prize" if not i1_bad else "broken: " + ", ".join(i1_bad),
    )
    # I2: per-round limit 1 and wins_total 1, from the ledger.
    per_user_round = collections.Counter((r.user_id, r.round_id) for r in rows)
    wins_per_user = collections.Counter(r.user_id for r in rows if r.won)
    over = [k for k, n in per_user_round.items() if n > 1]
    greedy = [u for u, n in wins_per_user.items() if n > 1]
    checks["I2 limits: per_round 1, wins_total 1"] = (
        not over and not greedy,
        f"{len(per_user_round)} user-rounds, max {max(per_user_round.values(), default=0)} draw; "
        f"max {max(wins_per_user.values(), default=0)} win per user",
    )
    # I3: every 200 won:true once in the database; no database win nobody was told.
    ids = [r.draw_id for r in rows]
    db_win_ids = {r.draw_id for r in rows if r.won}
    dup = len(ids) - len(set(ids))
    missing = logged_draws - set(ids)
    unannounced = db_win_ids - logged_wins
    checks["I3 every answered win stored exactly once"] = (
        dup == 0 and not missing and not unannounced and logged_wins <= db_win_ids,
        f"{len(logged_wins)} wins answered, {len(db_win_ids)} in the database, "
        f"{dup} duplicates, {len(missing)} answered draws missing, "
        f"{len(unannounced)} stored wins never answered",
    )
    # I4: the picks follow the published odds (stock only decides win or loss).
    picks = collections.Counter(r.pick for r in rows)
    observed = [picks[1], picks[2], picks[0]]
    p_value = chi_square_p(observed, [ODDS["c2"], ODDS["c5"], 1 - ODDS["c2"] - ODDS["c5"]])
    checks["I4 odds (chi-square on picks, p >= 0.001)"] = (
        p_value >= 0.001 and len(rows) >= 100,
        f"c2/c5/empty picked {observed[0]}/{observed[1]}/{observed[2]} of {len(rows)}; "
        f"p = {p_value:.3f}",
    )
    # I5: replays with the same Idempotency-Key never draw twice.
    bad_replays = [x for x in replays if not x["same"] and x["s"] != 503]
    checks["I5 idempotent retries"] = (
        bool(replays) and not bad_replays and dup == 0,
        f"{len(replays)} replays, {len(bad_replays)} differed",
    )
    # I6: bad input refused with a 4xx and the error shape, and nothing stored.
    abusers = {x["u"] for x in abuse}
    stored = [r for r in rows if r.user_id in abusers]
    bad_abuse = [x for x in abuse if not x["ok"]]
    checks["I6 bad input refused, nothing stored"] = (
        bool(abuse) and not bad_abuse and not stored,
        f"{len(abuse)} bad requests, {len(bad_abuse)} not refused properly, "
        f"{len(stored)} rows stored for abusers",
    )
    checks["reconcile: Redis and the database agree"] = (
        rec.returncode == 0,
        (rec.stdout.strip().splitlines() or ["(no output)"])[-1],
    )
    bad_verify = [rid for rid, v in verifies.items() if v.returncode != 0]
    checks["verify: every round recomputes"] = (
        not bad_verify,
        "; ".join((v.stdout.strip().splitlines() or ["?"])[-1] for v in verifies.values()),
    )
    checks["streams drained"] = (drained, "lag and pending 0" if drained else "lag left")
    failures = int(draw_stats.get("Failure Count", "0") or 0)
    checks["no unexpected HTTP answers (5xx other than 503, bad shapes)"] = (
        failures == 0,
        f"{failures} failed requests in Locust",
    )

    # -- the report ------------------------------------------------------------
    print()
    print("=" * 78)
    print(f"REHEARSAL REPORT — {plan.users} players, 3 rounds × {plan.round_s} s")
    print("=" * 78)
    print("timeline:")
    for e in stack.events:
        print("  " + e)
    print(
        f"load: {len(answers)} draw requests, {len(ok)} draws "
        f"({len(ok) / open_s:,.0f} draws/s over the {open_s} s of open rounds); "
        f"Locust {float(draw_stats.get('Requests/s', 0) or 0):,.0f} req/s overall"
    )
    print(
        f"latency (draw) at the players ({via}): p50 {draw_stats.get('50%', '?')} ms, "
        f"p99 {draw_stats.get('99%', '?')} ms, max {float(draw_stats.get('Max Response Time') or 0):.0f} ms; "
        f"in the API: p50 <= {server_p50} ms, p99 <= {server_p99} ms (histogram buckets)"
    )
    busy_share = refusals.get("busy", 0) / max(1, len(answers))
    print(
        f"refused as busy (admission): {refusals.get('busy', 0)} ({busy_share:.1%} of draw "
        f"requests); the load generator (one Locust process) used {locust_cores:.2f} cores "
        f"of {os.cpu_count()}"
    )
    print("refusals by code: " + ", ".join(f"{k} {v}" for k, v in refusals.most_common()))
    print("wins per prize (database / Redis / released / quantity):")
    for rid, key, won_db, won_redis, released, quantity in per_prize:
        print(f"  {rid} {key:4} {won_db:5} / {won_redis:5} / {released:5} / {quantity:5}")
    print("checks:")
    for name, (passed, detail) in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {name}: {detail}")
    all_ok = all(p for p, _ in checks.values())
    print("=" * 78)
    print("ALL PASS: the campaign would have been safe" if all_ok else "FAILED: see above")
    report["checks"] = {k: {"pass": p, "detail": d} for k, (p, d) in checks.items()}
    report["load"] = {
        "draws": len(ok),
        "draws_per_s_open": len(ok) / open_s,
        "p50_ms": draw_stats.get("50%"),
        "p99_ms": draw_stats.get("99%"),
        "api_p50_ms_at_most": server_p50,
        "api_p99_ms_at_most": server_p99,
        "refusals": dict(refusals),
        "busy_share": busy_share,
        "locust_cores": locust_cores,
        "via": via,
    }
    report["timeline"] = stack.events
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    asyncio.run(scratch_database(MARIADB, DB_NAME, "drop"))
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
