"""The shipped Prometheus rules against a real Prometheus (issue 28).

Prometheus scrapes a running ``redrain serve`` (Redis + MariaDB) and
``redrain worker --metrics-port`` with deploy/prometheus's job names and
rule files: both targets are up, the recording rules have values under a
small rain, and once the worker is stopped the alerts see it: RedrainWorkerDown
fires, and draws piling up in Redis make RedrainStreamLagGrowing fire.

promtool's unit tests (test_prometheus_rules.py) check every alert's duration
and threshold on synthetic series; this test proves the expressions match the
series redrain really exports, so only the ``for:`` durations are shortened.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
import pytest
import yaml
from playwright.async_api import Browser, expect

from app.domain import tokens
from tests.conftest import flush_real_redis
from tests.helpers import (
    ADMIN,
    SECRET,
    all_day_utc,
    answers,
    free_port,
    prize,
    production_env,
    running_server,
    stop,
    subprocess_env,
    wait_until,
)
from tests.system.browser import opened, shoot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROM = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.fixture
def redrain(
    mariadb_url: str, artifacts: Path
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """The API's base URL, the worker's metrics address and the worker process
    (the test stops it)."""
    asyncio.run(flush_real_redis())
    env = production_env(
        mariadb_url,
        # Real time (no REDRAIN_CLOCK_OFFSET): the console's live view and
        # Prometheus's graphs of the screenshot share one clock.
        log_level="warning",
        # A few users draw thousands of times: the rules, not the rate limits.
        rate_limit_user="0",
        rate_limit_ip="0",
        cookie_secure="0",  # the console is signed in to over plain http
    )
    full = subprocess_env(env)
    port = free_port()
    with (
        running_server(env, artifacts / "prom-live-server.log", workers=2) as base,
        (artifacts / "prom-live-worker.log").open("wb") as log,
    ):
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker", "--metrics-port", str(port)],
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            target = f"127.0.0.1:{port}"
            wait_until(lambda: answers(f"http://{target}/metrics"), "the worker", 30, worker)
            yield base, target, worker
        finally:
            stop(worker)


@pytest.fixture
def prometheus(
    redrain: tuple[str, str, subprocess.Popen[bytes]], tmp_path: Path, artifacts: Path
) -> Iterator[str]:
    """A Prometheus on its own port and data directory: the shipped config with
    its job names, our targets, 1 s intervals; the shipped recording rules and
    a copy of the alerts whose ``for:`` is 1 s (a test cannot wait minutes)."""
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    assert Path(binary).exists(), "prometheus is required (scripts/services.sh installs it)"
    base, worker_target, _ = redrain
    # Only the waiting periods change: promtool's unit tests in
    # test_prometheus_rules.py cover the shipped durations and thresholds; this
    # test proves the expressions see the real scraped series. The thresholds
    # stay (5000 undelivered draws take a few seconds to pile up).
    alerts = yaml.safe_load((PROM / "alerts.rules.yml").read_text())
    for group in alerts["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    (tmp_path / "alerts.rules.yml").write_text(yaml.safe_dump(alerts))
    shutil.copy(PROM / "recording.rules.yml", tmp_path / "recording.rules.yml")

    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    targets = {"redrain-api": base.removeprefix("http://"), "redrain-worker": worker_target}
    assert {job["job_name"] for job in config["scrape_configs"]} == set(targets)
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))

    address = f"127.0.0.1:{free_port()}"
    with (artifacts / "prom-live-prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address={address}",
            ],
            cwd=tmp_path,  # rule_files are relative to the config file
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: answers(f"http://{address}/-/ready"), "prometheus", 30, proc)
            yield f"http://{address}"
        finally:
            stop(proc)


class Prom:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def api(self, path: str, **params: str) -> Any:
        resp = await self.client.get(f"/api/v1/{path}", params=params)
        body = resp.json()
        assert body["status"] == "success", body
        return body["data"]

    async def value(self, query: str) -> float | None:
        """The query's single value, or None while it has none."""
        result = (await self.api("query", query=query))["result"]
        return float(result[0]["value"][1]) if len(result) == 1 else None

    async def alert(self, name: str) -> str | None:
        """``pending``, ``firing`` or None."""
        states = [
            a["state"]
            for a in (await self.api("alerts"))["alerts"]
            if a["labels"]["alertname"] == name
        ]
        return "firing" if "firing" in states else (states[0] if states else None)


async def test_prometheus_sees_redrain_through_the_shipped_rules(
    redrain: tuple[str, str, subprocess.Popen[bytes]],
    prometheus: str,
    browser: Browser,
    artifacts: Path,
) -> None:
    base, _, worker = redrain
    admin = {"Authorization": f"Bearer {ADMIN}"}
    stop_at = time.monotonic() + 60  # the whole test, start-up excepted

    async def until(what: str, check: Any) -> Any:
        while (got := await check()) is None or got is False:
            assert time.monotonic() < stop_at, f"timed out waiting for {what}"
            await asyncio.sleep(0.25)
        return got

    async with (
        httpx.AsyncClient(base_url=prometheus, timeout=5) as pc,
        # Idle connections dropped before the server's 5 s keep-alive closes
        # them under a request (a reset) while the test waits on Prometheus.
        aiohttp.ClientSession(
            base, connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=2)
        ) as c,
    ):
        prom = Prom(pc)

        async def targets_up() -> bool:
            active = (await prom.api("targets"))["activeTargets"]
            health = {t["labels"]["job"]: t["health"] for t in active}
            return health == {"redrain-api": "up", "redrain-worker": "up"}

        await until("both targets up", targets_up)
        # The rule files loaded whole (a broken one would leave a group out).
        groups = {g["name"] for g in (await prom.api("rules"))["groups"]}
        assert {"redrain-recording", "redrain-flush", "redrain-up"} <= groups, groups

        cfg = all_day_utc([prize("c2", 100_000, 0.5)])
        async with c.post("/v1/admin/activities", json=cfg, headers=admin) as r:
            assert r.status in (200, 201), await r.text()
            aid = (await r.json())["id"]
        async with c.post(f"/v1/admin/activities/{aid}/publish", headers=admin) as r:
            assert r.status == 200, await r.text()
        expires = int(time.time()) + 600
        headers = [
            {"Authorization": f"Bearer {tokens.issue(SECRET.encode(), f'u{i}', expires)}"}
            for i in range(64)
        ]

        async def draws(n: int) -> None:
            async def one(i: int) -> tuple[int, str]:
                async with c.post(
                    "/v1/draw", json={"activity_id": aid}, headers=headers[i % len(headers)]
                ) as r:
                    return r.status, await r.text()

            got = await asyncio.gather(*[one(i) for i in range(n)])
            # 503 busy is the API shedding load, a normal outcome under a burst.
            odd = [a for a in got if a[0] not in (200, 503)]
            assert not odd, odd[:3]

        # A small rain the worker flushes, over a few scrapes so rate() has two samples.
        for _ in range(4):
            await draws(50)
            await asyncio.sleep(0.5)

        async def positive(query: str) -> Any:
            v = await prom.value(query)
            return v if v is not None and v > 0 else None

        for query in (
            'redrain:draws:rate1m{outcome="won"}',
            'redrain:draws:rate1m{outcome="lost"}',
            f'redrain:activity_draws:rate1m{{activity="{aid}",outcome="won"}}',
            "redrain:draws_accepted:ratio_rate1m",
            "redrain:draw_seconds:p50_5m",
            "redrain:draw_seconds:p99_5m",
            "redrain:worker_rows:rate1m",
            f'redrain:stock_burn:ratio{{activity="{aid}",prize="c2"}}',
        ):
            await until(query, lambda q=query: positive(q))
        # The lag rules have values (0 or more: the worker keeps up with this rain).
        for query in ("redrain:stream_lag:sum", "redrain:stream_backlog:by_round"):
            await until(query, lambda q=query: prom.value(q))

        assert await prom.alert("RedrainWorkerDown") is None
        assert await prom.alert("RedrainStreamLagGrowing") is None

        worker.terminate()
        await asyncio.to_thread(worker.wait, 30)

        async def worker_down() -> bool:
            return await prom.alert("RedrainWorkerDown") == "firing"

        await until("RedrainWorkerDown firing", worker_down)

        # Nobody flushes now: past the shipped 5000 undelivered, still growing.
        async def lag_growing() -> bool:
            if await prom.alert("RedrainStreamLagGrowing") == "firing":
                return True
            await draws(500)
            return False

        await until("RedrainStreamLagGrowing firing", lag_growing)
        lag = await prom.value("redrain:stream_lag:sum")
        assert lag is not None and lag > 5000
        await c.post(
            "/v1/admin/operators",
            json={"username": "oncall", "password": PASSWORD, "role": "viewer"},
            headers=admin,
        )
        # Players keep tapping while the on-call engineer looks (the worker is
        # still down: the lag keeps growing on both sides of the picture).
        traffic = asyncio.create_task(keep_drawing(draws))
        try:
            await monitoring_screenshot(browser, base, prometheus, aid, artifacts)
        finally:
            traffic.cancel()


async def keep_drawing(draws: Any) -> None:
    for _ in range(200):  # bounded: about 50 s at most
        await draws(40)
        await asyncio.sleep(0.25)


PASSWORD = "a long pass phrase for the on-call viewer"
# What the screenshot graphs, as the dashboard's top panels do.
GRAPHS = (
    "sum by (outcome) (redrain:draws:rate1m)",
    "redrain:stream_lag:sum",
    # Won against the even plan (the budget-burn alerts' two sides).
    'label_replace(max by (prize) (redrain_stock_won), "is", "won", "", "")'
    ' or label_replace(max by (prize) (redrain_stock_planned), "is", "planned", "", "")',
)


async def monitoring_screenshot(
    browser: Browser, base: str, prometheus: str, aid: int, artifacts: Path
) -> Path:
    """docs/operations.md's picture of a real run: the console's live view
    beside Prometheus's graphs and alerts (Grafana is not in Debian; the
    dashboard's queries are the same). Saved as pages/monitoring-en-desktop.png."""
    parts = []
    async with opened(browser) as (_, page, watch):
        await page.goto(f"{base}/console#/live/{aid}")
        await page.fill("#username", "oncall")
        await page.fill("#password", PASSWORD)
        await page.click("#login button[type=submit]")
        await expect(page.locator("#chart-rate canvas")).to_have_count(1)
        await page.wait_for_timeout(2500)  # a few seconds of the live chart
        parts.append(await shoot(page, artifacts, "monitoring-console-live", full=False))
        watch.expect()
    async with opened(browser) as (_, page, _w):
        # Tall enough for the three graphs (a full-page shot would repeat the
        # fixed navbar); scaled to the console and the alerts' height below.
        await page.set_viewport_size({"width": 1000, "height": 2200})
        query = "&".join(
            f"g{i}.expr={quote(expr)}&g{i}.tab=0&g{i}.range_input=2m"
            for i, expr in enumerate(GRAPHS)
        )
        await page.goto(f"{prometheus}/classic/graph?{query}")
        await expect(page.locator(".graph_area svg path")).not_to_have_count(0)
        await page.wait_for_timeout(500)
        # The page focuses the last query, which scrolls it: back to the first graph.
        await page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
        parts.append(await shoot(page, artifacts, "monitoring-prometheus-graphs", full=False))
        await page.goto(f"{prometheus}/classic/alerts")
        await expect(page.get_by_text("RedrainWorkerDown").first).to_be_visible()
        parts.append(await shoot(page, artifacts, "monitoring-prometheus-alerts", full=False))
    # One picture: the console and the alerts on the left, the graphs beside them.
    sheet = artifacts / "pages" / "monitoring.html"
    sheet.write_text(
        "<body style='margin:0;display:flex;gap:8px;background:#ccc;width:max-content'>"
        "<div style='display:flex;flex-direction:column;gap:8px'>"
        + "".join(f"<img src='{p.name}' width='1280'>" for p in parts[::2])
        + f"</div><img src='{parts[1].name}' height='1728'></body>"
    )
    async with opened(browser) as (_, page, _w):
        await page.set_viewport_size({"width": 1280 + 8 + 1000 * 1728 // 2200, "height": 1728})
        await page.goto(sheet.resolve().as_uri())
        return await shoot(page, artifacts, "monitoring-en-desktop", full=False)
