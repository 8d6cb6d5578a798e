"""GET /metrics: after a known set of draws over two uvicorn workers, every
scrape (whichever worker answers) shows the same, correct totals."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import aiohttp
import httpx
import pytest

from app import metrics
from app.domain import tokens
from tests.conftest import flush_real_redis
from tests.helpers import (
    ADMIN,
    DAY,
    SECRET,
    local,
    offset_to,
    prize,
    production_env,
    rain,
    running_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLE = re.compile(r"^(\w+)(\{[^}]*\})? (\S+)$")


def scrape(base: str) -> dict[str, float]:
    """``name{labels}`` → value, without comments and ``_created`` samples."""
    resp = httpx.get(f"{base}/metrics", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    out = {}
    for line in resp.text.splitlines():
        m = SAMPLE.match(line)
        if m and not m.group(1).endswith("_created"):
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


async def test_metrics_count_known_draws_across_workers(mariadb_url: str, artifacts: Path) -> None:
    await flush_real_redis()
    env = production_env(
        mariadb_url, clock_offset=str(offset_to(local(DAY, 10, 5))), log_level="warning"
    )
    admin = {"Authorization": f"Bearer {ADMIN}"}
    # No flush worker runs: the lag gauge must show every draw as undelivered.
    with running_server(env, artifacts / "server-metrics.log", workers=2) as base:
        async with aiohttp.ClientSession(base) as c:
            cfg = rain([prize("c2", 5, 1.0)], limits={"per_round": 1})
            async with c.post("/v1/admin/activities", json=cfg, headers=admin) as r:
                aid = (await r.json())["id"]
            async with c.post(f"/v1/admin/activities/{aid}/publish", headers=admin) as r:
                assert r.status == 200

            async def draw(user: str) -> int:
                token = tokens.issue(SECRET.encode(), user, int(time.time()) + 600)
                async with c.post(
                    "/v1/draw",
                    json={"activity_id": aid},
                    headers={"Authorization": f"Bearer {token}"},
                ) as r:
                    return r.status

            # 12 users: 5 win the 5 envelopes, 7 lose (stock gone); then 3 of them
            # tap again (round_limit) and one request has no token (unauthorized).
            first = await asyncio.gather(*[draw(f"m{i}") for i in range(12)])
            again = await asyncio.gather(*[draw(f"m{i}") for i in range(3)])
            async with c.post("/v1/draw", json={"activity_id": aid}) as r:
                assert r.status == 401
        assert first == [200] * 12 and again == [429] * 3

        rid = f'"{aid}:20300601:0"'
        # Each worker publishes its tallies at most PUBLISH_EVERY after a draw;
        # a scrape publishes only its own worker's at once (app/metrics.py).
        await asyncio.sleep(2 * metrics.PUBLISH_EVERY)
        scrapes = [scrape(base) for _ in range(6)]  # both workers answer some of them
    for m in scrapes:
        assert m['redrain_draws_total{outcome="won"}'] == 5
        assert m['redrain_draws_total{outcome="lost"}'] == 7
        assert m['redrain_draws_total{outcome="round_limit"}'] == 3
        assert m['redrain_draws_total{outcome="unauthorized"}'] == 1
        assert m["redrain_draw_seconds_count"] == 16
        # Every answer counted by route, the fast path's draws included.
        for status, n in (("200", 12), ("429", 3), ("401", 1)):
            assert m[f'redrain_http_responses_total{{route="/v1/draw",status="{status}"}}'] == n
        assert m['redrain_draw_seconds_bucket{le="+Inf"}'] == 16
        # Every draw that got past authentication ran the draw script once.
        assert m['redrain_redis_seconds_count{script="draw"}'] == 15
        labels = f'{{activity="{aid}",prize="c2",round={rid}}}'
        assert m[f"redrain_stock_won{labels}"] == 5
        assert m[f"redrain_stock_released{labels}"] == 5
        assert m[f"redrain_stock_remaining{labels}"] == 0
        # 5 spread evenly over 10:00-11:00: none due yet a few minutes in.
        assert m[f"redrain_stock_quantity{labels}"] == 5
        assert m[f"redrain_stock_planned{labels}"] == 0
        assert m[f"redrain_stream_lag{{round={rid}}}"] == 12
        assert m[f"redrain_stream_pending{{round={rid}}}"] == 0
