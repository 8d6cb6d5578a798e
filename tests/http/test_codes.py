"""Redemption codes (issue 25, SPEC §3): each win of a coded coupon prize
takes its own code in the same atomic call, on real Redis + MariaDB and on
fakeredis + SQLite: never two winners with one code, never a win without one;
publishing refuses rounds the pool cannot cover; the code shows in the draw
answer, an Idempotency-Key replay, the history, notifications and the
winners export."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from typing import Any

import httpx

from app.jobs.worker import Worker
from app.services.container import Services
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, offset_to, prize, rain
from tests.http.test_concurrent_writes import Http, burst, codes
from tests.http.test_http import assert_error, bearer

H = admin_headers()


def services(client: httpx.AsyncClient) -> Services:
    svc: Services = client._transport.app.state.services  # type: ignore[attr-defined]
    return svc


async def made(client: httpx.AsyncClient, cfg: dict[str, Any]) -> int:
    resp = await client.post("/v1/admin/activities", json=cfg, headers=H)
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def upload(
    client: httpx.AsyncClient, aid: int, key: str, values: list[str]
) -> httpx.Response:
    return await client.post(
        f"/v1/admin/activities/{aid}/prizes/{key}/codes", json={"codes": values}, headers=H
    )


async def test_each_win_takes_its_own_code_everywhere(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service(offset_to(local(DAY, 10, 5))))
    aid = await made(client, rain([prize("c2", 3, 1.0)], limits={"per_round": 10}))
    added = await upload(client, aid, "c2", ["A-1", "A-2", "A-3", "A-4"])
    assert added.status_code == 200, added.text
    assert added.json() == {"added": 4, "available": 4}
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)).status_code == 200
    answers = []
    for i in range(5):
        resp = await client.post(
            "/v1/draw",
            json={"activity_id": aid},
            headers={**bearer("coder"), "Idempotency-Key": f"k{i}"},
        )
        assert resp.status_code == 200, resp.text
        answers.append(resp.json())
    won = [a for a in answers if a["won"]]
    assert [a["prize"]["code"] for a in won] == ["A-1", "A-2", "A-3"]  # upload order
    assert all(not a["won"] for a in answers[3:])  # 3 units: then losses
    replay = await client.post(
        "/v1/draw", json={"activity_id": aid}, headers={**bearer("coder"), "Idempotency-Key": "k1"}
    )
    assert replay.json()["prize"]["code"] == "A-2" and replay.json()["draw_id"] == won[1]["draw_id"]
    svc = services(client)
    await Worker.wired(svc.settings, svc.redis, svc.db, name="w").drain(30)
    history = (await client.get("/v1/me/draws", headers=bearer("coder"))).json()["draws"]
    by_id = {d["draw_id"]: d for d in history}
    assert [by_id[a["draw_id"]]["prize"]["code"] for a in won] == ["A-1", "A-2", "A-3"]
    notices = (await client.get("/v1/me/notifications", headers=bearer("coder"))).json()
    shown = {n["prize"]["code"] for n in notices["notifications"] if n["kind"] == "prize_won"}
    assert shown == {"A-1", "A-2", "A-3"}, notices
    paged, cursor = [], ""
    for _ in range(5):  # one a page, through each page's next_cursor
        page = await client.get(f"/v1/me/notifications?limit=1{cursor}", headers=bearer("coder"))
        assert page.status_code == 200, page.text
        paged += [n["prize"]["code"] for n in page.json()["notifications"]]
        if page.json()["next_cursor"] is None:
            break
        cursor = f"&cursor={page.json()['next_cursor']}"
    assert paged == ["A-3", "A-2", "A-1"]  # newest first, each once
    export = await client.get(f"/v1/admin/activities/{aid}/winners?format=csv", headers=H)
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert sorted(r["code"] for r in rows) == ["A-1", "A-2", "A-3"]
    js = (await client.get(f"/v1/admin/activities/{aid}/winners", headers=H)).json()
    assert sorted(w["code"] for w in js["winners"]) == ["A-1", "A-2", "A-3"]


async def test_publish_refuses_rounds_the_codes_cannot_cover(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service(offset_to(local(DAY - __import__("datetime").timedelta(days=1), 9))))
    cfg = rain([prize("c2", 5, 0.5), prize("p", 5, 0.1, type="points")], end=DAY)
    aid = await made(client, cfg)
    assert (await upload(client, aid, "c2", ["B-1", "B-2"])).status_code == 200
    body = assert_error(
        await client.post(f"/v1/admin/activities/{aid}/publish", headers=H), 422, "validation_error"
    )
    assert body["error"]["field"] == "prizes.c2" and "'c2'" in body["error"]["message"]
    assert (await client.get(f"/v1/activities/{aid}")).status_code == 404  # nothing published
    assert (await upload(client, aid, "c2", [f"B-{i}" for i in range(3, 6)])).status_code == 200
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)).status_code == 200


async def test_bad_uploads_change_nothing(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service())
    cfg = rain([prize("c2", 5, 0.5), prize("p", 5, 0.1, type="points")])
    aid = await made(client, cfg)
    assert (await upload(client, aid, "c2", ["C-1"])).json() == {"added": 1, "available": 1}
    assert_error(await upload(client, aid, "c2", ["C-2", "C-1"]), 409, "duplicate_codes")
    assert_error(await upload(client, aid, "c2", ["C-3", "C-3"]), 422, "validation_error")
    assert_error(await upload(client, aid, "c2", ["has,comma"]), 422, "validation_error")
    assert_error(await upload(client, aid, "c2", [""]), 422, "validation_error")
    assert_error(await upload(client, aid, "c2", []), 422, "validation_error")
    assert_error(await upload(client, aid, "p", ["P-1"]), 422, "validation_error")
    assert_error(await upload(client, aid, "nope", ["N-1"]), 404, "prize_not_found")
    assert_error(await upload(client, 99_999_999, "c2", ["N-1"]), 404)
    assert_error(
        await client.post(
            f"/v1/admin/activities/{aid}/prizes/c2/codes",
            json={"codes": ["X"]},
            headers=bearer("player"),
        ),
        403,
    )
    after = await upload(client, aid, "c2", ["C-2"])
    assert after.json() == {"added": 1, "available": 2}  # C-2 was never added by the refusal


async def test_parallel_uploads_add_each_code_once(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service())
    aid = await made(client, rain([prize("c2", 5, 0.5)]))
    same = ["D-1", "D-2"]
    answers = await burst(*[lambda: upload(client, aid, "c2", same)] * 10)
    got = codes(answers)
    assert got[(200, None)] == 1, got
    assert set(got) <= {(200, None), (409, "duplicate_codes"), (409, "activity_busy")}
    distinct = await burst(*[lambda i=i: upload(client, aid, "c2", [f"E-{i}"]) for i in range(10)])
    assert {a.status_code for a in distinct} <= {200, 409}
    ok = sum(a.status_code == 200 for a in distinct)
    assert await services(client).db.codes.available(aid, "c2") == 2 + ok


async def test_two_thousand_concurrent_draws_never_share_a_code(
    make_service: ServiceFactory, http: Http
) -> None:
    """More taps than units: every win has a code, no code twice, and the
    losses carry none; with fewer codes than units (added to a live round),
    the wins stop where the codes do."""
    svc = make_service(offset_to(local(DAY, 10, 5)))
    client = http(svc)
    aid = await made(client, rain([prize("c2", 300, 0.5)]))
    assert (await upload(client, aid, "c2", [f"F-{i}" for i in range(300)])).status_code == 200
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)).status_code == 200

    async def tap(i: int) -> dict[str, Any]:
        _, res = await svc.draws.draw(f"crowd{i}", aid)
        return {"won": res.won, "code": res.code}

    results: list[dict[str, Any]] = []
    for start in range(0, 2000, 500):
        results += await asyncio.gather(*(tap(i) for i in range(start, start + 500)))
    wins = [r["code"] for r in results if r["won"]]
    assert len(wins) == 300 and None not in wins
    assert len(set(wins)) == 300 and set(wins) == {f"F-{i}" for i in range(300)}
    assert all(r["code"] is None for r in results if not r["won"])
    assert Counter(r["won"] for r in results)[True] == 300


async def test_topup_of_a_coded_prize_needs_codes(make_service: ServiceFactory, http: Http) -> None:
    svc = make_service(offset_to(local(DAY, 10, 5)))
    client = http(svc)
    aid = await made(client, rain([prize("c2", 1, 1.0)], limits={"per_round": 10}))
    await upload(client, aid, "c2", ["G-1"])
    await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)
    body = {"round": "20300601:0", "prize": "c2", "add": 2}
    short = await client.post(f"/v1/admin/activities/{aid}/stock", json=body, headers=H)
    assert_error(short, 422, "validation_error")
    await upload(client, aid, "c2", ["G-2", "G-3"])
    assert (
        await client.post(f"/v1/admin/activities/{aid}/stock", json=body, headers=H)
    ).status_code == 200
    got = []
    for _ in range(4):
        d = (await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("t"))).json()
        got.append(d["prize"]["code"] if d["won"] else None)
    assert got == ["G-1", "G-2", "G-3", None]
