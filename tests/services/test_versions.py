"""A new version of a started activity changes only the rounds that have not
started (SPEC §3): the started ones keep the version they were drawn with, in
Redis, in every process's runtime, in the database and in ``redrain verify``."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from app.jobs.reconcile import Reconciler
from app.jobs.worker import Worker
from app.services.container import Services
from app.services.verifier import Verifier
from app.store.sql.models import ActivityVersionRow, RoundRow
from tests.conftest import ServiceFactory
from tests.helpers import BY, DAY, local, offset_to, prize, rain

NEXT = DAY + dt.timedelta(days=1)
V1 = [prize("c2", 10, 1.0)]  # every draw wins c2
V2 = [prize("c2", 10, 0.0), prize("gold", 3, 1.0, name={"en": "Gold", "zh-CN": "金"})]


def at(make: ServiceFactory, when: dt.datetime) -> Services:
    return make(offset_to(when))


async def won(svc: Services, aid: int, user: str) -> tuple[str, str | None]:
    _, res = await svc.draws.draw(user, aid)
    return res.round_id, res.prize.key if res.prize else None


async def versions_in_db(svc: Services, aid: int) -> dict[str, int | None]:
    async with svc.db.session() as s:
        rows = await s.execute(
            select(RoundRow.id, RoundRow.version).where(RoundRow.activity_id == aid)
        )
        return {rid.partition(":")[2]: v for rid, v in rows}


async def test_started_rounds_keep_their_version_and_verify(
    make_service: ServiceFactory, http: Callable[[Services], httpx.AsyncClient]
) -> None:
    during = at(make_service, local(DAY, 10, 5))
    rec = await during.activities.create(rain(V1, end=NEXT), BY)
    await during.activities.publish(rec.id, BY)
    aid = rec.id
    assert await won(during, aid, "alice") == (f"{aid}:20300601:0", "c2")

    changed = rain(V2, end=NEXT, release={"slices": 2})
    assert (await during.activities.replace(aid, changed, BY)).version == 2
    done = await during.activities.publish(aid, BY)
    assert (done.version, done.loaded, done.kept) == (2, 1, 1)
    assert await versions_in_db(during, aid) == {"20300601:0": 1, "20300602:0": 2}

    # A process that compiles the activity afresh draws each round by its version.
    fresh = at(make_service, local(DAY, 10, 6))
    assert await won(fresh, aid, "bob") == (f"{aid}:20300601:0", "c2")
    rt = await fresh.runtimes.get(aid)
    assert (rt.version, rt.version_of("20300601:0"), rt.version_of("20300602:0")) == (2, 1, 2)
    assert [p.key for p in rt.round("20300601:0").prizes] == ["c2"]  # type: ignore[union-attr]
    tomorrow = at(make_service, local(NEXT, 10, 30))
    assert await won(tomorrow, aid, "carol") == (f"{aid}:20300602:0", "gold")
    _, stats = await tomorrow.activities.stats(aid, "20300602:0")
    assert {p.key: p.quantity for p in stats[0].prizes} == {"c2": 10, "gold": 3}

    # The game shows the prizes of the round it plays; the round page and
    # /verify read each round's own pools.
    today = (await http(fresh).get(f"/v1/activities/{aid}")).json()
    assert [p["key"] for p in today["sessions"][0]["pools"][0]["prizes"]] == ["c2"]
    client = http(tomorrow)
    later = (await client.get(f"/v1/activities/{aid}")).json()
    assert [p["key"] for p in later["sessions"][0]["pools"][0]["prizes"]] == ["c2", "gold"]
    first = (await client.get(f"/v1/rounds/{aid}:20300601:0")).json()
    assert first["version"] == 1 and [p["key"] for p in first["prizes"]] == ["c2"]
    assert first["pools"][0]["prizes"][0]["probability"] == 1.0
    second = (await client.get(f"/v1/rounds/{aid}:20300602:0")).json()
    assert second["version"] == 2 and [p["key"] for p in second["pools"][0]["prizes"]] == [
        "c2",
        "gold",
    ]

    after = at(make_service, local(NEXT, 11, 30))
    await Worker.wired(after.settings, after.redis, after.db, name="v").drain(60)
    for rid, draws in ((f"{aid}:20300601:0", 2), (f"{aid}:20300602:0", 1)):
        report = await Verifier(after.db).verify(rid)
        assert report.ok and report.draws == draws, report.findings[:3]
    # reconcile compares each round with its own version's prizes.
    rec_ = Reconciler(after.redis, after.db)
    rt = await after.runtimes.get(aid)
    for rnd in rt.timeline.rounds:
        check = await rec_.check(rnd)
        assert check.agrees, check.problems


async def test_a_round_about_to_start_keeps_its_version(make_service: ServiceFactory) -> None:
    """Published less than two minutes before a round opens, a new version
    takes the rounds after it: API processes switch only once the publish is
    written, and a round must not open half in each version."""
    early = at(make_service, local(DAY, 9, 59))
    rec = await early.activities.create(rain(V1, end=NEXT), BY)
    await early.activities.publish(rec.id, BY)
    await early.activities.replace(rec.id, rain(V2, end=NEXT), BY)
    done = await early.activities.publish(rec.id, BY)
    assert (done.loaded, done.kept) == (2, 0)  # both rewritten: the first with what it had
    assert await versions_in_db(early, rec.id) == {"20300601:0": 1, "20300602:0": 2}
    assert await won(at(make_service, local(DAY, 10, 1)), rec.id, "dan") == (
        f"{rec.id}:20300601:0",
        "c2",
    )
    # Names change everywhere: the kept round shows the newest version's.
    renamed: dict[str, Any] = rain([prize("c2", 10, 0.0, name="Coupon, renamed"), V2[1]], end=NEXT)
    later = at(make_service, local(DAY, 10, 2))
    await later.activities.replace(rec.id, renamed, BY)
    await later.activities.publish(rec.id, BY)
    rt = await at(make_service, local(DAY, 10, 3)).runtimes.get(rec.id)
    kept = rt.round("20300601:0")
    assert kept is not None and [(p.key, p.name, p.ppb) for p in kept.prizes] == [
        ("c2", "Coupon, renamed", 1_000_000_000)
    ]
    async with later.db.session() as s:
        stored = set(
            await s.scalars(
                select(ActivityVersionRow.version).where(ActivityVersionRow.activity_id == rec.id)
            )
        )
    assert stored == {1, 2, 3}


async def test_a_publish_during_a_rain_leaves_the_open_round_alone(
    make_service: ServiceFactory,
) -> None:
    """200 draws in the open round while a version that makes gold the only
    winner is published: not one draw of the open round sees it, the draws
    are all answered, and the round verifies against its own version."""
    during = at(make_service, local(DAY, 10, 5))
    rec = await during.activities.create(rain([prize("c2", 50, 0.5)], end=NEXT), BY)
    await during.activities.publish(rec.id, BY)
    await during.activities.replace(rec.id, rain(V2, end=NEXT), BY)

    async def draw(i: int) -> str | None:
        _, res = await at(make_service, local(DAY, 10, 5)).draws.draw(f"u{i}", rec.id)
        return res.prize.key if res.prize else None

    outcomes = await asyncio.gather(
        *(draw(i) for i in range(100)),
        during.activities.publish(rec.id, BY),
        *(draw(i) for i in range(100, 200)),
    )
    published = outcomes.pop(100)
    assert (published.loaded, published.kept) == (1, 1)  # type: ignore[union-attr]
    assert set(outcomes) <= {"c2", None} and "c2" in outcomes
    after = at(make_service, local(NEXT, 11, 30))
    await Worker.wired(after.settings, after.redis, after.db, name="v").drain(60)
    report = await Verifier(after.db).verify(f"{rec.id}:20300601:0")
    assert report.ok and report.draws == 200, report.findings[:3]
