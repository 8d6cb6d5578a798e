"""Per-process caches stay bounded over a long campaign (issue 23, item 8):
the draw-call cache, the runtime cache and its loading map, the flush
worker's flushed rounds, and the per-activity series of /metrics. Each test
plays many rounds (and versions, and activities) and checks the sizes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from app import metrics
from app.domain.activity import parse_config
from app.domain.errors import NotFound
from app.domain.runtime import compile_runtime
from app.http.fastpath import perform_draw
from app.jobs.worker import Worker
from app.services import runtimes
from app.services.container import Services
from app.store.redis import draw as draw_store
from tests.conftest import ServiceFactory
from tests.helpers import BY, DAY, local, offset_to, prize, rain
from tests.http.test_http import bearer

DAYS = 12
SESSIONS = [("10:00:00", "10:01:00"), ("20:00:00", "20:01:00")]  # 24 rounds in 12 days


def move(svc: Services, when: dt.datetime) -> None:
    """Campaign time for the services, their Redis scripts and a worker on them."""
    offset = round(offset_to(when) * 1000)
    svc.clock.offset_ms = offset
    svc.redis.offset = str(offset)


async def published(svc: Services, cfg: dict[str, Any]) -> int:
    rec = await svc.activities.create(cfg, BY)
    await svc.activities.publish(rec.id, BY)
    return rec.id


def campaign(buckets: int = 2) -> dict[str, Any]:
    return rain(
        [prize("c2", 1000, 0.5)],
        sessions=SESSIONS,
        end=DAY + dt.timedelta(days=DAYS - 1),
        buckets=buckets,
    )


def round_times() -> list[dt.datetime]:
    return [
        local(DAY + dt.timedelta(days=d), int(start[:2]), 0, 20)
        for d in range(DAYS)
        for start, _ in SESSIONS
    ]


async def test_draw_calls_and_runtimes_stay_bounded_over_many_rounds(
    make_service: ServiceFactory,
) -> None:
    """24 rounds × 2 buckets drawn in one process: the draw-call cache holds
    the live round's calls (one per bucket), not every round's."""
    svc = make_service(offset_to(local(DAY, 9)))
    aid = await published(svc, campaign())
    most = 0
    for when in round_times():
        move(svc, when)
        for u in range(6):  # users of both buckets
            _, result = await svc.draws.draw(f"u{u}", aid)
            assert result.round_id.startswith(f"{aid}:")
        most = max(most, svc.redis.draws.cached())
    assert most <= 2  # 48 without eviction
    assert svc.runtimes.sizes() == {"runtimes": 1, "loading": 0, "sold_out": 0}


def test_draw_calls_of_old_versions_and_rounds_are_dropped(
    make_service: ServiceFactory,
) -> None:
    """Built directly from runtimes: each new version drops the previous one's
    calls, each later round the earlier rounds'; many activities meet the cap."""
    svc = make_service()
    draws = svc.redis.draws
    base = compile_runtime(1, 1, parse_config(campaign(buckets=4)).model_dump_json())
    for version in range(1, 6):
        rt = dataclasses.replace(base, version=version)
        for rnd in rt.timeline.rounds:
            for b in range(4):
                draws.prepared(rt, rnd, b)
            assert draws.cached() <= 4
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(draw_store, "MAX_CALLS", 50)
        for aid in range(2, 200):
            other = dataclasses.replace(base, id=aid)
            draws.prepared(other, other.timeline.rounds[0], 0)
            assert draws.cached() <= 50


async def test_unknown_activities_leave_no_trace(make_service: ServiceFactory) -> None:
    """Draws for 300 activity ids that do not exist: no loading entry, no
    runtime, no /metrics series per id (any client can send any id)."""
    svc = make_service()
    before = metrics.labeled_activities()
    for aid in range(900_000, 900_300):
        body = f'{{"activity_id": {aid}}}'.encode()
        with pytest.raises(NotFound):
            await perform_draw(svc, bearer("x")["Authorization"], None, body)
    assert svc.runtimes.sizes()["loading"] == 0
    assert svc.runtimes.sizes()["runtimes"] == 0
    assert metrics.labeled_activities() == before
    assert b'activity="900123"' not in metrics.exposition(metrics.Snapshot([], []))


async def test_the_runtime_cache_keeps_the_most_recent_activities(
    make_service: ServiceFactory,
) -> None:
    svc = make_service(offset_to(local(DAY, 10, 5)))
    ids = [await published(svc, rain([prize("c2", 100, 0.5)])) for _ in range(5)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runtimes, "MAX_RUNTIMES", 3)
        for aid in ids + ids:  # each evicted one compiles again when drawn in
            await svc.draws.draw("u1", aid)
            assert svc.runtimes.sizes()["runtimes"] <= 3


def test_metrics_keep_series_for_the_most_recent_activities() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metrics, "MAX_LABELED_ACTIVITIES", 20)
        for aid in range(800_000, 800_100):
            for outcome in ("won", "lost", "round_limit"):
                metrics.count_activity(aid, outcome)
            assert metrics.labeled_activities() <= 20
        metrics.publish()
        text = metrics.exposition(metrics.Snapshot([], []))
        assert b'activity="800099"' in text and b'activity="800000"' not in text
        assert metrics.activity_outcomes(800_099) == {"won": 1, "lost": 1, "round_limit": 1}


async def test_the_workers_flushed_rounds_stay_bounded(make_service: ServiceFactory) -> None:
    """24 rounds × 2 buckets flushed and retired by one worker: it remembers
    a mark per activity, not every flushed lane; every draw is stored once."""
    svc = make_service(offset_to(local(DAY, 9)))
    aid = await published(svc, campaign())
    values = {"worker_claim_idle": 0.2, "stream_retention": 0}
    worker = Worker.wired(svc.settings.model_copy(update=values), svc.redis, svc.db, name="w1")
    most = 0
    for when in round_times():
        move(svc, when)
        for u in range(4):
            await svc.draws.draw(f"u{u}", aid)
        await worker.drain(30)
        move(svc, when + dt.timedelta(minutes=2))  # past the round's end and the grace
        await worker.maintain()
        await worker.discover()
        f = worker.following
        most = max(most, len(f.flushed.lanes(aid) or ()), len(f.tracked))
    assert most <= 4  # 48 lanes without the mark
    assert await svc.db.draws.count(aid) == 4 * len(round_times())
    assert len(await svc.redis.streams.flushed_rounds(aid)) == 2 * len(round_times())
