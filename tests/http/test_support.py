"""After the win (issue 25, SPEC §3): a winner's delivery address for a
physical prize, operators marking it shipped, and the user lookup for
disputes. Over HTTP in process, on real Redis + MariaDB and on fakeredis +
SQLite."""

from __future__ import annotations

import csv
import io

import httpx

from app.domain.audit import Actor
from app.jobs.worker import Worker
from app.services.container import Services
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import BY, DAY, local, offset_to, prize, rain
from tests.http.test_concurrent_writes import Http, burst, codes
from tests.http.test_http import assert_error, bearer

H = admin_headers()
ADDRESS = {"name": "Li Lei", "phone": "+86 138 0000 0000", "address": "1 Bund Rd\nShanghai"}


async def won_physical(
    make_service: ServiceFactory, http: Http, user: str = "alice"
) -> tuple[httpx.AsyncClient, int, str, str]:
    """An activity with one physical prize (always won, one unit); the draw
    id of ``user``'s physical win and of her loss after it, flushed."""
    svc = make_service(offset_to(local(DAY, 10, 5)))
    client = http(svc)
    cfg = rain(
        [prize("tv", 1, 1.0, type="physical", value="SKU-TV")],
        limits={"per_round": 5},
    )
    aid = (await client.post("/v1/admin/activities", json=cfg, headers=H)).json()["id"]
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)).status_code == 200
    first = (await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer(user))).json()
    assert first["won"] and first["prize"]["type"] == "physical"
    lost = (await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer(user))).json()
    assert not lost["won"]
    await Worker.wired(svc.settings, svc.redis, svc.db, name="w").drain(30)
    return client, aid, first["draw_id"], lost["draw_id"]


def url(draw_id: str) -> str:
    return f"/v1/me/draws/{draw_id}/delivery"


async def test_the_winner_gives_an_address_until_it_ships(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid, won, lost = await won_physical(make_service, http)
    history = (await client.get("/v1/me/draws", headers=bearer("alice"))).json()["draws"]
    assert {d["draw_id"]: d.get("delivery") for d in history} == {
        won: "awaiting_address",
        lost: None,
    }
    listed = (await client.get(f"/v1/admin/activities/{aid}/deliveries", headers=H)).json()
    assert [d["delivery"]["status"] for d in listed["deliveries"]] == ["awaiting_address"]
    assert_error(
        await client.post(f"/v1/admin/deliveries/{won}/ship", json={"tracking": "SF1"}, headers=H),
        409,
        "no_address",
    )

    given = await client.put(url(won), json=ADDRESS, headers=bearer("alice"))
    assert given.status_code == 200, given.text
    assert (
        given.json()["status"] == "address_given" and given.json()["address"] == ADDRESS["address"]
    )
    changed = await client.put(
        url(won), json={**ADDRESS, "phone": "13900000000"}, headers=bearer("alice")
    )
    assert changed.json()["phone"] == "13900000000"

    shipped = await client.post(
        f"/v1/admin/deliveries/{won}/ship", json={"tracking": "SF 123456"}, headers=H
    )
    assert shipped.status_code == 200 and shipped.json()["status"] == "shipped", shipped.text
    assert shipped.json()["tracking"] == "SF 123456"
    assert_error(
        await client.put(url(won), json=ADDRESS, headers=bearer("alice")), 409, "already_shipped"
    )
    assert_error(
        await client.post(f"/v1/admin/deliveries/{won}/ship", json={"tracking": "x"}, headers=H),
        409,
        "already_shipped",
    )
    export = await client.get(f"/v1/admin/activities/{aid}/winners?format=csv", headers=H)
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["delivery"], r["tracking"]) for r in rows] == [("shipped", "SF 123456")]
    svc: Services = client._transport.app.state.services  # type: ignore[attr-defined]
    trail = await svc.operators.audit(
        actor=None, action="delivery.shipped", activity_id=aid, before_id=None, limit=10
    )
    assert len(trail) == 1


async def test_nobody_else_gives_an_address(make_service: ServiceFactory, http: Http) -> None:
    client, aid, won, lost = await won_physical(make_service, http)
    assert_error(
        await client.put(url(won), json=ADDRESS, headers=bearer("mallory")), 404, "draw_not_found"
    )
    assert_error(
        await client.put(url(lost), json=ADDRESS, headers=bearer("alice")), 404, "draw_not_found"
    )
    assert_error(
        await client.put(url("9:20300601:0:1"), json=ADDRESS, headers=bearer("alice")), 404
    )
    assert_error(await client.put(url(won), json=ADDRESS), 401)
    for bad in (
        {**ADDRESS, "phone": "call me"},
        {**ADDRESS, "name": ""},
        {**ADDRESS, "address": "x"},
        {"name": "a", "phone": "123"},
        {**ADDRESS, "extra": 1},
    ):
        assert_error(await client.put(url(won), json=bad, headers=bearer("alice")), 422)
    listed = (await client.get(f"/v1/admin/activities/{aid}/deliveries", headers=H)).json()
    assert listed["deliveries"][0]["delivery"]["status"] == "awaiting_address"  # nothing changed
    svc: Services = client._transport.app.state.services  # type: ignore[attr-defined]
    name = f"viewer-{id(svc) % 100_000}"
    await svc.operators.ensure(name, "correct horse battery", "viewer", BY)
    _, viewer = await svc.operators.create_token(name, "admin:viewer", Actor(name))
    v = {"Authorization": f"Bearer {viewer}"}
    assert_error(await client.get(f"/v1/admin/activities/{aid}/deliveries", headers=v), 403)
    assert_error(
        await client.post(f"/v1/admin/deliveries/{won}/ship", json={"tracking": "x"}, headers=v),
        403,
    )
    assert (
        await client.get("/v1/admin/users/alice", headers=v)
    ).status_code == 200  # a viewer reads


async def test_addresses_and_shipping_at_once(make_service: ServiceFactory, http: Http) -> None:
    client, _, won, _ = await won_physical(make_service, http)
    given = await burst(
        *[
            lambda i=i: client.put(
                url(won), json={**ADDRESS, "name": f"Li {i}"}, headers=bearer("alice")
            )
            for i in range(20)
        ]
    )
    assert {a.status_code for a in given} == {200}
    ships = await burst(
        *[
            lambda: client.post(
                f"/v1/admin/deliveries/{won}/ship", json={"tracking": "SF"}, headers=H
            )
        ]
        * 20
    )
    assert codes(ships)[(200, None)] == 1
    assert set(codes(ships)) <= {(200, None), (409, "already_shipped")}
    late = await burst(*[lambda: client.put(url(won), json=ADDRESS, headers=bearer("alice"))] * 5)
    assert set(codes(late)) == {(409, "already_shipped")}


async def test_user_lookup_for_a_dispute(make_service: ServiceFactory, http: Http) -> None:
    client, aid, won, lost = await won_physical(make_service, http, "disputer")
    await client.put(url(won), json=ADDRESS, headers=bearer("disputer"))
    await client.post(
        "/v1/admin/blacklist",
        json={"kind": "user", "value": "disputer", "reason": "chargeback"},
        headers=H,
    )
    got = await client.get("/v1/admin/users/disputer", headers=H)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["user_id"] == "disputer" and body["blacklisted"] is True
    assert body["blacklist_reason"] == "chargeback"
    assert [d["draw_id"] for d in body["draws"]] == [lost, won]  # newest first
    assert body["wins"] == 1
    assert body["draws"][1]["delivery"] == "address_given" and "delivery" not in body["draws"][0]
    assert body["draws"][1]["verify_url"] == f"/verify?draw={won}"
    assert (
        body["draws"][1]["proof"]["nonce"] == 1 and len(body["draws"][1]["proof"]["random"]) == 40
    )
    assert body["limits"] == [
        {
            "activity_id": aid,
            "round": 2,
            "day": 0,
            "total": 0,
            "wins": 0,
            "per_round": 5,
            "per_day": 0,
            "per_total": 0,
            "wins_total": 0,
        }
    ]
    nobody = (await client.get("/v1/admin/users/nobody", headers=H)).json()
    assert nobody["draws"] == [] and nobody["blacklisted"] is False and nobody["limits"] == []
    assert_error(await client.get("/v1/admin/users/disputer", headers=bearer("disputer")), 403)
