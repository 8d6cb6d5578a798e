"""The outbound fulfilment hook against a real local webhook receiver, and the
notifications a win sends."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import Counter
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import update

from app.jobs.fulfilment import Fulfiller
from app.jobs.worker import Worker
from app.services.container import Services
from app.store.sql.models import DrawRow
from app.upstream.webhook import Webhook
from tests.conftest import ServiceFactory
from tests.helpers import BY, DAY, local, offset_to, prize, rain
from tests.stubs import http_stub

pytestmark = pytest.mark.integration  # a real loopback HTTP receiver


SECRET = b"webhook-secret"


async def wins(svc: Services, n: int = 6) -> tuple[int, list[str]]:
    """``n`` won draws of a new activity by users ``<activity>-w<i>``, flushed."""
    rec = await svc.activities.create(rain([prize("c2", 100, 1.0, value="CPN-2")]), BY)
    await svc.activities.publish(rec.id, BY)
    results = [(await svc.draws.draw(f"{rec.id}-w{i}", rec.id))[1] for i in range(n)]
    await Worker.wired(svc.settings, svc.redis, svc.db, name="f").drain(30)
    return rec.id, [r.draw_id for r in results]


async def statuses(svc: Services, aid: int) -> dict[str, str | None]:
    return {w.record.draw_id: w.fulfilment for w in await svc.db.draws.winners(aid, limit=100)}


class Clock:
    def __init__(self) -> None:
        self.ms = 1_900_000_000_000

    def __call__(self) -> int:
        return self.ms


@pytest_asyncio.fixture
async def svc(make_service: ServiceFactory) -> Services:
    s = make_service(offset_to(local(DAY, 10, 5)))
    # The database is shared by the session: wins other tests left pending
    # (hundreds, after the concurrency tests) would be due before these.
    async with s.db.session() as session:
        await session.execute(
            update(DrawRow).where(DrawRow.fulfilment == "won").values(fulfilment="granted")
        )
    return s


async def test_wins_are_granted_through_a_signed_webhook(svc: Services) -> None:
    aid, ids = await wins(svc)
    assert set((await statuses(svc, aid)).values()) == {"won"}
    with http_stub(lambda *_: (200, b"{}")) as (url, seen):
        hook = Webhook(url, SECRET, timeout=2)
        await Fulfiller(svc.db.fulfilment, hook, max_attempts=3, now_ms=Clock()).run_once()
        await hook.aclose()
    assert set((await statuses(svc, aid)).values()) == {"granted"}
    mine = [r for r in seen if r["headers"]["x-redrain-delivery"] in ids]
    assert sorted(r["headers"]["x-redrain-delivery"] for r in mine) == sorted(ids)
    for r in mine:
        t, v1 = (part.split("=", 1)[1] for part in r["headers"]["x-redrain-signature"].split(","))
        expected = hmac.new(SECRET, f"{t}.".encode() + r["body"], hashlib.sha256).hexdigest()
        assert hmac.compare_digest(v1, expected)
        event = json.loads(r["body"])
        assert event["event"] == "prize_won" and event["prize"]["value"] == "CPN-2"


async def test_failures_are_retried_then_given_up(svc: Services) -> None:
    aid, ids = await wins(svc, 2)
    calls: Counter[str] = Counter()

    def flaky(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        draw = headers["x-redrain-delivery"]
        calls[draw] += 1
        if draw == ids[0] and calls[draw] < 3:
            return 503, b"{}"  # twice down, then fine
        return (500, b"{}") if draw == ids[1] else (200, b"{}")  # ids[1] never works

    clock = Clock()
    with http_stub(flaky) as (url, _):
        hook = Webhook(url, SECRET, timeout=2)
        f = Fulfiller(svc.db.fulfilment, hook, max_attempts=4, now_ms=clock)
        for _ in range(6):
            await f.run_once()
            clock.ms += 10 * 60_000  # past any backoff
        await hook.aclose()
    st = await statuses(svc, aid)
    assert st[ids[0]] == "granted" and calls[ids[0]] == 3
    assert st[ids[1]] == "grant_failed" and calls[ids[1]] == 4


async def test_a_refusal_is_final_and_backoff_is_respected(svc: Services) -> None:
    aid, ids = await wins(svc, 2)

    def answer(status: int, only: list[str]) -> Any:
        def handle(
            method: str, path: str, headers: dict[str, str], body: bytes
        ) -> tuple[int, bytes]:
            return (status, b"{}") if headers["x-redrain-delivery"] in only else (200, b"{}")

        return handle

    with http_stub(answer(400, ids)) as (url, seen):
        hook = Webhook(url, SECRET, timeout=2)
        await Fulfiller(svc.db.fulfilment, hook, max_attempts=5, now_ms=Clock()).run_once()
        await hook.aclose()
    assert set((await statuses(svc, aid)).values()) == {"grant_failed"}
    assert sum(1 for r in seen if r["headers"]["x-redrain-delivery"] in ids) == 2
    aid2, ids2 = await wins(svc, 1)
    clock = Clock()
    with http_stub(answer(502, ids2)) as (url, seen):
        hook = Webhook(url, SECRET, timeout=2)
        f = Fulfiller(svc.db.fulfilment, hook, max_attempts=5, now_ms=clock)

        def tries() -> int:
            return sum(1 for r in seen if r["headers"]["x-redrain-delivery"] in ids2)

        await f.run_once()
        await f.run_once()  # too early: the retry waits for its backoff
        assert tries() == 1
        clock.ms += 5_000
        await f.run_once()
        assert tries() == 2
        await hook.aclose()
    assert set((await statuses(svc, aid2)).values()) == {"won"}


async def test_racing_fulfillers_deliver_each_win_once(svc: Services) -> None:
    aid, ids = await wins(svc, 12)
    with http_stub(lambda *_: (200, b"{}")) as (url, seen):
        hooks = [Webhook(url, SECRET, timeout=2) for _ in range(3)]
        clock = Clock()
        await asyncio.gather(
            *[
                Fulfiller(svc.db.fulfilment, h, max_attempts=3, now_ms=clock).run_once()
                for h in hooks
            ]
        )
        for h in hooks:
            await h.aclose()
    delivered = Counter(r["headers"]["x-redrain-delivery"] for r in seen)
    assert {d: delivered[d] for d in ids} == dict.fromkeys(ids, 1)
    assert set((await statuses(svc, aid)).values()) == {"granted"}


async def test_a_win_notifies_its_user_once(svc: Services) -> None:
    aid, ids = await wins(svc, 1)
    user = f"{aid}-w0"
    notes: list[Any] = await svc.account.notifications(user, 10, None)
    assert [(n.kind, n.ref) for n in notes] == [("prize_won", ids[0])]
    assert notes[0].payload["prize"]["value"] == "CPN-2"
    # Re-driving the row (reconcile --repair after a deletion) does not notify twice.
    await svc.db.draws.delete(ids)
    from app.jobs.reconcile import Reconciler

    later = svc  # the round is still open: re-drive through the repair path directly
    rec = Reconciler(later.redis, later.db)
    rt = await later.runtimes.get(aid)
    check = await rec.check(rt.timeline.rounds[0])
    fixed = await rec.repair(rt.timeline.rounds[0], check)
    assert fixed.repaired == 1
    assert len(await svc.account.notifications(user, 10, None)) == 1


async def test_worker_runs_the_hook(make_service: ServiceFactory) -> None:
    with http_stub(lambda *_: (200, b"{}")) as (url, seen):
        svc = make_service(offset_to(local(DAY, 10, 5)), webhook_url=url, webhook_secret="s" * 20)
        rec = await svc.activities.create(rain([prize("c2", 100, 1.0)]), BY)
        await svc.activities.publish(rec.id, BY)
        ids = [(await svc.draws.draw(f"{rec.id}-h{i}", rec.id))[1].draw_id for i in range(3)]
        worker = Worker.wired(svc.settings, svc.redis, svc.db, name="hooked")
        task = asyncio.create_task(worker.run())

        def delivered() -> set[str]:
            return {r["headers"]["x-redrain-delivery"] for r in seen} & set(ids)

        for _ in range(200):
            if len(delivered()) == 3:
                break
            await asyncio.sleep(0.05)
        worker.stop()
        await asyncio.wait_for(task, 10)
    assert delivered() == set(ids)
    assert set((await statuses(svc, rec.id)).values()) == {"granted"}
