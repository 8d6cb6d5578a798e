"""A player's lotteries (issue 25, SPEC §10 ``/lotteries``): ``GET
/v1/me/lotteries`` lists what the caller created or joined, newest first, on
real MariaDB and on SQLite, and nobody else's; the page is served."""

from __future__ import annotations

import datetime as dt

from tests.conftest import ServiceFactory
from tests.http.test_concurrent_writes import Http
from tests.http.test_http import assert_error, bearer


async def test_created_and_joined_newest_first_and_only_mine(
    make_service: ServiceFactory, http: Http
) -> None:
    svc = make_service()
    client = http(svc)
    me, friend = f"me-{id(svc)}", f"friend-{id(svc)}"
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()

    async def create(user: str, title: str) -> int:
        body = {"title": title, "draw_at": when, "prize": {"name": "Tea", "quantity": 2}}
        resp = await client.post("/v1/lotteries", json=body, headers=bearer(user))
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])

    mine = await create(me, "Mine")
    theirs = await create(friend, "Theirs")
    hidden = await create(friend, "Not joined")
    assert (await client.post(f"/v1/lotteries/{theirs}/join", headers=bearer(me))).status_code in (
        200,
        201,
    )
    assert (
        await client.post(f"/v1/lotteries/{mine}/join", headers=bearer(friend))
    ).status_code in (
        200,
        201,
    )
    resp = await client.get("/v1/me/lotteries", headers=bearer(me))
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    got = resp.json()["lotteries"]
    assert [g["id"] for g in got] == [theirs, mine]  # newest first; `hidden` is not mine
    assert hidden not in {g["id"] for g in got}
    by_id = {g["id"]: g for g in got}
    assert by_id[mine] | {"draw_at": None} == {
        "id": mine,
        "title": "Mine",
        "draw_at": None,
        "prize": {"name": "Tea", "quantity": 2},
        "status": "open",
        "participants": 1,
        "is_creator": True,
        "joined": False,
        "won": None,
    }
    assert by_id[theirs]["joined"] is True and by_id[theirs]["is_creator"] is False
    nobody = await client.get("/v1/me/lotteries", headers=bearer(f"new-{id(svc)}"))
    assert nobody.json() == {"lotteries": []}
    assert_error(await client.get("/v1/me/lotteries"), 401)


async def test_the_page_is_a_page(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service())
    for lang, title in (("en", "My lotteries"), ("zh-CN", "我的抽奖")):
        page = await client.get(f"/lotteries?lang={lang}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert title in page.text and "/static/js/lotteries.js" in page.text
        assert 'href="/console"' not in page.text  # a player's page: no operator navigation
    landing = await client.get("/?lang=en")
    assert 'href="/lotteries"' in landing.text
