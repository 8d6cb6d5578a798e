"""The daily report (issue 25): per campaign day, draws, players, wins and
their cost per prize, from the ledger, as JSON and CSV; on real Redis +
MariaDB and on fakeredis + SQLite."""

from __future__ import annotations

import csv
import datetime as dt
import io

from app.jobs.worker import Worker
from tests.conftest import ServiceFactory
from tests.helpers import DAY, local, offset_to, prize, rain
from tests.http.test_codes import H, made, services
from tests.http.test_concurrent_writes import Http
from tests.http.test_http import assert_error, bearer
from tests.services.test_caches import move


async def test_a_report_per_day_and_prize(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service(offset_to(local(DAY, 10, 5))))
    svc = services(client)
    cfg = rain(
        [
            prize("gold", 2, 1.0, cost=2.5, name={"en": "Gold", "zh-CN": "金"}),
            prize("pen", 5, 0.0),  # no cost, never won
        ],
        end=DAY + dt.timedelta(days=1),
        limits={"per_round": 5},
    )
    aid = await made(client, cfg)
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)).status_code == 200

    async def tap(user: str, n: int) -> None:
        for _ in range(n):
            resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer(user))
            assert resp.status_code == 200, resp.text

    await tap("ann", 3)  # day 1: 2 golds, then a loss
    await tap("bob", 1)
    move(svc, local(DAY + dt.timedelta(days=1), 10, 5))
    await tap("ann", 1)  # day 2: 1 gold
    await Worker.wired(svc.settings, svc.redis, svc.db, name="w").drain(30)

    got = (await client.get(f"/v1/admin/activities/{aid}/report", headers=H)).json()
    assert [d["day"] for d in got["days"]] == [
        DAY.isoformat(),
        (DAY + dt.timedelta(days=1)).isoformat(),
    ]
    first, second = got["days"]
    assert (first["draws"], first["players"], first["wins"], first["cost"]) == (4, 2, 2, 5.0)
    assert first["prizes"] == [
        {"key": "gold", "name": {"en": "Gold", "zh-CN": "金"}, "wins": 2, "cost": 5.0},
        {"key": "pen", "name": "prize pen", "wins": 0, "cost": None},
    ]
    assert (second["draws"], second["players"], second["wins"], second["cost"]) == (1, 1, 1, 2.5)
    assert (got["draws"], got["wins"], got["cost"]) == (5, 3, 7.5)
    assert got["prizes"][0] == {
        "key": "gold",
        "name": {"en": "Gold", "zh-CN": "金"},
        "wins": 3,
        "cost": 7.5,
    }

    export = await client.get(f"/v1/admin/activities/{aid}/report?format=csv", headers=H)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["day"], r["draws"], r["players"], r["wins:gold"], r["cost:gold"]) for r in rows] == [
        (DAY.isoformat(), "4", "2", "2", "5.0"),
        ((DAY + dt.timedelta(days=1)).isoformat(), "1", "1", "1", "2.5"),
    ]


async def test_bad_requests_are_refused(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service(offset_to(local(DAY, 9))))
    aid = await made(client, rain([prize("gold", 2, 1.0)]))
    empty = (await client.get(f"/v1/admin/activities/{aid}/report", headers=H)).json()
    assert empty["days"] == [] and empty["draws"] == 0 and empty["cost"] is None
    assert_error(await client.get(f"/v1/admin/activities/{aid}/report?format=xls", headers=H), 422)
    assert_error(await client.get("/v1/admin/activities/987654/report", headers=H), 404)
    assert_error(await client.get(f"/v1/admin/activities/{aid}/report", headers=bearer("p")), 403)


async def test_the_live_charts_start_from_the_rounds_saved_history(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service(offset_to(local(DAY, 10, 5))))
    svc = services(client)
    aid = await made(client, rain([prize("gold", 3, 1.0)], limits={"per_round": 5}))
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)).status_code == 200
    for user in ("ann", "bob"):
        for _ in range(2):
            resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer(user))
            assert resp.status_code == 200
    await Worker.wired(svc.settings, svc.redis, svc.db, name="w").drain(30)
    ref = f"{DAY:%Y%m%d}:0"
    got = (await client.get(f"/v1/admin/activities/{aid}/history?round={ref}", headers=H)).json()
    assert got["round_id"] == f"{aid}:{ref}" and got["step_seconds"] == 10
    assert sum(x["draws"] for x in got["samples"]) == 4
    assert sum(x["wins"].get("gold", 0) for x in got["samples"]) == 3  # 3 units
    assert all(x["at"].endswith("0Z") or x["at"].endswith("0.000Z") for x in got["samples"])
    path = f"/v1/admin/activities/{aid}/history"
    assert_error(await client.get(path, headers=H), 422)
    assert_error(await client.get(f"{path}?round=20000101:0", headers=H), 404)
    assert_error(await client.get(f"{path}?round={ref}&minutes=0", headers=H), 422)
