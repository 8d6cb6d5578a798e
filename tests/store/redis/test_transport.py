"""The pipelining transport against real Redis: pipelining, cancellation,
timeouts, kill -9 and restart, script reload, AUTH/SELECT, and cluster
routing with real MOVED and ASK redirections."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
from redis import exceptions as rexc
from redis.crc import key_slot

from app.store.redis import connection as engine_conn
from app.store.redis.replies import Drawn
from app.store.redis.transport import RedisTransport
from tests.helpers import REDIS_URL, prize, rain
from tests.redisproc import redis_cluster, redis_server
from tests.scriptkit import load

pytestmark = pytest.mark.integration


async def test_concurrent_calls_share_one_connection_and_get_their_own_reply() -> None:
    t = RedisTransport(REDIS_URL, timeout=5)
    try:
        payloads = [f"payload-{i}-{random.random()}" for i in range(3000)]
        replies = await asyncio.gather(*[t.execute("ECHO", p) for p in payloads])
        assert [r.decode() for r in replies] == payloads
        assert len(t.seed.links) == 1
        await t.execute("SET", "{tr}:k", "v", key="{tr}:k")
        assert await t.hmget("{tr}:missing", ["a", "b"]) == [None, None]
        assert await t.execute("GET", "{tr}:k", key="{tr}:k") == b"v"
        with pytest.raises(rexc.ResponseError, match="WRONGTYPE"):
            await t.hget("{tr}:k", "f")
        with pytest.raises(rexc.NoScriptError):
            await t.evalsha("0" * 40, 0)
        assert await t.ping()
    finally:
        await t.aclose()


async def test_a_cancelled_call_never_hands_its_reply_to_another() -> None:
    t = RedisTransport(REDIS_URL, timeout=5)
    try:
        for _ in range(5):
            tasks = [asyncio.create_task(t.execute("ECHO", f"m{i}")) for i in range(600)]
            await asyncio.sleep(0)  # the commands are written
            cancelled = set(random.sample(range(600), 200))
            for i in cancelled:
                tasks[i].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for i, res in enumerate(results):
                if i in cancelled:
                    assert isinstance(res, asyncio.CancelledError)
                else:
                    assert res == f"m{i}".encode()
        # The connection is still in step afterwards.
        assert await t.execute("ECHO", "after") == b"after"
    finally:
        await t.aclose()


async def test_cancelling_the_caller_that_connects_strands_nobody() -> None:
    t = RedisTransport(REDIS_URL, timeout=5)
    try:
        first = asyncio.create_task(t.execute("ECHO", "first"))  # starts the connect
        await asyncio.sleep(0)
        others = [asyncio.create_task(t.execute("ECHO", f"o{i}")) for i in range(50)]
        await asyncio.sleep(0)
        first.cancel()
        results = await asyncio.wait_for(asyncio.gather(*others), 5)
        assert results == [f"o{i}".encode() for i in range(50)]
        with pytest.raises(asyncio.CancelledError):
            await first
    finally:
        await t.aclose()


async def test_timeout_aborts_the_link_then_reconnects(tmp_path: Path) -> None:
    with redis_server(tmp_path / "r", args=["--enable-debug-command", "yes"]) as server:
        t = RedisTransport(server.url, timeout=0.3)
        try:
            assert await t.ping()
            blocker = asyncio.create_task(asyncio.to_thread(server.cli, "debug", "sleep", "1.2"))
            await asyncio.sleep(0.1)
            t0 = time.monotonic()
            with pytest.raises(rexc.TimeoutError):
                await t.execute("ECHO", "slow")
            assert time.monotonic() - t0 < 1.0  # the timeout, not the 1.2 s sleep
            await blocker
            assert await t.execute("ECHO", "again") == b"again"
        finally:
            await t.aclose()


async def test_kill_9_and_restart(tmp_path: Path) -> None:
    with redis_server(tmp_path / "r") as server:
        client = engine_conn.connect(server.url, timeout=1)
        fast = RedisTransport(server.url, timeout=1)
        loaded = await load(client, rain([prize("c2", 100, 0.5)]))
        loaded.redis.fast = fast
        try:
            assert isinstance(await loaded.draw("before"), Drawn)
            server.kill()
            t0 = time.monotonic()
            for _ in range(20):  # fail fast while it is down, never hang
                with pytest.raises(rexc.ConnectionError):
                    await fast.execute("PING")
            assert time.monotonic() - t0 < 5
            server.start()  # empty: its scripts and data are gone
            deadline = time.monotonic() + 10
            while True:
                try:
                    assert await fast.ping()
                    break
                except rexc.ConnectionError:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
            # NOSCRIPT after the restart: the engine reloads the script and retries.
            await loaded.redis.catalogue.publish(
                loaded.activity_id,
                version=1,
                config_json="{}",
                rounds=[loaded.round],
                slices=lambda r: [(), ()][: len(r.prizes)] or [()],
                seeds={loaded.round.sfx: (loaded.seed.hex(), "h")},
            )
            assert isinstance(await loaded.draw("after"), Drawn)
        finally:
            await fast.aclose()
            await client.aclose()


async def test_auth_and_database_selection(tmp_path: Path) -> None:
    with redis_server(tmp_path / "r", args=["--requirepass", "s3cret"]) as server:
        url = f"redis://:s3cret@127.0.0.1:{server.port}/3"
        t = RedisTransport(url, timeout=2)
        try:
            await t.execute("SET", "where", "db3")
            assert (
                server.cli("-a", "s3cret", "--no-auth-warning", "-n", "3", "get", "where") == "db3"
            )
            assert server.cli("-a", "s3cret", "--no-auth-warning", "-n", "0", "get", "where") == ""
        finally:
            await t.aclose()
        wrong = RedisTransport(f"redis://:nope@127.0.0.1:{server.port}/0", timeout=2)
        with pytest.raises(rexc.ConnectionError):
            await wrong.ping()
        await wrong.aclose()


def owner(nodes: list, slot: int):  # type: ignore[no-untyped-def]
    for node in nodes:
        for line in node.cli("cluster", "nodes").splitlines():
            parts = line.split()
            if "myself" in parts[2]:
                for rng in parts[8:]:
                    lo, _, hi = rng.partition("-")
                    if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                        return node, parts[0]
    raise AssertionError(f"no owner for slot {slot}")


def node_id(node) -> str:  # type: ignore[no-untyped-def]
    return node.cli("cluster", "myid")


@pytest.mark.slow
async def test_cluster_routing_moved_and_ask(tmp_path: Path) -> None:
    with redis_cluster(tmp_path / "cluster") as nodes:
        t = RedisTransport(nodes[0].url, timeout=3, cluster=True)
        try:
            # Keys in many slots land on their owners.
            keys_ = [f"{{k{i}}}:x" for i in range(60)]
            await asyncio.gather(*[t.execute("SET", k, k, key=k) for k in keys_])
            for k in keys_:
                node, _ = owner(nodes, key_slot(k.encode()))
                assert node.cli("get", k) == k
            # ASK: slot of "{moving}" is being migrated and its key already moved.
            key = "{moving}:a"
            slot = key_slot(key.encode())
            source, _ = owner(nodes, slot)
            target = next(n for n in nodes if n is not source)
            await t.execute("SET", key, "1", key=key)
            target.cli("cluster", "setslot", str(slot), "importing", node_id(source))
            source.cli("cluster", "setslot", str(slot), "migrating", node_id(target))
            source.cli("migrate", "127.0.0.1", str(target.port), key, "0", "5000")
            assert await t.execute("GET", key, key=key) == b"1"  # via ASKING on the target
            # MOVED: the migration completes; the client's map is now stale.
            for n in nodes:
                n.cli("cluster", "setslot", str(slot), "node", node_id(target))
            assert await t.execute("INCR", key, key=key) == 2
            assert target.cli("get", key) == "2"
            assert t.slots is not None and t.slots[slot].port == target.port
            # Scripts load on every primary and run where their keys live.
            sha = await t.script_load("return redis.call('GET', KEYS[1])")
            for k in (key, *keys_[:10]):
                assert await t.evalsha(sha.decode(), 1, k) is not None
        finally:
            await t.aclose()


@pytest.mark.slow
async def test_evalsha_wait_follows_ask_and_moved_as_every_command_does(tmp_path: Path) -> None:
    """Durability mode's EVALSHA + WAIT goes through the one redirect loop
    (issue 29, item 2): a slot mid-migration (ASK) and after it (MOVED)."""
    with redis_cluster(tmp_path / "cluster") as nodes:
        t = RedisTransport(nodes[0].url, timeout=3, cluster=True)
        try:
            key = "{waiting}:a"
            slot = key_slot(key.encode())
            source, _ = owner(nodes, slot)
            target = next(n for n in nodes if n is not source)
            sha = (await t.script_load("return redis.call('INCR', KEYS[1])")).decode()
            assert await t.evalsha_wait(sha, 1, key, replicas=0, timeout_ms=100) == (1, 0)
            target.cli("cluster", "setslot", str(slot), "importing", node_id(source))
            source.cli("cluster", "setslot", str(slot), "migrating", node_id(target))
            source.cli("migrate", "127.0.0.1", str(target.port), key, "0", "5000")
            # ASK: the key has moved, the slot not yet: ASKING, then both on the target.
            assert await t.evalsha_wait(sha, 1, key, replicas=0, timeout_ms=100) == (2, 0)
            for n in nodes:
                n.cli("cluster", "setslot", str(slot), "node", node_id(target))
            assert target.cli("get", key) == "2"  # the script ran where the key was
            # MOVED: the client's map was stale; it reads it again and follows.
            assert await t.evalsha_wait(sha, 1, key, replicas=0, timeout_ms=100) == (3, 0)
            assert t.slots is not None and t.slots[slot].port == target.port
        finally:
            await t.aclose()
