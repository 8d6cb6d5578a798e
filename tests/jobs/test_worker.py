"""The worker, in process, on real Redis + MariaDB and fakeredis + SQLite:
exactly-once flush, duplicates, collisions, dead letters, trimming, claiming."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from app.domain.errors import ConfigError
from app.domain.types import DrawRecord, DrawResult
from app.jobs.worker import Worker
from app.services.container import Services
from app.store.redis import keys, ledger
from app.store.redis.streams import GROUP, Entry, fields_of
from tests.conftest import ServiceFactory
from tests.helpers import BY, DAY, local, offset_to, prize, rain


def worker_for(svc: Services, name: str = "w1", **settings: Any) -> Worker:
    values = {"worker_claim_idle": 0.2, "stream_retention": 0, **settings}
    return Worker.wired(svc.settings.model_copy(update=values), svc.redis, svc.db, name=name)


async def published(svc: Services, cfg: dict[str, Any]) -> int:
    rec = await svc.activities.create(cfg, BY)
    await svc.activities.publish(rec.id, BY)
    return rec.id


async def draw_many(svc: Services, aid: int, n: int, prefix: str = "u") -> list[DrawResult]:
    res = await asyncio.gather(*[svc.draws.draw(f"{prefix}{i}", aid) for i in range(n)])
    return [r for _, r in res]


@pytest.fixture
def svc(make_service: ServiceFactory) -> Services:
    return make_service(offset_to(local(DAY, 10, 5)))


async def stored_ids(svc: Services, aid: int, user_prefix: str = "u", n: int = 0) -> set[str]:
    ids: set[str] = set()
    for i in range(n):
        for d in await svc.db.draws.of_user(
            f"{user_prefix}{i}", activity_id=aid, limit=100, before=None
        ):
            ids.add(d.record.draw_id)
    return ids


async def test_every_draw_reaches_the_database_once(svc: Services) -> None:
    aid = await published(svc, rain([prize("c2", 40, 0.5)]))
    results = await draw_many(svc, aid, 300)
    worker = worker_for(svc)
    await worker.drain(30)
    await worker.drain(30)  # a second pass finds nothing new
    assert await svc.db.draws.count(aid) == 300
    assert worker.stats()["rows"] == 300
    metric = worker.metrics.registry.get_sample_value
    assert metric("redrain_worker_rows_total") == 300
    assert metric("redrain_worker_batch_seconds_count") >= 1
    await worker.maintain()
    label = {"round": f"{aid}:20300601:0"}
    assert metric("redrain_worker_stream_lag", label) == 0
    assert metric("redrain_worker_stream_pending", label) == 0
    assert await stored_ids(svc, aid, n=300) == {r.draw_id for r in results}
    winners = await svc.db.draws.winners(aid, limit=1000)
    assert {w.record.draw_id for w in winners} == {r.draw_id for r in results if r.won}
    w = winners[0]
    assert (w.prize_type, w.prize_name, w.prize_value) == ("coupon", "prize c2", "V-c2")


async def test_crash_after_commit_before_ack_is_not_doubled(svc: Services) -> None:
    aid = await published(svc, rain([prize("c2", 100, 0.5)]))
    await draw_many(svc, aid, 120)
    # A consumer that committed 50 rows and died before acknowledging them.
    sfx = "20300601:0"
    await svc.redis.streams.ensure_group(aid, sfx)
    entries = await svc.redis.streams.read_new(aid, [sfx], "ghost", 50)

    await svc.db.draws.store([(ledger.parse(e.id, fields_of(e)), None) for e in entries])
    worker = worker_for(svc)
    await asyncio.sleep(0.25)  # the ghost's entries become idle long enough to claim
    await worker.drain(30)
    assert await svc.db.draws.count(aid) == 120
    assert worker.stats()["duplicates"] == 50 and worker.stats()["rows"] == 70
    assert (await svc.redis.streams.state(aid, sfx)).pending == 0


async def test_a_stall_between_read_and_claim_takes_nothing_twice(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a loaded box the worker's own just-read entries can pass the claim idle
    # time before its claim runs: XAUTOCLAIM then hands them back to it.
    aid = await published(svc, rain([prize("c2", 100, 0.5)]))
    await draw_many(svc, aid, 60)
    worker = worker_for(svc)
    read = worker.read

    async def stalled() -> list[Entry]:
        got = await read()
        await asyncio.sleep(0.3)  # past the 0.2 s claim idle time
        return got

    monkeypatch.setattr(worker, "read", stalled)
    await worker.drain(30)
    assert await svc.db.draws.count(aid) == 60
    assert (worker.stats()["rows"], worker.stats()["duplicates"]) == (60, 0)
    assert (await svc.redis.streams.state(aid, "20300601:0")).pending == 0


async def test_caught_up_waits_for_every_draw_made_before_it(svc: Services) -> None:
    # Embedded mode's read-your-writes: a running worker, draws, then at once a read.
    aid = await published(svc, rain([prize("c2", 100, 0.5)]))
    worker = worker_for(svc, worker_linger=0.2)
    task = asyncio.create_task(worker.run())
    try:
        total = 0
        for n in (1, 3, 50):  # the first opens the round's stream: not yet followed
            await draw_many(svc, aid, n, prefix=f"r{n}-")
            total += n
            await worker.caught_up(10)
            assert await svc.db.draws.count(aid) == total
    finally:
        worker.stop()
        await task


async def test_caught_up_gives_up_in_time_and_leaves_nothing_behind(svc: Services) -> None:
    worker = worker_for(svc)  # not running: nothing will release the wait
    started = asyncio.get_running_loop().time()
    await worker.caught_up(0.05)
    assert asyncio.get_running_loop().time() - started < 2
    assert not worker._waiters  # a busy worker's waiters do not pile up


async def test_same_id_different_draw_is_dead_lettered(svc: Services) -> None:
    aid = await published(svc, rain([prize("c2", 100, 0.5)]))
    (first,) = await draw_many(svc, aid, 1)
    # The database already holds another draw under this id (as after Redis lost data).
    impostor = DrawRecord(
        draw_id=first.draw_id,
        activity_id=aid,
        round_id=first.round_id,
        seq=1,
        user_id="someone-else",
        nonce=1,
        client_seed="",
        pick=0,
        won=False,
        prize_key=None,
        random="0" * 40,
        drawn_at_ms=1,
        stream_id="1-0",
    )
    await svc.db.draws.store([(impostor, None)])
    worker = worker_for(svc)
    await worker.drain(30)
    (dead,) = await svc.db.draws.dead_letters(activity_id=aid)
    assert dead.draw_id == first.draw_id and "collision" in dead.reason
    (kept,) = await svc.db.draws.of_user("someone-else", activity_id=aid, limit=5, before=None)
    assert kept.record.user_id == "someone-else"
    assert await svc.db.draws.count(aid) == 1
    assert (await svc.redis.streams.state(aid, "20300601:0")).pending == 0


async def test_malformed_entry_is_dead_lettered_and_acked(
    svc: Services, stack: tuple[Any, Any]
) -> None:
    aid = await published(svc, rain([prize("c2", 100, 0.5)]))
    await draw_many(svc, aid, 5)
    stream = keys.stream(aid, "20300601:0")
    await stack[0].xadd(stream, {"d": "garbage", "u": "x"})
    worker = worker_for(svc)
    await worker.drain(30)
    (dead,) = await svc.db.draws.dead_letters(activity_id=aid)
    assert dead.reason.startswith("malformed entry") and dead.stream == stream
    assert (
        worker.metrics.registry.get_sample_value(
            "redrain_worker_dead_letters_total", {"reason": "malformed entry"}
        )
        == 1
    )
    assert await svc.db.draws.count(aid) == 5
    assert (await svc.redis.streams.state(aid, "20300601:0")).pending == 0


async def test_trims_only_what_every_group_acknowledged(
    svc: Services, stack: tuple[Any, Any]
) -> None:
    client = stack[0]
    aid = await published(svc, rain([prize("c2", 100, 0.5)]))
    await draw_many(svc, aid, 30)
    stream = keys.stream(aid, "20300601:0")
    # Another consumer group (say, analytics) that has read only 10 entries.
    await client.xgroup_create(stream, "analytics", id="0")
    worker = worker_for(svc)
    await worker.drain(30)
    assert await client.xlen(stream) == 30
    got = await client.xreadgroup("analytics", "a1", {stream: ">"}, count=10)
    await client.xack(stream, "analytics", *[eid for eid, _ in got[0][1]])
    await worker.maintain()
    assert await client.xlen(stream) == 20
    rest = await client.xreadgroup("analytics", "a1", {stream: ">"}, count=100)
    await worker.maintain()
    assert await client.xlen(stream) == 20  # delivered to analytics but not acknowledged
    await client.xack(stream, "analytics", *[eid for eid, _ in rest[0][1]])
    await worker.maintain()
    assert await client.xlen(stream) == 0


async def test_retention_keeps_recent_entries_for_repair(
    svc: Services, stack: tuple[Any, Any]
) -> None:
    aid = await published(svc, rain([prize("c2", 100, 0.5)]))
    await draw_many(svc, aid, 10)
    worker = worker_for(svc, stream_retention=300)
    await worker.drain(30)
    await worker.maintain()
    assert await stack[0].xlen(keys.stream(aid, "20300601:0")) == 10


async def test_finished_round_stream_is_retired(
    make_service: ServiceFactory, stack: tuple[Any, Any]
) -> None:
    during = make_service(offset_to(local(DAY, 10, 5)))
    aid = await published(during, rain([prize("c2", 100, 0.5)]))
    await draw_many(during, aid, 10)
    await worker_for(during).drain(30)
    after = make_service(offset_to(local(DAY, 11, 5)))
    worker = worker_for(after)
    await worker.drain(30)
    await worker.maintain()
    assert await after.redis.streams.flushed_rounds(aid) == {"20300601:0"}
    assert worker.stats()["streams"] == 0
    assert await stack[0].exists(keys.stream(aid, "20300601:0")) == 0


async def test_pending_entry_deleted_before_flush_raises_alarm(
    svc: Services, stack: tuple[Any, Any]
) -> None:
    client = stack[0]
    aid = await published(svc, rain([prize("c2", 100, 0.5)]))
    await draw_many(svc, aid, 3)
    sfx = "20300601:0"
    stream = keys.stream(aid, sfx)
    await svc.redis.streams.ensure_group(aid, sfx)
    entries = await svc.redis.streams.read_new(aid, [sfx], "ghost", 3)
    await client.xdel(stream, entries[0].id)  # lost while pending
    await asyncio.sleep(0.25)
    worker = worker_for(svc)
    await worker.drain(30)
    assert worker.metrics.registry.get_sample_value("redrain_worker_deleted_pending_total") == 1
    (dead,) = await svc.db.draws.dead_letters(activity_id=aid)
    assert dead.entry_id == entries[0].id and "deleted" in dead.reason
    assert await svc.db.draws.count(aid) == 2


async def test_several_workers_while_draws_happen(svc: Services) -> None:
    aid = await published(svc, rain([prize("c2", 50, 0.5)], limits={"per_round": 3}))
    workers = [worker_for(svc, name=f"w{i}", worker_batch=37) for i in range(3)]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    results: list[DrawResult] = []
    for burst in range(5):
        results += await draw_many(svc, aid, 80, prefix=f"b{burst}-")
        await asyncio.sleep(0.05)
    for w in workers:
        w.stop()
    await asyncio.gather(*tasks)
    await workers[0].drain(30)
    assert await svc.db.draws.count(aid) == 400
    for w in workers:  # no race (e.g. acks between XINFO and XPENDING) hit a bug path
        assert w.metrics.registry.get_sample_value("redrain_worker_errors_total") == 0
    winners = await svc.db.draws.winners(aid, limit=1000)
    assert {w.record.draw_id for w in winners} == {r.draw_id for r in results if r.won}
    assert sum(w.stats()["rows"] for w in workers) == 400


async def test_discovers_activities_published_while_running(svc: Services) -> None:
    worker = worker_for(svc)
    task = asyncio.create_task(worker.run())
    aid = await published(svc, rain([prize("c2", 50, 0.5)]))
    await draw_many(svc, aid, 20)
    for _ in range(200):
        if await svc.db.draws.count(aid) == 20:
            break
        await asyncio.sleep(0.05)
    worker.stop()
    await asyncio.wait_for(task, 10)
    assert await svc.db.draws.count(aid) == 20


async def test_stop_returns_promptly(svc: Services) -> None:
    worker = worker_for(svc)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.1)
    worker.stop()
    await asyncio.wait_for(task, 5)
    assert task.done() and task.exception() is None


def test_unknown_failpoint_is_refused(svc: Services) -> None:
    with pytest.raises(ConfigError, match="unknown failpoint"):
        worker_for(svc, failpoints="after_lunch=1")


async def test_group_reads_from_the_first_entry(svc: Services, stack: tuple[Any, Any]) -> None:
    # Draws made before any worker existed are not skipped.
    aid = await published(svc, rain([prize("c2", 50, 0.5)]))
    await draw_many(svc, aid, 7)
    worker = worker_for(svc)
    await worker.drain(30)
    groups = await stack[0].xinfo_groups(keys.stream(aid, "20300601:0"))
    assert [g["name"] for g in groups] in ([GROUP.encode()], [GROUP])
    assert await svc.db.draws.count(aid) == 7


async def test_after_the_round_ends_the_rest_still_flushes(make_service: ServiceFactory) -> None:
    during = make_service(offset_to(local(DAY, 10, 5)))
    aid = await published(during, rain([prize("c2", 50, 0.5)]))
    await draw_many(during, aid, 15)
    later = make_service(offset_to(local(DAY + dt.timedelta(days=3), 12)))
    await worker_for(later).drain(30)
    assert await later.db.draws.count(aid) == 15


async def test_refused_row_is_retried_then_dead_lettered(
    make_mariadb_service: ServiceFactory, mariadb_stack: tuple[Any, Any]
) -> None:
    # MariaDB only: SQLite does not enforce column lengths, so it refuses nothing.
    make_service = make_mariadb_service
    client = mariadb_stack[0]
    svc = make_service(offset_to(local(DAY, 10, 5)))
    aid = await published(svc, rain([prize("c2", 100, 0.5)]))
    await draw_many(svc, aid, 20)
    sfx = "20300601:0"
    stream = keys.stream(aid, sfx)
    # Well-formed, but MariaDB refuses it: the user id is longer than the column.
    await client.xadd(
        stream,
        {
            "d": f"{aid}:{sfx}:9999",
            "u": "x" * 100,
            "n": "1",
            "c": "",
            "p": "0",
            "k": "",
            "w": "0",
            "x": "f" * 40,
            "t": "1",
        },
    )
    worker = worker_for(svc, worker_max_attempts=3, worker_claim_idle=0.05)
    await worker.drain(30)
    (dead,) = await svc.db.draws.dead_letters(activity_id=aid)
    assert dead.draw_id == f"{aid}:{sfx}:9999" and dead.attempts == 3
    assert dead.reason.startswith("refused 3 times")
    assert await svc.db.draws.count(aid) == 20  # the good rows of the batch were written
    assert await client.hlen(keys.failures(aid)) == 0
    # A counter a crashed worker left behind goes when the round is retired.
    await client.hset(keys.failures(aid), f"{sfx}|1-0", 1)
    later = make_service(offset_to(local(DAY, 11, 5)))
    retiring = worker_for(later)
    await retiring.drain(30)
    await retiring.maintain()
    assert await client.hlen(keys.failures(aid)) == 0
    assert await later.redis.streams.flushed_rounds(aid) == {sfx}
