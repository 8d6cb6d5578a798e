"""Process plumbing shared by the benchmarks and the rehearsal: free ports, a
private redis-server, a scratch MariaDB database, process trees, waiting for a
server, another revision of this repository, and the benchmarks' activity."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
EDGE_SCRIPT = ROOT / "deploy" / "nginx" / "run-local.sh"
# run-local.sh's knobs for one client address that is a whole crowd (its
# per-address limits would refuse the load generator itself).
EDGE_ONE_ADDRESS = {
    "EDGE_ADDR_RATE": "10000000",
    "EDGE_ADDR_BURST": "10000000",
    "EDGE_CONN": "65535",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


def start_redis(
    work: Path,
    *,
    port: int | None = None,
    aof: bool = False,
    cpus: str | None = None,
    prefix: Sequence[str] = (),
) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server on loopback with its files in ``work``: no persistence, or
    AOF fsynced every second (``aof``: a restart on the same port and folder
    keeps the data). ``prefix`` runs it under another program (valgrind)."""
    port = port or free_port()
    work = work.resolve()  # redis-server changes into --dir before opening its log
    cmd = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes" if aof else "no",
        "--appendfsync",
        "everysec",
        "--dir",
        str(work),
        "--logfile",
        str(work / "redis.log"),
    ]
    proc = subprocess.Popen([*taskset(cpus), *prefix, *cmd])
    deadline = time.monotonic() + 60
    while True:
        pong = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
        )
        if pong.stdout.strip() == "PONG":
            return proc, f"redis://127.0.0.1:{port}/0"
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"redis-server on {port} did not start (see {work / 'redis.log'})")
        time.sleep(0.05)


async def scratch_database(server_url: str, name: str, action: str) -> None:
    """``create`` (dropping any leftover) or ``drop`` database ``name`` on MariaDB."""
    from sqlalchemy.ext.asyncio import create_async_engine

    eng = create_async_engine(f"{server_url}/test")
    async with eng.begin() as conn:
        await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        if action == "create":
            await conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    await eng.dispose()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``: children, theirs, and so on."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def named(pids: list[int], name: str) -> list[int]:
    """Those of ``pids`` whose command name is ``name``."""

    def comm(p: int) -> str:
        try:
            return Path(f"/proc/{p}/comm").read_text().strip()
        except OSError:
            return ""

    return [p for p in pids if comm(p) == name]


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, what: str = "server") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:]
            raise SystemExit(f"{what} exited during start-up: {' '.join(tail)}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start")


def checkout(rev: str, into: Path, paths: Sequence[str] = ()) -> Path:
    """``rev`` of this repository (only ``paths`` when given) unpacked into
    ``into``, a folder this creates."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, *paths],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def bench_activity(name: str) -> dict[str, Any]:
    """The benchmarks' rain: one all-day round of 2030-06-01 (Shanghai), ample
    stock of two coupons (10% and 5%), manual odds, no per-round limit."""
    prizes = [
        {
            "key": key,
            "type": "coupon",
            "name": f"{yuan} yuan",
            "value": f"CPN-{yuan}",
            "quantity": 10**8,
            "probability": probability,
        }
        for key, yuan, probability in (("c2", 2, 0.1), ("c5", 5, 0.05))
    ]
    return {
        "name": name,
        "kind": "time",
        "timezone": "Asia/Shanghai",
        "start_date": "2030-06-01",
        "end_date": "2030-06-01",
        "probability": "manual",
        "limits": {"per_round": 0},
        "sessions": [{"start": "00:00:00", "end": "24:00:00", "pools": [{"prizes": prizes}]}],
    }


@contextmanager
def edge(
    api_port: int,
    rate: float,
    log: Path,
    *,
    script: Path = EDGE_SCRIPT,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[int, list[int]]]:
    """The shipped nginx config (``deploy/nginx/run-local.sh``) in front of
    ``api_port``, its draw guard at ``rate``/s, per-address limits lifted
    (every player here is 127.0.0.1): the port it listens on and nginx's
    processes."""
    if not script.exists():
        raise SystemExit(f"{script} is missing")
    port = free_port()
    cmd = [str(script)] if os.access(script, os.X_OK) else ["bash", str(script)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*cmd, str(api_port), str(port), str(max(1, round(rate)))],
            env=os.environ | EDGE_ONE_ADDRESS | (env or {}),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, log, "nginx (run-local.sh)")
        yield port, named(descendants(proc.pid), "nginx")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            for p in descendants(proc.pid):
                os.kill(p, signal.SIGKILL)
            proc.kill()
            proc.wait()
