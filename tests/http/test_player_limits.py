"""Per-user limits on player writes other than the draw (issue 23, item 7):
lottery creations an hour, every lottery write a minute, and open lotteries
per creator. Counted in Redis, so they hold across API processes; refused
with 429 in the error shape (``Retry-After`` for the rate limits), never a
500, under parallel requests too."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import httpx

from app.services.container import Services
from app.store.redis.limits import WriteLimits
from tests.conftest import ServiceFactory
from tests.http.test_http import Http, assert_error, bearer

T0 = dt.datetime(2030, 6, 1, 2, 0, tzinfo=dt.UTC)


def at_t0(make: ServiceFactory, **settings: Any) -> Services:
    return make(T0.timestamp() - dt.datetime.now(dt.UTC).timestamp(), **settings)


def lottery(title: str = "party") -> dict[str, Any]:
    draw_at = (T0 + dt.timedelta(hours=2)).isoformat()
    return {"title": title, "draw_at": draw_at, "prize": {"name": "cake", "quantity": 1}}


def tally(answers: list[httpx.Response]) -> Counter[tuple[int, str]]:
    out: Counter[tuple[int, str]] = Counter()
    for a in answers:
        code = a.json()["error"]["code"] if a.status_code >= 400 else "ok"
        out[(a.status_code, code)] += 1
    return out


async def test_parallel_creations_stop_at_the_hourly_limit_across_processes(
    make_service: ServiceFactory, http: Http
) -> None:
    """40 lotteries in 0.1 s (the probe): 20 parallel creations by one user on
    two API processes sharing Redis, limit 5 an hour: exactly 5 are made."""
    one = http(at_t0(make_service, rate_limit_lotteries=5))
    two = http(at_t0(make_service, rate_limit_lotteries=5))
    answers = await asyncio.gather(
        *[
            (one if i % 2 else two).post("/v1/lotteries", json=lottery(), headers=bearer("eve"))
            for i in range(20)
        ]
    )
    assert tally(answers) == Counter({(201, "ok"): 5, (429, "rate_limited"): 15})
    for a in answers:
        if a.status_code == 429:
            assert_error(a, 429, "rate_limited")
            assert 1 <= int(a.headers["retry-after"]) <= 3600
    # Another player is not held back by eve.
    resp = await one.post("/v1/lotteries", json=lottery(), headers=bearer("frank"))
    assert resp.status_code == 201, resp.text


async def test_joins_and_leaves_count_against_the_write_limit(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(at_t0(make_service, rate_limit_writes=4))
    ids = []
    for i in range(6):
        resp = await client.post("/v1/lotteries", json=lottery(), headers=bearer(f"c{i}"))
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    # Twelve parallel writes by one player: joins, leaves, a cancel of another's.
    calls = [client.post(f"/v1/lotteries/{i}/join", headers=bearer("mallory")) for i in ids]
    calls += [client.delete(f"/v1/lotteries/{i}/join", headers=bearer("mallory")) for i in ids[:5]]
    calls.append(client.post(f"/v1/lotteries/{ids[0]}/cancel", headers=bearer("mallory")))
    answers = await asyncio.gather(*calls)
    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) == 12 - 4, tally(answers)
    for a in limited:
        assert_error(a, 429, "rate_limited")
        assert int(a.headers["retry-after"]) in range(1, 61)
    assert all(a.status_code < 500 for a in answers), tally(answers)
    # Nothing refused was done: mallory is in at most the lotteries a counted join reached.
    after = [
        (await client.get(f"/v1/lotteries/{i}", headers=bearer("mallory"))).json() for i in ids
    ]
    assert sum(a["participants"] for a in after) <= 4
    # The creators' own writes are theirs to spend.
    resp = await client.post(f"/v1/lotteries/{ids[1]}/cancel", headers=bearer("c1"))
    assert resp.status_code == 200, resp.text


async def test_open_lotteries_per_creator_are_capped_under_parallel_creations(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(at_t0(make_service, max_open_lotteries=3))
    answers = await asyncio.gather(
        *[client.post("/v1/lotteries", json=lottery(), headers=bearer("ivan")) for _ in range(12)]
    )
    assert tally(answers) == Counter({(201, "ok"): 3, (429, "too_many_lotteries"): 9})
    made = [a.json()["id"] for a in answers if a.status_code == 201]
    # Canceling one makes room for one more; a canceled one no longer counts.
    resp = await client.post(f"/v1/lotteries/{made[0]}/cancel", headers=bearer("ivan"))
    assert resp.status_code == 200, resp.text
    resp = await client.post("/v1/lotteries", json=lottery(), headers=bearer("ivan"))
    assert resp.status_code == 201, resp.text
    resp = await client.post("/v1/lotteries", json=lottery(), headers=bearer("ivan"))
    body = assert_error(resp, 429, "too_many_lotteries")
    assert "retry-after" not in resp.headers and "3" in body["error"]["message"]


async def test_zero_turns_the_limits_off(make_service: ServiceFactory, http: Http) -> None:
    client = http(at_t0(make_service))  # the test settings: every limit 0
    answers = await asyncio.gather(
        *[client.post("/v1/lotteries", json=lottery(), headers=bearer("zed")) for _ in range(30)]
    )
    assert tally(answers) == Counter({(201, "ok"): 30})


async def test_the_window_counts_only_what_it_lets_through(make_service: ServiceFactory) -> None:
    """lua/write_limit.lua on real Redis and fakeredis: a refusal is not
    counted (hammering does not extend the wait), and the window ends."""
    limits: WriteLimits = make_service().redis.limits
    assert [await limits.hit("t", "u", 2, 300) for _ in range(2)] == [0, 0]
    waits = [await limits.hit("t", "u", 2, 300) for _ in range(5)]
    assert all(0 < w <= 300 for w in waits)
    assert await limits.hit("t", "other", 2, 300) == 0  # per user
    assert await limits.hit("x", "u", 2, 300) == 0  # per kind of write
    await asyncio.sleep(0.35)
    assert await limits.hit("t", "u", 2, 300) == 0
