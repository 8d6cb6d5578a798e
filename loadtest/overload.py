"""The overload benchmark: a rain far bigger than the box, refused fast or served late?

    python loadtest/overload.py [--connections 1000] [--duration 10] [--workers 2]
                                [--against REV] [--no-wrk]

Starts the same stack as ``loadtest/bench.py`` (its own Redis, a scratch
MariaDB database, ``redrain serve`` with N workers, ``redrain worker``), then
opens 1,000 keep-alive connections that each draw, as one of 20,000 players,
as fast as answers come back, in two ways:

  closed    every answer is followed at once by the next tap (the worst case:
            Little's law sets the mean latency to connections ÷ answers/s)
  backoff   as the games do: a 503 ``busy`` is retried after Retry-After × a
            random factor in [1, 2), with the same Idempotency-Key

The generator here is a lean asyncio protocol (uvloop) rather than wrk because
it must tell accepted draws' latency from busy refusals' and honour
Retry-After per connection, which wrk's script hooks cannot. Its own CPU is
printed beside the server's, so a run limited by the generator shows up;
``wrk -c N`` (closed, no per-status split) runs too unless ``--no-wrk``.

``--against REV`` runs the same against ``redrain serve`` of that revision
(before/after in one run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.domain import tokens  # noqa: E402
from app.store.sql.connection import upgrade  # noqa: E402
from loadtest.bench import (  # noqa: E402
    ADMIN,
    DB_NAME,
    MARIADB,
    SCRIPT,
    SECRET,
    USERS,
    cpu_ticks,
    pid_of,
    prepare,
    run_wrk,
    start_api,
    workers_of,
)
from loadtest.harness import (  # noqa: E402
    checkout,
    free_port,
    scratch_database,
    start_redis,
    wait_ready,
)

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Tally:
    accepted: list[float] = field(default_factory=list)  # seconds, 200
    busy: list[float] = field(default_factory=list)  # 503 busy
    other: dict[int, int] = field(default_factory=dict)  # status -> count
    errors: int = 0  # connections lost or refused
    unanswered: int = 0  # requests still open when the run ended (+ grace)


def quantile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


class Load:
    def __init__(self, host: str, port: int, aid: int, toks: list[str], backoff: bool) -> None:
        self.host, self.port, self.backoff = host, port, backoff
        self.body = b'{"activity_id": %d}' % aid
        self.toks = toks
        self.tally = Tally()
        self.running = True
        self.open = 0

    def request(self, key: str) -> bytes:
        tok = random.choice(self.toks)
        return (
            b"POST /v1/draw HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer %s\r\nIdempotency-Key: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (tok.encode(), key.encode(), len(self.body), self.body)
        )


def header(head: bytes, name: bytes) -> bytes | None:
    """A header's value in a lower-cased response head."""
    at = head.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].strip()


class Conn(asyncio.Protocol):
    def __init__(self, load: Load) -> None:
        self.load = load
        self.buf = bytearray()
        self.sent = 0.0
        self.pending: bytes | None = None
        self.transport: Any = None  # uvloop's TCPTransport is not an asyncio.Transport
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.tap()

    def tap(self, again: bytes | None = None) -> None:
        if not self.load.running or self.transport is None or self.transport.is_closing():
            return
        self.pending = again or self.load.request(os.urandom(8).hex())
        self.sent = self.loop.time()
        self.load.open += 1
        self.transport.write(self.pending)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buf[:end]).lower()
            length = int(header(head, b"content-length") or 0)
            if len(self.buf) < end + 4 + length:
                return
            body = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
            self.answered(int(head[9:12]), head, body)

    def answered(self, status: int, head: bytes, body: bytes) -> None:
        took = self.loop.time() - self.sent
        self.load.open -= 1
        t = self.load.tally
        if status == 200:
            t.accepted.append(took)
        elif status == 503 and b'"busy"' in body:
            t.busy.append(took)
        else:
            t.other[status] = t.other.get(status, 0) + 1
        if status == 503 and self.load.backoff:
            wait = float(header(head, b"retry-after") or 1)
            self.loop.call_later(wait * (1 + random.random()), self.tap, self.pending)
        else:
            self.tap()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.load.running:
            self.load.tally.errors += 1


async def drive(
    host: str, port: int, aid: int, toks: list[str], conns: int, duration: float, backoff: bool
) -> Tally:
    load = Load(host, port, aid, toks, backoff)
    made: list[asyncio.BaseTransport] = []
    for i in range(0, conns, 100):
        batch = await asyncio.gather(
            *(
                asyncio.get_running_loop().create_connection(lambda: Conn(load), host, port)
                for _ in range(min(100, conns - i))
            ),
            return_exceptions=True,
        )
        for b in batch:
            if isinstance(b, BaseException):
                load.tally.errors += 1
            else:
                made.append(b[0])
    await asyncio.sleep(duration)
    load.running = False
    grace = time.monotonic() + 10
    while load.open > 0 and time.monotonic() < grace:  # noqa: ASYNC110  bounded poll
        await asyncio.sleep(0.05)
    load.tally.unanswered = load.open
    for tr in made:
        tr.close()
    return load.tally


def run(
    base_port: int,
    aid: int,
    toks: list[str],
    args: argparse.Namespace,
    backoff: bool,
    processes: dict[str, int],
) -> dict[str, object]:
    import uvloop

    before = {k: cpu_ticks(p) for k, p in processes.items()}
    me = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    tally = uvloop.run(
        drive("127.0.0.1", base_port, aid, toks, args.connections, args.duration, backoff)
    )
    wall = time.monotonic() - t0
    me2 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = {k: (cpu_ticks(p) - before[k]) / TICK / wall for k, p in processes.items()}
    cpu["generator"] = (me2.ru_utime + me2.ru_stime - me.ru_utime - me.ru_stime) / wall
    answered = len(tally.accepted) + len(tally.busy) + sum(tally.other.values())
    return {
        "answered_per_s": answered / args.duration,
        "accepted_per_s": len(tally.accepted) / args.duration,
        "busy_per_s": len(tally.busy) / args.duration,
        "busy_share": len(tally.busy) / max(1, len(tally.busy) + len(tally.accepted)),
        "accepted_p50_ms": quantile(tally.accepted, 0.5),
        "accepted_p99_ms": quantile(tally.accepted, 0.99),
        "accepted_max_ms": quantile(tally.accepted, 1.0),
        "busy_p50_ms": quantile(tally.busy, 0.5),
        "busy_p99_ms": quantile(tally.busy, 0.99),
        "other": tally.other,
        "errors": tally.errors,
        "unanswered": tally.unanswered,
        "cpu": {k: round(v, 2) for k, v in cpu.items()},
    }


async def publish_rain(base: str, stock: int, stop: bool) -> int:
    """A rain whose stock runs out within its first second of load."""
    import httpx

    cfg = {
        "name": f"sold out early (stop_when_sold_out={stop})",
        "kind": "time",
        "timezone": "Asia/Shanghai",
        "start_date": "2030-06-01",
        "end_date": "2030-06-01",
        "probability": "manual",
        "stop_when_sold_out": stop,
        "limits": {"per_round": 0},
        "sessions": [
            {
                "start": "00:00:00",
                "end": "24:00:00",
                "pools": [
                    {
                        "prizes": [
                            {
                                "key": "env",
                                "type": "coupon",
                                "name": "envelope",
                                "value": "E",
                                "quantity": stock,
                                "probability": 0.5,
                            },
                        ]
                    }
                ],
            }
        ],
    }
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        aid = int((await c.post("/v1/admin/activities", json=cfg, headers=headers)).json()["id"])
        (await c.post(f"/v1/admin/activities/{aid}/publish", headers=headers)).raise_for_status()
    return aid


async def rows_of(db_url: str, aid: int) -> int:
    from app.store.sql.database import Database

    db = Database(db_url, audit_key=b"")  # reads only
    try:
        return await db.draws.count(aid)
    finally:
        await db.close()


def sold_out_runs(
    port: int, db_url: str, toks: list[str], args: argparse.Namespace, procs: dict[str, int]
) -> dict[str, object]:
    """The same crowd on two rains whose 200 envelopes go in the first second:
    one that goes on answering losses (the behaviour before 409 sold_out), one
    that stops. Answers/s and the ledger rows each wrote."""
    out: dict[str, object] = {}
    base = f"http://127.0.0.1:{port}"
    for stop in (False, True):
        aid = asyncio.run(publish_rain(base, 200, stop))
        r = run(port, aid, toks, args, True, procs)
        time.sleep(3)  # the flush worker catches up
        r["ledger_rows"] = asyncio.run(rows_of(db_url, aid))
        out[f"stop_when_sold_out={stop}"] = r
        print(
            f"  stop_when_sold_out={stop!s:<5}  answered {r['answered_per_s']:>8,.0f}/s  "
            f"(200: {r['accepted_per_s']:,.0f}/s, others {r['other']})  ledger rows "
            f"{r['ledger_rows']:,}\n  {'':<22} cpu(cores) {r['cpu']}"
        )
    return out


def show(name: str, r: dict[str, object]) -> None:
    print(
        f"  {name:<22} accepted {r['accepted_per_s']:>7,.0f}/s p50 {r['accepted_p50_ms']:6.1f} "
        f"p99 {r['accepted_p99_ms']:7.1f} max {r['accepted_max_ms']:7.1f} ms | busy "
        f"{r['busy_share']:5.1%} p50 {r['busy_p50_ms']:6.1f} p99 {r['busy_p99_ms']:7.1f} ms | "
        f"other {r['other']} errors {r['errors']} unanswered {r['unanswered']}\n"
        f"  {'':<22} cpu(cores) {r['cpu']}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--against", metavar="REV")
    ap.add_argument("--no-wrk", action="store_true")
    ap.add_argument(
        "--sold-out",
        action="store_true",
        help="only: a rain that sells out in its first second, with and without stopping",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a REDRAIN_ setting for the servers, e.g. --set DRAW_CONCURRENCY=64",
    )
    args = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = Path(tempfile.mkdtemp(prefix="redrain-overload-"))
    asyncio.run(scratch_database(MARIADB, DB_NAME, "create"))
    db_url = f"{MARIADB}/{DB_NAME}"
    upgrade(db_url)
    redis_proc, redis_url = start_redis(work)
    import datetime as dt

    now_local = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("REDRAIN_")}
        | {
            "REDRAIN_REDIS_URL": redis_url,
            "REDRAIN_DATABASE_URL": db_url,
            "REDRAIN_SECRET_KEY": SECRET,
            "REDRAIN_ADMIN_TOKEN": ADMIN,
            "REDRAIN_CLOCK_OFFSET": str(now_local.timestamp() - time.time()),
            "REDRAIN_RATE_LIMIT_USER": "100000",
            "REDRAIN_RATE_LIMIT_IP": "1000000",
            "REDRAIN_LOG_LEVEL": "warning",
        }
        | {f"REDRAIN_{k}": v for k, v in (x.split("=", 1) for x in args.set)}
    )
    revs = {"": ROOT} | (
        {args.against: checkout(args.against, work / "against")} if args.against else {}
    )
    servers, ports = {}, {}
    for rev, root in revs.items():
        ports[rev] = free_port()
        cmd = [sys.executable, "-m", "app", "serve", "--port", str(ports[rev])]
        cmd += ["--workers", str(args.workers)]
        log = work / f"server{'-' + rev if rev else ''}.log"
        servers[rev] = start_api(cmd, env | {"PYTHONPATH": str(root)}, log, None, root)
    with (work / "worker.log").open("wb") as wlog:
        flusher = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            env=env | {"PYTHONPATH": str(ROOT)},
            stdout=wlog,
            stderr=subprocess.STDOUT,
        )
    try:
        for rev, server in servers.items():
            wait_ready(f"http://127.0.0.1:{ports[rev]}", server, work / "server.log")
        bases = [f"http://127.0.0.1:{p}" for p in ports.values()]
        aid = asyncio.run(prepare(bases[0], bases, baseline=False))
        exp = int(time.time()) + 86_400
        toks = [tokens.issue(SECRET.encode(), f"user{i}", exp) for i in range(USERS)]
        tokens_file = work / "tokens.txt"
        tokens_file.write_text("\n".join(toks))
        shared = {"flush-worker": flusher.pid, "redis-server": redis_proc.pid}
        if (pid := pid_of("mariadbd")) is not None:
            shared["mariadbd"] = pid
        print(
            f"redrain overload: {args.connections} connections, {args.workers} API workers, "
            f"{args.duration:g} s per run, {os.cpu_count()} cores"
        )
        results: dict[str, object] = {}
        if args.sold_out:
            procs = {f"api-{i + 1}": p for i, p in enumerate(workers_of(servers[""].pid))}
            results = sold_out_runs(ports[""], db_url, toks, args, procs | shared)
            revs = {}
        for rev in revs:
            at = f"@{rev}" if rev else ""
            procs = {f"api-{i + 1}": p for i, p in enumerate(workers_of(servers[rev].pid))}
            procs |= shared
            for backoff in (False, True):
                name = f"{'backoff' if backoff else 'closed'}{at}"
                results[name] = r = run(ports[rev], aid, toks, args, backoff, procs)
                show(name, r)
                time.sleep(2)  # let the flush worker catch up between runs
            if not args.no_wrk:
                res = run_wrk(
                    f"http://127.0.0.1:{ports[rev]}/v1/draw",
                    ["-t", "2", "-c", str(args.connections), "--timeout", "30s", "-s", SCRIPT],
                    [str(tokens_file), str(aid)],
                    procs,
                    args.duration,
                    [],
                )
                results[f"wrk{at}"] = res.__dict__
                print(
                    f"  {'wrk' + at:<22} {res.rps:>7,.0f} answers/s (any status) p50 "
                    f"{res.p50_ms:6.1f} p99 {res.p99_ms:7.1f} ms socket errors/timeouts "
                    f"{res.socket_errors}  cpu {dict((k, round(v, 2)) for k, v in res.cpu.items())}"
                )
                time.sleep(2)
        (work / "overload.json").write_text(repr(results))
        print(f"results: {work / 'overload.json'}")
        _ = statistics  # medians: one run per mode; repeat the command for more
    finally:
        for server in servers.values():
            server.terminate()
        flusher.terminate()
        for p in [*servers.values(), flusher]:
            p.wait(timeout=30)
        redis_proc.terminate()
        asyncio.run(scratch_database(MARIADB, DB_NAME, "drop"))


if __name__ == "__main__":
    main()
