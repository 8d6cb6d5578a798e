"""POST /v1/draw with "count": several draws in one request (SPEC §3), in
process on both stacks: the answer's shape, stops, bad input, replays,
metrics, and a crowd of concurrent batches counted against the ledger."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from app import metrics
from app.jobs.worker import Worker
from app.services.container import Services
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, offset_to, prize, rain
from tests.http.test_http import Http, assert_error, bearer, setup

WHEN = local(DAY, 10, 5)


async def draws_made(client: httpx.AsyncClient, aid: int) -> int:
    stats = (await client.get(f"/v1/admin/activities/{aid}/stats", headers=admin_headers())).json()
    return int(stats["rounds"][0]["draws"])


async def test_a_batch_answers_each_draw_and_what_is_left(
    make_service: ServiceFactory, http: Http
) -> None:
    cfg = rain([prize("c2", 2, 1.0)], limits={"per_round": 8, "per_day": 9})
    client, aid = await setup(make_service, http, cfg, WHEN)
    resp = await client.post(
        "/v1/draw",
        json={"activity_id": aid, "client_seed": "ten", "count": 3},
        headers=bearer("alice"),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"draws", "remaining", "stopped"}
    assert body["stopped"] is None
    assert body["remaining"] == {"round": 5, "day": 6, "total": None}
    draws = body["draws"]
    assert [d["draw_id"] for d in draws] == [f"{aid}:20300601:0:{n}" for n in (1, 2, 3)]
    assert [d["proof"]["nonce"] for d in draws] == [1, 2, 3]
    assert [d["won"] for d in draws] == [True, True, False]  # two units
    for d in draws:
        assert set(d) == {"draw_id", "round_id", "won", "prize", "proof"}
        assert d["round_id"] == f"{aid}:20300601:0"
        assert d["proof"]["client_seed"] == "ten" and len(d["proof"]["seed_hash"]) == 64
    assert draws[0]["prize"] == {"key": "c2", "type": "coupon", "name": "prize c2", "value": "V-c2"}
    assert draws[2]["prize"] is None
    # Without count, the answer is a single draw's, as ever.
    single = (
        await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("alice"))
    ).json()
    assert single["proof"]["nonce"] == 4 and "draws" not in single


async def test_a_limit_stops_the_batch_and_then_refuses(
    make_service: ServiceFactory, http: Http
) -> None:
    cfg = rain([prize("c2", 100, 0.5)], limits={"per_round": 4})
    client, aid = await setup(make_service, http, cfg, WHEN)
    resp = await client.post(
        "/v1/draw", json={"activity_id": aid, "count": 10}, headers=bearer("bob")
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert len(body["draws"]) == 4
    assert body["stopped"]["code"] == "round_limit"
    assert set(body["stopped"]) == {"code", "message"} and body["stopped"]["message"]
    assert body["remaining"]["round"] == 0
    # Not even one draw left: the refusal a single draw gets.
    resp = await client.post(
        "/v1/draw", json={"activity_id": aid, "count": 2}, headers=bearer("bob")
    )
    assert_error(resp, 429, "round_limit")
    assert await draws_made(client, aid) == 4


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": 11}, "count"),
        ({"count": "3"}, "count"),
        ({"count": 2.5}, "count"),
        ({"count": True}, "count"),
        ({"count": 4}, "count"),  # past the activity's max_count of 3
        ({"count": 2, "grant_id": "g1"}, "grant_id"),
    ],
)
async def test_bad_counts_are_422_and_change_nothing(
    make_service: ServiceFactory, http: Http, extra: dict[str, Any], field: str
) -> None:
    cfg = rain([prize("c2", 100, 0.5)], max_count=3)
    client, aid = await setup(make_service, http, cfg, WHEN)
    resp = await client.post(
        "/v1/draw", json={"activity_id": aid, **extra}, headers=bearer("carol")
    )
    body = assert_error(resp, 422)
    assert body["error"]["code"] in ("validation_error", "invalid_request"), body
    assert await draws_made(client, aid) == 0
    ok = await client.post(
        "/v1/draw", json={"activity_id": aid, "count": 3}, headers=bearer("carol")
    )
    assert ok.status_code == 200 and len(ok.json()["draws"]) == 3


async def test_the_public_rules_tell_the_page_how_many_it_may_ask_for(
    make_service: ServiceFactory, http: Http
) -> None:
    """The page reads one number, max_count: as set, 10 by default, 1 where
    draws spend grants (a grant is one draw)."""
    amount = rain(kind="amount")
    amount["sessions"][0]["pools"] = [{"amount_min": 0, "prizes": [prize("a", 10, 1.0)]}]
    client = http(make_service(offset_to(WHEN)))
    shown = []
    for cfg in (rain(max_count=4), rain(), amount):
        made = (await client.post("/v1/admin/activities", json=cfg, headers=admin_headers())).json()
        assert ("max_count" in made) == ("max_count" in cfg)  # the admin's document: as given
        await client.post(f"/v1/admin/activities/{made['id']}/publish", headers=admin_headers())
        shown.append((await client.get(f"/v1/activities/{made['id']}")).json()["max_count"])
    assert shown == [4, 10, 1]


async def test_the_key_covers_the_whole_batch(make_service: ServiceFactory, http: Http) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 100, 0.3)]), WHEN)
    h = {**bearer("dora"), "Idempotency-Key": "ten-1"}
    body = {"activity_id": aid, "client_seed": "a,b", "count": 10}
    first = await client.post("/v1/draw", json=body, headers=h)
    again = await client.post("/v1/draw", json=body, headers=h)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = await client.post("/v1/draw", json={**body, "count": 9}, headers=h)
    assert_error(other, 422, "idempotency_key_reused")
    single = await client.post(
        "/v1/draw", json={"activity_id": aid, "client_seed": "a,b"}, headers=h
    )
    assert_error(single, 422, "idempotency_key_reused")
    assert await draws_made(client, aid) == 10


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_draws_not_requests(make_service: ServiceFactory, http: Http) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 100, 0.0)]), WHEN)
    metrics.publish()
    before = _sample("redrain_draws_total", {"outcome": "lost"})
    resp = await client.post(
        "/v1/draw", json={"activity_id": aid, "count": 7}, headers=bearer("erin")
    )
    assert resp.status_code == 200
    metrics.publish()
    assert _sample("redrain_draws_total", {"outcome": "lost"}) - before == 7


@pytest.mark.slow
async def test_a_crowd_of_batches_never_oversells_nor_beats_a_limit(
    make_service: ServiceFactory, http: Http
) -> None:
    """2,000 ten-draw requests at once on one round with 40 units: 40 wins
    answered, each stored once; 100 concurrent batches of one player stop
    exactly at the per-round limit."""
    # ~74 wins expected in the 14,800 draws the limit allows: sold out midway.
    cfg = rain([prize("c2", 40, 0.005)], limits={"per_round": 37}, stop_when_sold_out=True)
    svc: Services = make_service(offset_to(WHEN))
    client = http(svc)
    made = await client.post("/v1/admin/activities", json=cfg, headers=admin_headers())
    aid = made.json()["id"]
    await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())

    async def batch(user: str, key: str | None = None) -> httpx.Response:
        h = bearer(user) | ({"Idempotency-Key": key} if key else {})
        return await client.post("/v1/draw", json={"activity_id": aid, "count": 10}, headers=h)

    sem = asyncio.Semaphore(64)

    async def bounded(user: str) -> httpx.Response:
        async with sem:
            return await batch(user)

    greedy = await asyncio.wait_for(asyncio.gather(*[batch("greedy") for _ in range(100)]), 120)
    crowd = await asyncio.wait_for(
        asyncio.gather(*[bounded(f"p{i % 400}") for i in range(2000)]), 240
    )
    answers: Counter[int] = Counter()
    won: list[str] = []
    drawn: Counter[str] = Counter()
    for i, resp in enumerate([*crowd, *greedy]):  # greedy's first: before any sold out
        answers[resp.status_code] += 1
        if resp.status_code == 200:
            user = f"p{i % 400}" if i < 2000 else "greedy"
            for d in resp.json()["draws"]:
                drawn[user] += 1
                if d["won"]:
                    won.append(d["draw_id"])
        elif resp.status_code == 503:  # refused at admission: nothing drawn
            assert resp.json()["error"]["code"] == "busy"
        else:
            assert resp.status_code in (409, 429), resp.text
    assert set(answers) <= {200, 409, 429, 503}
    assert answers[200] > 500 and answers[409] > 0  # many drawn, then sold out
    assert len(won) == len(set(won)) == 40  # sold out, never oversold
    # The greedy player's 100 concurrent batches stopped exactly at the limit.
    assert drawn["greedy"] == 37 and max(drawn.values()) <= 37
    stops = [r.json()["stopped"] for r in greedy if r.status_code == 200]
    assert [s["code"] for s in stops if s] in ([], ["round_limit"])
    await Worker.wired(svc.settings, svc.redis, svc.db, name="w").drain(60)
    stored = []
    async for rows in svc.draws.all_winners(aid, round_id=None):
        stored += [r.record.draw_id for r in rows]
    assert sorted(stored) == sorted(won)
    assert await svc.db.draws.count(aid) == sum(drawn.values())
