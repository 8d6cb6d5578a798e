"""Redis Cluster: the publish, draw, limit, blacklist, flush, reconcile and verify
paths unchanged on a 3-master cluster started by the suite. (The HTTP
concurrency tests of tests/system/test_concurrency.py also run on it.)"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from redis.crc import key_slot

from app.domain.errors import Forbidden, LimitReached, ValidationFailed
from app.jobs.reconcile import Reconciler
from app.jobs.worker import Worker
from app.services.container import Services
from app.services.verifier import Verifier
from app.store.redis import connection as engine_conn
from app.store.redis import keys
from app.store.redis.store import RedisStore
from app.store.redis.transport import RedisTransport
from app.store.sql.database import Database
from tests.conftest import ServiceFactory, flush_cluster, settings_for
from tests.helpers import AUDIT_KEY, BY, DAY, local, offset_to, prize, rain

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DURING = offset_to(local(DAY, 10, 5))
AFTER = offset_to(local(DAY, 11, 0))


@pytest_asyncio.fixture
async def on_cluster(cluster_url: str, mariadb_url: str) -> AsyncIterator[ServiceFactory]:
    """Services as ``redrain serve --redis-cluster`` builds them: redis-py's
    RedisCluster client plus the pipelining transport in cluster mode."""
    await flush_cluster(cluster_url)
    made: list[Services] = []
    db = Database(mariadb_url, audit_key=AUDIT_KEY)

    def make(offset: float = 0.0, **kw: Any) -> Services:
        settings = settings_for(
            mariadb_url, offset, redis_url=cluster_url, redis_cluster=True, **kw
        )
        eng = RedisStore(
            engine_conn.connect(cluster_url, timeout=5, cluster=True),
            offset_ms=settings.clock_offset_ms,
            idempotency_ttl=settings.idempotency_ttl,
            fast=RedisTransport(cluster_url, timeout=5, cluster=True),
        )
        svc = Services(settings, eng, db)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        await svc.redis.close()
    await db.close()


def slot(key: str) -> int:
    return int(key_slot(key.encode()))


async def test_a_campaign_on_a_cluster(on_cluster: ServiceFactory) -> None:
    during = on_cluster(DURING, rate_limit_user=0, rate_limit_ip=0)
    aids = []
    for stock in (40, 25, 10):
        rec = await during.activities.create(
            rain([prize("c2", stock, 0.6)], limits={"per_round": 2}), BY
        )
        await during.activities.publish(rec.id, BY)
        aids.append(rec.id)
    # The activities keep their keys on three different slots.
    assert len({slot(keys.round_(aid, "20300601:0")) for aid in aids}) == 3
    users = [f"cu{i}" for i in range(150)]
    calls = [during.draws.draw(u, aid) for aid in aids for u in users for _ in range(3)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, LimitReached) for e in errors), errors[:3]
    refused = collections.Counter(e.code for e in errors if isinstance(e, LimitReached))
    drawn = [r[1] for r in results if not isinstance(r, BaseException)]
    # per_round 2: of every user's 3 taps per activity, exactly 2 draw.
    assert len(drawn) == 2 * 150 * 3 and refused == {"round_limit": 150 * 3}
    wins = collections.Counter(r.round_id.split(":")[0] for r in drawn if r.won)
    assert wins == {str(aid): stock for aid, stock in zip(aids, (40, 25, 10), strict=True)}

    after = on_cluster(AFTER)
    worker = Worker.wired(after.settings, after.redis, after.db, name="cluster-w")
    await worker.drain(60)
    for aid in aids:
        assert await after.db.draws.count(aid) == 300
    rec = Reconciler(after.redis, after.db)
    rounds, _ = await rec.ended_rounds(aids, None)
    checks = await rec.run(rounds)
    assert [c.problems() for c in checks] == [[], [], []]
    assert all(c.agrees and c.redis_draws == c.db_draws == 300 for c in checks)
    for aid in aids:
        report = await Verifier(after.db).verify(f"{aid}:20300601:0")
        assert report.ok and report.draws == 300, report.findings[:3]


async def test_rate_limits_and_blacklist_on_a_cluster(on_cluster: ServiceFactory) -> None:
    svc = on_cluster(DURING, rate_limit_user=4, rate_limit_ip=0)
    aids = []
    for _ in range(2):
        rec = await svc.activities.create(rain([prize("c2", 1000, 0.5)]), BY)
        await svc.activities.publish(rec.id, BY)
        aids.append(rec.id)
    res = await asyncio.gather(
        *[svc.draws.draw("fast", aids[0]) for _ in range(40)], return_exceptions=True
    )
    codes = collections.Counter(r.code if isinstance(r, LimitReached) else "drawn" for r in res)
    assert codes["drawn"] <= 8 and codes["drawn"] + codes["rate_limited"] == 40, codes
    # One blacklist entry reaches every activity's slot.
    await svc.guard.add("user", "cheat", "bot", BY)
    for aid in aids:
        with pytest.raises(Forbidden) as err:
            await svc.draws.draw("cheat", aid)
        assert err.value.code == "blacklisted"
    # Publishing copies the (non-empty) blacklist into the new activity's slots,
    # every bucket's too.
    rec = await svc.activities.create(rain([prize("c2", 10, 0.5)], buckets=3), BY)
    await svc.activities.publish(rec.id, BY)
    with pytest.raises(Forbidden):
        await svc.draws.draw("cheat", rec.id)
    await svc.guard.remove("user", "cheat", BY)
    assert (await svc.draws.draw("cheat", aids[1]))[1].draw_id
    assert (await svc.draws.draw("cheat", rec.id))[1].draw_id


async def test_an_idempotency_key_spans_activities_on_a_cluster(on_cluster: ServiceFactory) -> None:
    """The user's claim of a key lives in the user's own slot, each activity's
    stored answer in the activity's: one key racing on two activities held by
    different primaries draws exactly once."""
    svc = on_cluster(DURING, rate_limit_user=0, rate_limit_ip=0)
    aids = []
    for _ in range(2):
        rec = await svc.activities.create(rain([prize("c2", 100, 1.0)], buckets=2), BY)
        await svc.activities.publish(rec.id, BY)
        aids.append(rec.id)
    for i in range(10):
        user = f"idem{i}"
        res = await asyncio.gather(
            *[svc.draws.draw(user, aids[j % 2], idempotency_key="k") for j in range(8)],
            return_exceptions=True,
        )
        drawn = [r[1] for r in res if isinstance(r, tuple)]
        reused = [r for r in res if isinstance(r, ValidationFailed)]
        assert len(drawn) == len(reused) == 4, res
        assert len({d.draw_id for d in drawn}) == 1
        assert {r.code for r in reused} == {"idempotency_key_reused"}
    totals = [sum(s.draws for s in (await svc.activities.stats(aid))[1]) for aid in aids]
    assert sum(totals) == 10
