"""A configuration that would take seconds to plan is refused at every door
(preview, create, replace, publish) with a 422 naming the field; the largest
accepted one is planned in bounded work while the server keeps answering
(issue 23, item 6)."""

from __future__ import annotations

import asyncio
import time

import orjson

from app.domain.activity import ActivityConfig
from app.domain.budget import LISTED_SLICES
from tests.conftest import ServiceFactory, admin_headers
from tests.domain.test_plan_bounds import wide
from tests.http.test_http import Http, assert_error

PREVIEW = "/v1/admin/activities/preview"
# The probe of issue 23: ~20,000 rounds, 1,000 slices, 10^8 players (a 49 KB body).
PROBE = wide(sessions=96, days=208, prizes=5, slices=1000)


async def test_the_probe_is_refused_at_every_door(make_service: ServiceFactory, http: Http) -> None:
    services = make_service()
    client = http(services)
    assert len(orjson.dumps({"config": PROBE})) < 64 * 1024
    began = time.perf_counter()
    resp = await client.post(
        PREVIEW,
        json={"config": PROBE, "players": 100_000_000, "taps": 10_000},
        headers=admin_headers(),
    )
    body = assert_error(resp, 422, "validation_error")
    assert body["error"]["field"] == "config.release"
    assert time.perf_counter() - began < 5  # it took 47 s
    resp = await client.post("/v1/admin/activities", json=PROBE, headers=admin_headers())
    assert assert_error(resp, 422, "validation_error")["error"]["field"] == "release"
    small = wide(sessions=2, days=3)
    resp = await client.post("/v1/admin/activities", json=small, headers=admin_headers())
    assert resp.status_code == 201, resp.text
    aid = resp.json()["id"]
    resp = await client.put(f"/v1/admin/activities/{aid}", json=PROBE, headers=admin_headers())
    assert assert_error(resp, 422, "validation_error")["error"]["field"] == "release"
    # One stored before the bounds existed is not published (nor half-loaded).
    old = await services.db.activities.create(
        ActivityConfig.model_validate(PROBE), now=services.clock.stamp(), audit=None
    )
    resp = await client.post(f"/v1/admin/activities/{old.id}/publish", headers=admin_headers())
    assert assert_error(resp, 422, "validation_error")["error"]["field"] == "release"
    assert not await services.redis.catalogue.published_rounds(old.id)
    assert (await services.activities.get(old.id)).published_at is None


async def test_the_largest_preview_is_bounded_and_healthz_keeps_answering(
    make_service: ServiceFactory, http: Http
) -> None:
    """A preview at the bounds (a round releasing 10,000 slices, every day of
    39; 10^8 players tapping 10,000 times) is planned in a thread in bounded
    work, its listing cut at LISTED_SLICES; /healthz answers meanwhile."""
    client = http(make_service())
    data = wide(sessions=1, days=39, prizes=10, slices=1000, probability="auto")
    for p in data["sessions"][0]["pools"][0]["prizes"]:
        del p["probability"]
        p["quantity"] = 10_000
    body = {"config": data, "players": 100_000_000, "taps": 10_000}
    waits: list[float] = []

    async def poll() -> None:
        while True:
            began = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            waits.append(time.perf_counter() - began)
            await asyncio.sleep(0.01)

    poller = asyncio.create_task(poll())
    await asyncio.sleep(0.05)
    began = time.perf_counter()
    resp = await client.post(PREVIEW, json=body, headers=admin_headers())
    took = time.perf_counter() - began
    poller.cancel()
    assert resp.status_code == 200, resp.text
    plan = resp.json()
    assert plan["rounds_total"] == 39
    assert 0 < sum(len(r["slices"]) for r in plan["rounds"]) <= LISTED_SLICES
    assert len(resp.content) < 5_000_000
    # Generous: well under a second on a loaded 2-core machine.
    assert took < 10, took
    assert waits and max(waits) < 1.0, max(waits)
