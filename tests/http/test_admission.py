"""Admission control (docs/api.md, 503 busy): past its bound a worker refuses
a draw at once, consuming nothing; the health and metrics routes stay served."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx

from app.http.admission import WINDOW, Admission
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, prize, rain
from tests.http.test_http import Http, assert_error, bearer, setup


def admission_of(client: httpx.AsyncClient) -> Admission:
    app: Any = client._transport.app  # type: ignore[attr-defined]
    adm: Admission = app.state.admission
    return adm


def busy_count(scrape: str) -> float:
    """redrain_draws_total{outcome="busy"} (the registry is the process's)."""
    m = re.search(r'^redrain_draws_total\{outcome="busy"\} (\S+)$', scrape, re.M)
    return float(m.group(1)) if m else 0.0


async def test_past_the_bound_a_draw_is_503_busy_and_consumes_nothing(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 5, 1.0)]), local(DAY, 10, 5))
    adm = admission_of(client)
    held = adm.limit
    before = busy_count((await client.get("/metrics")).text)
    adm.in_flight = held  # as if that many draws were waiting on Redis
    resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("p1"))
    body = assert_error(resp, 503, "busy")
    assert resp.headers["retry-after"] == "1"
    assert set(body["error"]) == {"code", "message"}
    assert (await client.get("/healthz")).status_code == 200
    assert busy_count((await client.get("/metrics")).text) == before + 1
    stats = (await client.get(f"/v1/admin/activities/{aid}/stats", headers=admin_headers())).json()
    assert stats["rounds"][0]["draws"] == 0  # nothing consumed
    assert adm.in_flight == held  # a refusal never counts itself in flight

    adm.in_flight = 0
    resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("p1"))
    assert resp.status_code == 200 and resp.json()["won"]
    assert adm.in_flight == 0  # released once answered


async def test_a_failed_draw_leaves_no_slot_taken(make_service: ServiceFactory, http: Http) -> None:
    client, aid = await setup(make_service, http, rain(), local(DAY, 10, 5))
    adm = admission_of(client)
    resp = await client.post("/v1/draw", content=b"{", headers=bearer("p1"))
    assert_error(resp, 400, "invalid_json")
    resp = await client.post("/v1/draw", json={"activity_id": aid}, headers={})
    assert_error(resp, 401)
    assert adm.in_flight == 0


async def test_the_concurrency_bound() -> None:
    adm = Admission(concurrency=2, lag_budget=0, retry_after=1)
    assert adm.admit() and adm.admit()
    assert not adm.admit()
    adm.done()
    assert adm.admit()
    unbounded = Admission(concurrency=0, lag_budget=0, retry_after=1)
    assert all(unbounded.admit() for _ in range(10_000))


async def test_a_standing_loop_lag_refuses_and_a_single_stall_does_not() -> None:
    adm = Admission(concurrency=0, lag_budget=0.01, retry_after=1)
    assert adm.admit()  # starts the probe
    adm.done()
    time.sleep(0.05)  # noqa: ASYNC251  one stall (a GC pause): one late tick, not a queue
    await asyncio.sleep(WINDOW * 2.5)
    assert adm.admit()
    adm.done()
    deadline = time.monotonic() + WINDOW * 3
    while time.monotonic() < deadline:  # every tick late: a standing queue
        time.sleep(0.02)  # noqa: ASYNC251  blocking the loop is the point
        await asyncio.sleep(0)
    assert adm.lag > 0.01
    assert not adm.admit()
    await asyncio.sleep(WINDOW * 2.5)  # the queue drained
    assert adm.admit()
