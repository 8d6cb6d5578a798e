"""What one draw costs Redis: lua/draw.lua's instructions (or µs) per call.

Compares git refs (default: ``base`` and the working tree) in one run; "base"
is where this branch left main (git merge-base main HEAD). For each ref the
ref's own ``app/`` and ``lua/`` are exported to a temporary folder and a child
process imports them from there, so a ref with another ARGV layout is called
the way that ref calls it (through RedisStore and app/store/redis/draw.py, the
real code path). The first repeat after the warm-up runs ~10% dearer than the
others (in every ref): report medians of 3 or more.

Each child starts a private redis-server (a free loopback port, no persistence),
publishes a typical activity (bench.py's: a ``time`` activity, two prizes,
manual odds, default limits) and draws with the server's rate limits as
bench.py sets them (100000/s per user, 1000000/s per IP), one draw per user,
each user on an address of its own.

Modes:
  callgrind     (default) redis-server under ``valgrind --tool=callgrind``,
                collection only inside readQueryFromClient (a request's read,
                parse and execution; the reply's write is not counted). After a
                warm-up the counters are dumped (zeroed), then each repeat of
                ``--draws`` draws is dumped on its own; reported: instructions
                per draw inside readQueryFromClient and inside evalShaCommand.
                Instruction counts do not depend on the machine's load.
  commandstats  redis-server as is; per repeat CONFIG RESETSTAT, ``--draws``
                draws, then INFO commandstats' usec_per_call of evalsha
                (wall-clock: noisy on a shared machine).

    python loadtest/lua_cost.py                       # base vs working tree
    python loadtest/lua_cost.py --refs main HEAD~1 .  # any refs; "." = working tree
    python loadtest/lua_cost.py --mode commandstats --draws 20000 --repeats 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Appended, not prepended: a child imports the ref's app from PYTHONPATH, and
# only the harness (no app import) from here.
sys.path.append(str(ROOT))

from loadtest.harness import bench_activity, checkout, start_redis  # noqa: E402

RATE_USER, RATE_IP = 100_000.0, 1_000_000.0  # bench.py's REDRAIN_RATE_LIMIT_USER / _IP

ACTIVITY = bench_activity("cost rain")


def export(ref: str, into: Path) -> Path:
    """``app/`` and ``lua/`` of ``ref`` (``.``: the working tree) under ``into``."""
    return ROOT if ref == "." else checkout(ref, into, ["app", "lua"])


# ---------------------------------------------------------------- the child


async def draws_on(url: str, plan: dict[str, Any], between: Any) -> None:
    """Publish, warm up, then ``repeats`` × ``draws`` draws; ``between(i)``
    runs before repeat i (i = 0..repeats) and after the last (i = repeats)."""
    import app
    from app.domain import fairness
    from app.domain.activity import parse_config
    from app.domain.runtime import compile_runtime, limits_of
    from app.domain.schedule import activity_window, plan_rounds, round_slices
    from app.store.redis.connection import connect
    from app.store.redis.store import RedisStore

    print(f"  app from {Path(app.__file__).parent}", file=sys.stderr)
    client = connect(url, timeout=120)
    await client.flushdb()
    aid = 7
    config = parse_config(ACTIVITY)
    rounds = plan_rounds(aid, config)
    seed = b"\x01" * 32
    now = 1_906_516_800.0  # 2030-06-01 12:00 Asia/Shanghai
    store = RedisStore(client, offset_ms=round((now - time.time()) * 1000), idempotency_ttl=600)
    await store.catalogue.publish(
        aid,
        version=1,
        config_json=config.model_dump_json(),
        mode=config.probability.value,
        window=activity_window(config),
        limits=limits_of(config),
        rounds=rounds,
        slices=lambda r: round_slices(config, r),
        seeds={r.sfx: (seed.hex(), fairness.seed_hash(seed)) for r in rounds},
    )
    rt = compile_runtime(aid, 1, config.model_dump_json())
    round_ = next(r for r in rounds if r.start_ms <= now * 1000 < r.end_ms)
    call = store.draws.prepared(rt, round_)
    counter = 0

    async def draw_many(n: int) -> None:
        nonlocal counter
        for _ in range(n):
            counter += 1
            user = f"u{counter}"
            out = await store.draws.draw(
                call,
                version=1,
                user_id=user,
                user_key=fairness.user_key(seed, user, ""),
                client_seed="",
                idempotency_key=None,
                grant_id=None,
                client_ip=f"10.{counter >> 16 & 255}.{counter >> 8 & 255}.{counter & 255}",
                rate_user=RATE_USER,
                rate_ip=RATE_IP,
            )
            if type(out).__name__ != "Drawn":
                raise SystemExit(f"draw refused: {out}")

    await draw_many(plan["warmup"])
    for i in range(plan["repeats"]):
        await between(client, i)
        await draw_many(plan["draws"])
    await between(client, plan["repeats"])
    await client.aclose()


def child_callgrind(plan: dict[str, Any]) -> dict[str, Any]:
    work = Path(plan["work"])
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--collect-atstart=no",
        "--toggle-collect=readQueryFromClient",
        f"--callgrind-out-file={work / 'callgrind.out'}",
        f"--log-file={work / 'valgrind.log'}",
    ]
    proc, url = start_redis(work, prefix=valgrind)
    try:

        async def between(client: Any, i: int) -> None:
            await client.ping()
            await asyncio.to_thread(
                subprocess.run,
                ["callgrind_control", f"--dump=repeat{i}", str(proc.pid)],
                check=True,
                capture_output=True,
            )

        asyncio.run(draws_on(url, plan, between))
    finally:
        proc.terminate()
        proc.wait(60)
    per: dict[str, list[float]] = {"readQueryFromClient": [], "evalShaCommand": []}
    dumps = sorted(work.glob("callgrind.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    # dump i (1-based) holds what ran before `between(i-1)`: 1 is the warm-up.
    for dump in dumps[1 : 1 + plan["repeats"]]:
        inclusive = annotate(dump)
        for fn in per:
            per[fn].append(inclusive.get(fn, 0) / plan["draws"])
    return per


def annotate(dump: Path) -> dict[str, int]:
    """Inclusive instructions per function of a callgrind dump."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?\S*?:?(\w+)\s", line + " ")
        if m:
            found.setdefault(m.group(2), int(m.group(1).replace(",", "")))
    return found


def child_commandstats(plan: dict[str, Any]) -> dict[str, Any]:
    proc, url = start_redis(Path(plan["work"]))
    usec: list[float] = []
    try:

        async def between(client: Any, i: int) -> None:
            if i > 0:
                stats = await client.info("commandstats")
                usec.append(float(stats["cmdstat_evalsha"]["usec_per_call"]))
            await client.config_resetstat()

        asyncio.run(draws_on(url, plan, between))
    finally:
        proc.terminate()
        proc.wait(30)
    return {"evalsha usec": usec}


# ---------------------------------------------------------------- the parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--refs", nargs="+", default=["base", "."], help='git refs; "." = working tree')
    p.add_argument("--mode", choices=("callgrind", "commandstats"), default="callgrind")
    p.add_argument("--draws", type=int, default=None, help="draws per repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    p.add_argument("--keep", type=Path, help="copy the callgrind dumps into this folder")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        plan = json.loads(args.child)
        run = child_callgrind if plan["mode"] == "callgrind" else child_commandstats
        print(json.dumps(run(plan)))
        return
    draws = args.draws or (1000 if args.mode == "callgrind" else 20_000)
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="lua_cost.") as tmp:
        for n, ref in enumerate(resolve(r) for r in args.refs):
            src = export(ref, Path(tmp) / f"src{n}")
            work = Path(tmp) / f"work{n}"
            work.mkdir()
            plan = {
                "mode": args.mode,
                "draws": draws,
                "repeats": args.repeats,
                "warmup": args.warmup,
                "work": str(work),
            }
            env = {**os.environ, "PYTHONPATH": str(src)}
            print(f"{ref}: {args.repeats} x {draws} draws ({args.mode})", file=sys.stderr)
            out = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(plan)],
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
            )
            sys.stderr.write(out.stderr)
            if out.returncode != 0:
                raise SystemExit(f"{ref}: the child failed")
            results[ref] = json.loads(out.stdout.strip().splitlines()[-1])
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for dump in work.glob("callgrind.out*"):
                    shutil.copy(dump, args.keep / f"{n}.{dump.name}")
            if shutil.which("git"):
                rev = subprocess.run(
                    ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD" if ref == "." else ref],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout.strip()
                label = f"{ref} ({rev}{' + changes' if ref == '.' and dirty() else ''})"
                results[label] = results.pop(ref)
    report(results, draws)
    if args.json:
        print(json.dumps(results, indent=2))


def resolve(ref: str) -> str:
    """``base``: where this branch left main; any other ref as given."""
    if ref != "base":
        return ref
    return subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "main", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()[:12]


def dirty() -> bool:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "app", "lua"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return bool(out.strip())


def report(results: dict[str, dict[str, list[float]]], draws: int) -> None:
    metrics = list(next(iter(results.values())))
    first = next(iter(results))
    print(f"\nper draw, median of repeats ({draws} draws each)")
    print(f"{'ref':<32}" + "".join(f"{m:>22}" for m in metrics))
    for ref, per in results.items():
        cells = []
        for m in metrics:
            med = statistics.median(per[m])
            base = statistics.median(results[first][m])
            unit = f"{med:,.0f}" if med > 1000 else f"{med:.2f}"
            cells.append(f"{unit} ({med / base:.0%})" if base else unit)
        print(f"{ref:<32}" + "".join(f"{c:>22}" for c in cells))
    print("\nevery repeat:")
    for ref, per in results.items():
        for m, vals in per.items():
            print(f"  {ref:<30} {m:<20} " + " ".join(f"{v:,.1f}" for v in vals))


if __name__ == "__main__":
    main()
