"""Shared test helpers: activity configs, time travel, Redis snapshots, servers."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.config import Settings
from app.domain.audit import Actor
from app.domain.buckets import bucket_of

SH = ZoneInfo("Asia/Shanghai")
SECRET = "s" * 40
ADMIN = "admin-token-for-tests"
_REDIS_BASE = os.environ.get("REDRAIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def _own_db(url: str) -> str:
    """One Redis database per pytest-xdist worker (gw0: the given one, gw1: the
    one below, …): tests flush theirs between tests."""
    n = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    base, _, db = url.rpartition("/")
    return f"{base}/{int(db) - n}" if n and db.isdigit() else url


REDIS_URL = _own_db(_REDIS_BASE)
MARIADB_URL = os.environ.get("REDRAIN_TEST_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306")
# The audit chain's key that settings with SECRET derive (REDRAIN_AUDIT_KEY unset).
AUDIT_KEY = Settings(_env_file=None, secret_key=SECRET).audit_key_bytes  # type: ignore[call-arg]

# A fixed campaign far from today; tests move the clock there with the offset.
DAY = dt.date(2030, 6, 1)


def local(day: dt.date, hh: int, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SH)


def offset_to(when: dt.datetime) -> float:
    """The REDRAIN_CLOCK_OFFSET (seconds) that makes "now" equal ``when``."""
    return when.timestamp() - time.time()


def prize(
    key: str, quantity: int | None = 100, probability: float | None = 0.5, **kw: Any
) -> dict[str, Any]:
    p: dict[str, Any] = {"key": key, "type": kw.pop("type", "coupon"), "name": f"prize {key}"}
    p["value"] = kw.pop("value", f"V-{key}")
    if quantity is not None:
        p["quantity"] = quantity
    if probability is not None:
        p["probability"] = probability
    p.update(kw)
    return p


def rain(
    prizes: list[dict[str, Any]] | None = None,
    *,
    sessions: list[tuple[str, str]] | None = None,
    start: dt.date = DAY,
    end: dt.date | None = None,
    limits: dict[str, int] | None = None,
    release: dict[str, Any] | None = None,
    probability: str = "manual",
    stop_when_sold_out: bool | None = False,
    **extra: Any,
) -> dict[str, Any]:
    """A ``time`` activity config: by default one session 10:00-11:00 on DAY.

    Most tests draw on past the last unit on purpose (the losses that follow
    are part of what they check), so draws are not stopped when sold out
    unless asked; ``None`` leaves the product default (stop, for time)."""
    prizes = prizes if prizes is not None else [prize("c2")]
    cfg: dict[str, Any] = {
        "name": "test rain",
        "kind": "time",
        "timezone": "Asia/Shanghai",
        "start_date": start.isoformat(),
        "end_date": (end or start).isoformat(),
        "probability": probability,
        "limits": limits or {},
        "sessions": [
            {"start": s, "end": e, "pools": [{"prizes": copy.deepcopy(prizes)}]}
            for s, e in (sessions or [("10:00:00", "11:00:00")])
        ],
    }
    if release is not None:
        cfg["release"] = release
    if stop_when_sold_out is not None:
        cfg["stop_when_sold_out"] = stop_when_sold_out
    cfg.update(extra)
    return cfg


def all_day_utc(
    prizes: list[dict[str, Any]] | None = None, *, buckets: int = 1, **extra: Any
) -> dict[str, Any]:
    """A ``time`` activity open all day (UTC) today and tomorrow, for tests on
    real time (private Redis servers killed or paused mid-rain)."""
    today = dt.datetime.now(dt.UTC).date()
    return {
        "name": "all-day rain",
        "kind": "time",
        "timezone": "UTC",
        "start_date": today.isoformat(),
        "end_date": (today + dt.timedelta(days=1)).isoformat(),
        "buckets": buckets,
        "stop_when_sold_out": False,
        "sessions": [
            {
                "start": "00:00:00",
                "end": "24:00:00",
                "pools": [{"prizes": prizes or [prize("c2", 10**6, 0.3)]}],
            }
        ],
        **extra,
    }


def users_in(aid: int, bucket: int, k: int, n: int, prefix: str = "p") -> list[str]:
    """The first ``n`` user ids ``<prefix><i>`` that hash to ``bucket`` of ``k``."""
    found = (f"{prefix}{i}" for i in range(100_000) if bucket_of(aid, f"{prefix}{i}", k) == bucket)
    return [next(found) for _ in range(n)]


async def snapshot(client: Any) -> dict[bytes, Any]:
    """Every key with its type and contents, to prove a request changed nothing."""
    out: dict[bytes, Any] = {}
    async for key in client.scan_iter(count=1000):
        kind = await client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            val: Any = await client.get(key)
        elif kind == "hash":
            val = await client.hgetall(key)
        elif kind == "zset":
            val = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            val = sorted(await client.smembers(key))
        elif kind == "stream":
            val = await client.xrange(key)
        else:
            val = await client.dump(key)
        out[key] = (kind, val)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(
    env: dict[str, str], log: Path, *, workers: int = 1, command: str = "serve"
) -> Iterator[str]:
    """``redrain serve`` (or ``demo``) in a subprocess; yields its base URL once
    /healthz answers. Only the REDRAIN_* variables given are set."""
    port = free_port()
    full = subprocess_env(env)
    cmd = [sys.executable, "-m", "app", command, "--port", str(port)]
    if command == "serve":
        cmd += ["--workers", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=full, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: answers(f"{base}/healthz"), "the server", 30, proc, log)
            yield base
        finally:
            stop(proc)


def answers(url: str) -> bool:
    """``url`` answers 200 now."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(
    ready: Callable[[], bool],
    what: str,
    timeout: float,
    proc: subprocess.Popen[bytes],
    log: Path | None = None,
) -> None:
    """Poll ``ready`` until it holds; RuntimeError (with ``log``'s text) if
    ``proc`` exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not ready():
        said = f":\n{log.read_text()}" if log is not None else ""
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early ({proc.returncode}){said}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start in {timeout} s{said}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited in 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def subprocess_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its REDRAIN_* settings, plus
    ``env``: a subprocess sees only the settings its test gives it."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REDRAIN_")} | dict(env)


def production_env(db_url: str, **settings: str) -> dict[str, str]:
    """The REDRAIN_* settings of a server or worker on the test Redis and
    ``db_url``, plus ``settings`` (``clock_offset="…"`` → REDRAIN_CLOCK_OFFSET)."""
    return {
        "REDRAIN_REDIS_URL": REDIS_URL,
        "REDRAIN_DATABASE_URL": db_url,
        "REDRAIN_SECRET_KEY": SECRET,
        "REDRAIN_ADMIN_TOKEN": ADMIN,
        **{f"REDRAIN_{name.upper()}": value for name, value in settings.items()},
    }


# The actor test code changes things as (the audit trail records it).
BY = Actor("test")
