"""Invariants 1 and 2 under real concurrency: a running ``redrain serve`` hammered
over 100+ connections, then counted. Real Redis + MariaDB with two uvicorn
workers, and the embedded mode (fakeredis + SQLite in one process)."""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.domain import tokens
from app.store.sql.database import Database
from tests.conftest import flush_cluster, flush_real_redis
from tests.helpers import (
    ADMIN,
    AUDIT_KEY,
    DAY,
    REDIS_URL,
    SECRET,
    local,
    offset_to,
    prize,
    rain,
    running_server,
    subprocess_env,
    users_in,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONNECTIONS = 128
ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


@dataclass
class Server:
    base: str
    database_url: str


@pytest.fixture(params=["redis+mariadb", "cluster+mariadb", "embedded"])
def server(
    request: pytest.FixtureRequest, mariadb_url: str, tmp_path: Path, artifacts: Path
) -> Iterator[Server]:
    """A running server whose draws a worker flushes: ``redrain worker`` beside a
    Redis-backed server, the in-process worker of the embedded one."""
    env = {
        "REDRAIN_SECRET_KEY": SECRET,
        "REDRAIN_ADMIN_TOKEN": ADMIN,
        "REDRAIN_CLOCK_OFFSET": str(offset_to(local(DAY, 10, 30))),
        "REDRAIN_LOG_LEVEL": "warning",
        # One client IP and one user on purpose: the invariants, not the rate limits,
        # nor admission's busy answers when the machine is loaded by the other
        # test worker (tests/http/test_admission.py and the rehearsal cover those).
        "REDRAIN_RATE_LIMIT_USER": "0",
        "REDRAIN_RATE_LIMIT_IP": "0",
        "REDRAIN_DRAW_CONCURRENCY": "0",
    }
    if request.param == "embedded":
        env["REDRAIN_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}"
        with running_server(env, artifacts / "server-embedded.log") as base:
            yield Server(base, env["REDRAIN_DATABASE_URL"])
        return
    if request.param == "cluster+mariadb":
        url = request.getfixturevalue("cluster_url")
        asyncio.run(flush_cluster(url))
        env |= {"REDRAIN_REDIS_URL": url, "REDRAIN_REDIS_CLUSTER": "1"}
    else:
        asyncio.run(flush_real_redis())
        env |= {"REDRAIN_REDIS_URL": REDIS_URL}
    env |= {"REDRAIN_DATABASE_URL": mariadb_url}
    full = subprocess_env(env)
    with (
        running_server(env, artifacts / f"server-{request.param}.log", workers=2) as base,
        (artifacts / f"worker-{request.param}.log").open("wb") as log,
    ):
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"], env=full, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield Server(base, mariadb_url)
        finally:
            worker.terminate()
            worker.wait(30)


async def ledger(server: Server, aid: int, expected: int) -> tuple[int, set[str]]:
    """Rows and winning draw ids in the server's database once ``expected`` rows are in."""
    db = Database(server.database_url, audit_key=AUDIT_KEY)
    try:
        for _ in range(300):
            if await db.draws.count(aid) >= expected:
                break
            await asyncio.sleep(0.1)
        wins = {w.record.draw_id for w in await db.draws.winners(aid, limit=100_000)}
        return await db.draws.count(aid), wins
    finally:
        await db.close()


def token(user: str) -> str:
    return tokens.issue(SECRET.encode(), user, int(time.time()) + 3600)


class Load:
    """An aiohttp session with up to CONNECTIONS connections, counting those it opens."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opened = 0

    async def __aenter__(self) -> Load:
        trace = aiohttp.TraceConfig()

        async def opened(*_: Any) -> None:
            self.opened += 1

        trace.on_connection_create_end.append(opened)
        self.session = aiohttp.ClientSession(
            self.base,
            connector=aiohttp.TCPConnector(limit=CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=60),
            trace_configs=[trace],
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def call(
        self, method: str, path: str, user: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token(user) if user else ADMIN}"}
        async with self.session.request(method, path, headers=headers, **kw) as resp:
            return resp.status, await resp.json()

    async def publish(self, cfg: dict[str, Any]) -> int:
        status, body = await self.call("POST", "/v1/admin/activities", json=cfg)
        assert status == 201, body
        aid = int(body["id"])
        status, body = await self.call("POST", f"/v1/admin/activities/{aid}/publish")
        assert status == 200, body
        return aid

    async def draws(self, aid: int, users: list[str]) -> list[tuple[int, Any]]:
        return list(
            await asyncio.gather(
                *[self.call("POST", "/v1/draw", u, json={"activity_id": aid}) for u in users]
            )
        )


async def test_no_oversell_under_2000_concurrent_draws(server: Server) -> None:
    async with Load(server.base) as load:
        aid = await load.publish(rain([prize("big", 50, 1.0)]))
        results = await load.draws(aid, [f"user{i}" for i in range(2000)])
        assert load.opened >= 100
        codes = collections.Counter(status for status, _ in results)
        assert codes == {200: 2000}, codes
        bodies = [body for _, body in results]
        assert sum(1 for b in bodies if b["won"]) == 50
        assert len({b["draw_id"] for b in bodies}) == 2000
        _, stats = await load.call("GET", f"/v1/admin/activities/{aid}/stats")
        (rnd,) = stats["rounds"]
        (p,) = rnd["prizes"]
        assert (rnd["draws"], rnd["users"]) == (2000, 2000)
        assert (p["quantity"], p["released"], p["won"], p["remaining"]) == (50, 50, 50, 0)
    # Invariant 3: every draw reaches the database once; its wins are exactly
    # the 200 responses that said won, by draw_id.
    rows, wins = await ledger(server, aid, 2000)
    assert rows == 2000
    assert wins == {b["draw_id"] for b in bodies if b["won"]}


async def test_one_user_cannot_beat_per_round(server: Server) -> None:
    async with Load(server.base) as load:
        aid = await load.publish(rain([prize("c2", 1000, 0.5)], limits={"per_round": 3}))
        results = await load.draws(aid, ["greedy"] * 100)
        codes = collections.Counter(status for status, _ in results)
        assert codes == {200: 3, 429: 97}, codes
        assert {b["error"]["code"] for s, b in results if s == 429} == {"round_limit"}
        assert sorted(b["proof"]["nonce"] for s, b in results if s == 200) == [1, 2, 3]
        _, stats = await load.call("GET", f"/v1/admin/activities/{aid}/stats")
        assert stats["rounds"][0]["draws"] == 3 and stats["rounds"][0]["users"] == 1


async def test_buckets_hold_every_invariant_and_stock_follows_players(server: Server) -> None:
    """SPEC §9 on a running server: 2,000 concurrent draws on a 3-bucket
    round, then a round whose few players all hash to one bucket (the other
    two get nobody): the worker's rebalancer still brings them every unit."""
    async with Load(server.base) as load:
        aid = await load.publish(rain([prize("big", 50, 1.0)], buckets=3))
        results = await load.draws(aid, [f"user{i}" for i in range(2000)])
        assert collections.Counter(s for s, _ in results) == {200: 2000}
        bodies = [b for _, b in results]
        assert sum(b["won"] for b in bodies) == 50  # every bucket's share, none more
        assert len({b["draw_id"] for b in bodies}) == 2000
        assert {b["proof"]["bucket"] for b in bodies} == {0, 1, 2}
        _, stats = await load.call("GET", f"/v1/admin/activities/{aid}/stats")
        (p,) = stats["rounds"][0]["prizes"]
        assert (p["quantity"], p["won"]) == (50, 50)
        assert stats["rounds"][0]["users"] == 2000
        rows, wins = await ledger(server, aid, 2000)
        assert rows == 2000 and wins == {b["draw_id"] for b in bodies if b["won"]}

        few = await load.publish(rain([prize("big", 60, 1.0)], limits={"per_round": 40}, buckets=3))
        players = users_in(few, 0, 3, 4)
        won = 0
        per_user: collections.Counter[str] = collections.Counter()
        for _ in range(60):  # bounded: bursts of 8 draws, a little apart
            burst = await load.draws(few, [players[i % 4] for i in range(8)])
            for (status, body), user in zip(burst, [players[i % 4] for i in range(8)], strict=True):
                if status == 200:
                    per_user[user] += 1
                    won += body["won"]
                    assert body["proof"]["bucket"] == 0
            if won == 60 or all(n >= 40 for n in per_user.values()):
                break
            await asyncio.sleep(0.3)
        assert won == 60  # 40 of them started in buckets nobody drew in
        assert max(per_user.values()) <= 40
        _, stats = await load.call("GET", f"/v1/admin/activities/{few}/stats")
        (p,) = stats["rounds"][0]["prizes"]
        assert (p["quantity"], p["won"]) == (60, 60)


async def test_past_capacity_draws_are_busy_and_a_retry_with_the_key_is_served_once(
    mariadb_url: str, artifacts: Path
) -> None:
    """One worker bounded to 4 draws in flight, 400 taps on 128 connections: the
    excess is refused 503 busy with Retry-After at once, consuming nothing;
    retrying each refused tap with its Idempotency-Key (as the games do) ends
    with every tap served exactly once and the stock won exactly."""
    await flush_real_redis()
    env = {
        "REDRAIN_SECRET_KEY": SECRET,
        "REDRAIN_ADMIN_TOKEN": ADMIN,
        "REDRAIN_CLOCK_OFFSET": str(offset_to(local(DAY, 10, 30))),
        "REDRAIN_LOG_LEVEL": "warning",
        "REDRAIN_RATE_LIMIT_USER": "0",
        "REDRAIN_RATE_LIMIT_IP": "0",
        "REDRAIN_REDIS_URL": REDIS_URL,
        "REDRAIN_DATABASE_URL": mariadb_url,
        "REDRAIN_DRAW_CONCURRENCY": "4",
    }
    full = subprocess_env(env)
    with (
        running_server(env, artifacts / "server-busy.log") as base,
        (artifacts / "worker-busy.log").open("wb") as log,
    ):
        worker = subprocess.Popen(  # noqa: ASYNC220  started once, before the load
            [sys.executable, "-m", "app", "worker"], env=full, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            async with Load(base) as load:
                aid = await load.publish(rain([prize("big", 50, 1.0)]))

                async def tap(user: str, key: str) -> tuple[int, Any, str | None]:
                    headers = {"Authorization": f"Bearer {token(user)}", "Idempotency-Key": key}
                    async with load.session.post(
                        "/v1/draw", json={"activity_id": aid}, headers=headers
                    ) as resp:
                        return resp.status, await resp.json(), resp.headers.get("Retry-After")

                todo = {f"user{i}": f"key{i}" for i in range(400)}
                served: dict[str, Any] = {}
                busy = 0
                for _ in range(400):  # bounded: each pass retries what was refused
                    answers = await asyncio.gather(*(tap(u, k) for u, k in todo.items()))
                    for (status, body, retry_after), user in zip(answers, list(todo), strict=True):
                        assert status in (200, 503), (status, body)
                        if status == 503:
                            assert body["error"]["code"] == "busy" and retry_after == "1", body
                            busy += 1
                        else:
                            served[user] = body
                            del todo[user]
                    if not todo:
                        break
                    await asyncio.sleep(0.02)
                assert not todo and busy > 0
                assert sum(1 for b in served.values() if b["won"]) == 50
                assert len({b["draw_id"] for b in served.values()}) == 400
                _, stats = await load.call("GET", f"/v1/admin/activities/{aid}/stats")
                (rnd,) = stats["rounds"]
                assert rnd["draws"] == 400  # refusals consumed nothing
            rows, wins = await ledger(Server(base, mariadb_url), aid, 400)
            assert rows == 400
            assert wins == {b["draw_id"] for b in served.values() if b["won"]}
        finally:
            worker.terminate()
            worker.wait(30)
