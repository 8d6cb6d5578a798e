"""Admission control (docs/api.md, 503 busy): past its bound a worker refuses
a draw at once, consuming nothing; the health and metrics routes stay served."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from app.http.admission import Admission
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
    adm.limit, adm.hard = 2, 4  # (in process, fakeredis is embedded mode: unbounded)
    before = busy_count((await client.get("/metrics")).text)
    held = [adm.admit() for _ in range(adm.hard)]  # as if that many draws waited on Redis
    resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("p1"))
    body = assert_error(resp, 503, "busy")
    assert resp.headers["retry-after"] == "1"
    assert set(body["error"]) == {"code", "message"}
    assert (await client.get("/healthz")).status_code == 200
    assert busy_count((await client.get("/metrics")).text) == before + 1
    stats = (await client.get(f"/v1/admin/activities/{aid}/stats", headers=admin_headers())).json()
    assert stats["rounds"][0]["draws"] == 0  # nothing consumed
    assert adm.in_flight == adm.hard  # a refusal never counts itself in flight
    # Bad input is still told apart under load: a 4xx, not busy.
    resp = await client.post("/v1/draw", json={"activity_id": aid}, headers={})
    assert_error(resp, 401)
    resp = await client.post("/v1/draw", content=b"{", headers=bearer("p1"))
    assert_error(resp, 400, "invalid_json")

    for ticket in held:
        assert ticket is not None
        adm.done(ticket)
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


def test_past_the_bound_only_a_young_queue_is_admitted() -> None:
    adm = Admission(concurrency=2, latency_budget=0.05, retry_after=1)
    first, second = adm.admit(), adm.admit()
    assert first is not None and second is not None
    third = adm.admit()  # past the bound, but the oldest is young: a burst
    assert third is not None
    time.sleep(0.06)  # the oldest in flight is now past the budget
    assert adm.admit() is None
    adm.done(first)  # still at the bound, and the oldest left is old too
    assert adm.admit() is None
    adm.done(second)
    assert adm.admit() is not None  # under the bound again


async def test_embedded_mode_is_unbounded_unless_set(
    make_service: ServiceFactory, http: Http
) -> None:
    svc = make_service()
    adm = admission_of(http(svc))
    embedded = svc.settings.embedded
    assert (adm.limit == 1 << 62) == embedded
    if embedded:
        svc.settings = svc.settings.model_copy(update={"draw_concurrency": 64})
        svc.settings.model_fields_set.add("draw_concurrency")
        assert admission_of(http(svc)).limit == 64


def test_never_past_twice_the_bound() -> None:
    adm = Admission(concurrency=2, latency_budget=60, retry_after=1)
    assert all(adm.admit() is not None for _ in range(4))
    assert adm.admit() is None
    unbounded = Admission(concurrency=0, latency_budget=0, retry_after=1)
    assert all(unbounded.admit() is not None for _ in range(10_000))
