"""count and amount activities, and grants (SPEC §1, §3), on both stacks."""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from typing import Any

import pytest

from app.domain.errors import Conflict, NotFound, ValidationFailed
from app.services.container import Services
from app.services.verifier import Verifier
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import BY, DAY, local, offset_to, prize, rain
from tests.http.test_http import Http, bearer
from tests.jobs.test_worker import worker_for


def levels(n: int, **extra: Any) -> dict[str, Any]:
    """A count activity: level k always wins prize "l<k>"."""
    cfg = rain(kind="count", **extra)
    pool = cfg["sessions"][0]["pools"][0]
    cfg["sessions"][0]["pools"] = []
    for k in range(1, n + 1):
        p = copy.deepcopy(pool)
        p["nth"] = k
        p["prizes"] = [prize(f"l{k}", 1000, 1.0)]
        cfg["sessions"][0]["pools"].append(p)
    return cfg


def bands(**extra: Any) -> dict[str, Any]:
    """An amount activity: [0,100) wins "a", [100,200) "b", 200 and above "c"."""
    cfg = rain(kind="amount", **extra)
    s = cfg["sessions"][0]
    s["pools"] = [
        {"amount_min": 0, "amount_max": 100, "prizes": [prize("a", 1000, 1.0)]},
        {"amount_min": 100, "amount_max": 200, "prizes": [prize("b", 1000, 1.0)]},
        {"amount_min": 200, "prizes": [prize("c", 1000, 1.0)]},
    ]
    return cfg


async def published(svc: Services, cfg: dict[str, Any]) -> int:
    rec = await svc.activities.create(cfg, BY)
    await svc.activities.publish(rec.id, BY)
    return rec.id


@pytest.fixture
def svc(make_service: ServiceFactory) -> Services:
    return make_service(offset_to(local(DAY, 10, 5)))


async def test_count_levels_in_order_then_refused(svc: Services) -> None:
    aid = await published(svc, levels(3))
    keys = [(await svc.draws.draw("climber", aid))[1].prize.key for _ in range(3)]  # type: ignore[union-attr]
    assert keys == ["l1", "l2", "l3"]
    with pytest.raises(Conflict) as err:
        await svc.draws.draw("climber", aid)
    assert err.value.code == "no_more_levels"
    assert (await svc.draws.draw("other", aid))[1].prize.key == "l1"  # type: ignore[union-attr]


async def test_count_repeat_last_level(svc: Services) -> None:
    aid = await published(svc, levels(2, after_last_pool="repeat_last"))
    keys = [(await svc.draws.draw("u", aid))[1].prize.key for _ in range(4)]  # type: ignore[union-attr]
    assert keys == ["l1", "l2", "l2", "l2"]


async def test_count_levels_span_rounds(make_service: ServiceFactory) -> None:
    cfg = levels(3)
    cfg["sessions"].append(copy.deepcopy(cfg["sessions"][0]))
    cfg["sessions"][0]["start"], cfg["sessions"][0]["end"] = "10:00:00", "10:30:00"
    cfg["sessions"][1]["start"], cfg["sessions"][1]["end"] = "12:00:00", "12:30:00"
    aid = await published(make_service(), cfg)
    morning, noon = (
        make_service(offset_to(local(DAY, 10, 5))),
        make_service(offset_to(local(DAY, 12, 5))),
    )
    assert (await morning.draws.draw("u", aid))[1].prize.key == "l1"  # type: ignore[union-attr]
    assert (await noon.draws.draw("u", aid))[1].prize.key == "l2"  # type: ignore[union-attr]


async def test_concurrent_draws_of_one_user_never_skip_or_reuse_a_level(svc: Services) -> None:
    aid = await published(svc, levels(5))
    res = await asyncio.gather(
        *[svc.draws.draw("racer", aid) for _ in range(40)], return_exceptions=True
    )
    won = [r[1].prize.key for r in res if not isinstance(r, BaseException)]  # type: ignore[union-attr]
    refused = [r for r in res if isinstance(r, Conflict)]
    assert sorted(won) == ["l1", "l2", "l3", "l4", "l5"]
    assert len(refused) == 35 and {r.code for r in refused} == {"no_more_levels"}


async def test_amount_bands_at_the_edges(svc: Services) -> None:
    aid = await published(svc, bands())
    expected = {0: "a", 99: "a", 100: "b", 199: "b", 200: "c", 10**9: "c"}
    for amount, key in expected.items():
        grant, _ = await svc.grants.create(aid, "payer", amount, f"order-{amount}")
        _, res = await svc.draws.draw("payer", aid, grant_id=grant.id)
        assert res.prize is not None and res.prize.key == key, amount


async def test_amount_below_every_band_is_refused_and_keeps_the_grant(svc: Services) -> None:
    cfg = bands()
    cfg["sessions"][0]["pools"][0]["amount_min"] = 50
    aid = await published(svc, cfg)
    grant, _ = await svc.grants.create(aid, "small", 10, "tiny-order")
    with pytest.raises(Conflict) as err:
        await svc.draws.draw("small", aid, grant_id=grant.id)
    assert err.value.code == "no_pool"
    assert await svc.grants.state(grant) == (False, None)


async def test_grant_is_spent_exactly_once_under_concurrency(svc: Services) -> None:
    aid = await published(svc, bands())
    grant, _ = await svc.grants.create(aid, "double", 150, "order-double")
    res = await asyncio.gather(
        *[svc.draws.draw("double", aid, grant_id=grant.id) for _ in range(50)],
        return_exceptions=True,
    )
    ok = [r for r in res if not isinstance(r, BaseException)]
    used = [r for r in res if isinstance(r, Conflict) and r.code == "grant_used"]
    assert len(ok) == 1 and len(used) == 49
    assert await svc.grants.state(grant) == (True, ok[0][1].draw_id)


async def test_grants_are_idempotent_by_reference_and_private(svc: Services) -> None:
    aid = await published(svc, bands())
    first, created = await svc.grants.create(aid, "alice", 120, "ref-1")
    again, created_again = await svc.grants.create(aid, "alice", 120, "ref-1")
    assert created and not created_again and again.id == first.id
    with pytest.raises(Conflict) as err:
        await svc.grants.create(aid, "alice", 999, "ref-1")
    assert err.value.code == "reference_conflict"
    with pytest.raises(NotFound) as nf:
        await svc.draws.draw("mallory", aid, grant_id=first.id)  # another user's grant
    assert nf.value.code == "grant_not_found"
    with pytest.raises(NotFound):
        await svc.draws.draw("alice", aid, grant_id="gnosuchgrant")
    # The retried reference did not reset anything: alice can still spend it once.
    assert (await svc.draws.draw("alice", aid, grant_id=first.id))[1].prize.key == "b"  # type: ignore[union-attr]
    again, _ = await svc.grants.create(aid, "alice", 120, "ref-1")
    assert await svc.grants.state(again) == (True, f"{aid}:20300601:0:1")


async def test_grant_rules_per_kind(svc: Services) -> None:
    amount_id = await published(svc, bands())
    time_id = await published(svc, rain([prize("c2", 10, 0.5)]))
    gated = await published(svc, levels(2, require_grant=True))
    with pytest.raises(ValidationFailed, match="grant_id"):
        await svc.draws.draw("u", amount_id)
    with pytest.raises(ValidationFailed, match="grant_id"):
        await svc.draws.draw("u", time_id, grant_id="gabc")
    with pytest.raises(ValidationFailed, match="activity_id"):
        await svc.grants.create(time_id, "u", 1, "t-1")  # a time activity takes none
    with pytest.raises(ValidationFailed, match="user_id"):
        await svc.grants.create(amount_id, "bad id", 1, "t-2")
    # A count activity gated by grants: a chance per grant, levels in order.
    g1, _ = await svc.grants.create(gated, "u", 0, "quiz-1")
    g2, _ = await svc.grants.create(gated, "u", 0, "quiz-2")
    assert (await svc.draws.draw("u", gated, grant_id=g1.id))[1].prize.key == "l1"  # type: ignore[union-attr]
    assert (await svc.draws.draw("u", gated, grant_id=g2.id))[1].prize.key == "l2"  # type: ignore[union-attr]


async def test_a_count_activity_takes_a_grant_without_requiring_one(
    make_service: ServiceFactory,
) -> None:
    """SPEC §3: a grant is one draw chance for an amount (or count) activity.
    Without require_grant a count draw may spend one or not; each verifies."""
    during = make_service(offset_to(local(DAY, 10, 5)))
    aid = await published(during, levels(3))
    g, created = await during.grants.create(aid, "u", 0, "level-up-1")
    assert created
    got = (await during.draws.draw("u", aid, grant_id=g.id))[1]
    assert got.prize is not None and got.prize.key == "l1"
    with pytest.raises(Conflict, match="grant"):
        await during.draws.draw("u", aid, grant_id=g.id)
    plain = (await during.draws.draw("u", aid))[1]  # no grant: still the next level
    assert plain.prize is not None and plain.prize.key == "l2"
    assert await during.grants.state(g) == (True, got.draw_id)
    after = make_service(offset_to(local(DAY, 11, 5)))
    await worker_for(after).drain(30)
    report = await Verifier(after.db).verify(f"{aid}:20300601:0")
    assert report.ok and report.draws == 2, report.findings


async def test_grants_and_kinds_over_http(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service(offset_to(local(DAY, 10, 5))))
    aid = (await client.post("/v1/admin/activities", json=bands(), headers=admin_headers())).json()[
        "id"
    ]
    await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
    body = {"user_id": "hu", "activity_id": aid, "amount": 250, "reference": "http-1"}
    first = await client.post("/v1/grants", json=body, headers=admin_headers())
    again = await client.post("/v1/grants", json=body, headers=admin_headers())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["grant_id"] == again.json()["grant_id"] and first.json()["used"] is False
    gid = first.json()["grant_id"]
    assert (await client.post("/v1/grants", json=body, headers=bearer("hu"))).status_code == 403
    bad = {**body, "amount": -1, "reference": "http-2"}
    assert (await client.post("/v1/grants", json=bad, headers=admin_headers())).status_code == 422
    # A client can never send an amount or a prize.
    for extra in ({"amount": 10**6}, {"prize": "c"}):
        r = await client.post(
            "/v1/draw", json={"activity_id": aid, "grant_id": gid, **extra}, headers=bearer("hu")
        )
        assert r.status_code == 422
    other = await client.post(
        "/v1/draw", json={"activity_id": aid, "grant_id": gid}, headers=bearer("eve")
    )
    assert other.status_code == 404 and other.json()["error"]["code"] == "grant_not_found"
    ok = await client.post(
        "/v1/draw", json={"activity_id": aid, "grant_id": gid}, headers=bearer("hu")
    )
    assert ok.status_code == 200 and ok.json()["prize"]["key"] == "c"
    used = await client.post(
        "/v1/draw", json={"activity_id": aid, "grant_id": gid}, headers=bearer("hu")
    )
    assert used.status_code == 409 and used.json()["error"]["code"] == "grant_used"
    state = (await client.post("/v1/grants", json=body, headers=admin_headers())).json()
    assert state["used"] is True and state["draw_id"] == ok.json()["draw_id"]
    counts = Counter(p["key"] for p in [ok.json()["prize"]])
    assert counts == {"c": 1}
