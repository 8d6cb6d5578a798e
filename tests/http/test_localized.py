"""Names, descriptions and the redeem hint in several languages (issue 25,
SPEC §1), end to end on real Redis + MariaDB and on fakeredis + SQLite: the
API gives them back as configured, the ledger and exports keep the first
language, the pages show the player's language."""

from __future__ import annotations

from typing import Any

from app.jobs.worker import Worker
from tests.conftest import ServiceFactory
from tests.helpers import DAY, local, offset_to, prize, rain
from tests.http.test_codes import H, made, services
from tests.http.test_concurrent_writes import Http
from tests.http.test_http import assert_error, bearer

NAME = {"en": "Red rain", "zh-CN": "红包雨"}
GOLD = {"en": "Gold coin", "zh-CN": "金币"}
HINT = {"en": "Open My coupons", "zh-CN": "打开我的优惠券"}


def config(**extra: Any) -> dict[str, Any]:
    return rain(
        [prize("g", 5, 1.0, name=GOLD, description={"en": "Shiny", "zh-CN": "闪亮"})],
        name=NAME,
        description={"en": "Every hour", "zh-CN": "每小时一场"},
        redeem_hint=HINT,
        limits={"per_round": 3},
        **extra,
    )


async def test_the_api_keeps_every_language_and_the_ledger_the_first(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service(offset_to(local(DAY, 10, 5))))
    aid = await made(client, config())
    admin = (await client.get(f"/v1/admin/activities/{aid}", headers=H)).json()
    assert admin["name"] == NAME and admin["redeem_hint"] == HINT
    listed = (await client.get("/v1/admin/activities", headers=H)).json()
    assert any(a["id"] == aid and a["name"] == NAME for a in listed["activities"])
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)).status_code == 200

    public = (await client.get(f"/v1/activities/{aid}")).json()
    assert public["name"] == NAME and public["redeem_hint"] == HINT
    assert public["sessions"][0]["pools"][0]["prizes"][0]["name"] == GOLD
    won = await client.post(
        "/v1/draw", json={"activity_id": aid}, headers={**bearer("lin"), "Idempotency-Key": "a"}
    )
    assert won.status_code == 200, won.text
    assert won.json()["prize"]["name"] == GOLD

    svc = services(client)
    await Worker.wired(svc.settings, svc.redis, svc.db, name="w").drain(30)
    history = (await client.get("/v1/me/draws", headers=bearer("lin"))).json()["draws"]
    assert history[0]["prize"]["name"] == "Gold coin"  # the ledger's column: the first given
    export = await client.get(f"/v1/admin/activities/{aid}/winners?format=csv", headers=H)
    assert "Gold coin" in export.text and "{" not in export.text
    notices = (await client.get("/v1/me/notifications", headers=bearer("lin"))).json()
    assert notices["notifications"][0]["prize"]["name"] == GOLD

    for lang, title, blurb in (("zh-CN", "红包雨", "每小时一场"), ("en", "Red rain", "Every hour")):
        page = await client.get(f"/play/{aid}?lang={lang}")
        assert page.status_code == 200
        assert f">{title}<" in page.text and blurb in page.text
        assert "Red rain" not in page.text if lang == "zh-CN" else "红包雨" not in page.text
    landing = await client.get("/?lang=zh-CN")
    assert "红包雨" in landing.text


async def test_a_bad_language_is_refused_at_its_field_and_changes_nothing(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service(offset_to(local(DAY, 9, 0))))
    aid = await made(client, config())
    before = (await client.get(f"/v1/admin/activities/{aid}", headers=H)).json()
    for bad, field in (
        ({"en": ""}, "name.en"),
        ({"English": "x"}, "name"),
        ({}, "name"),
        (["Red rain"], "name"),
    ):
        resp = await client.put(
            f"/v1/admin/activities/{aid}", json=config() | {"name": bad}, headers=H
        )
        assert_error(resp, 422, "validation_error")
        assert resp.json()["error"]["field"] == field, resp.text
    after = (await client.get(f"/v1/admin/activities/{aid}", headers=H)).json()
    assert after == before


async def test_a_started_activity_may_change_its_texts_in_every_language(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service(offset_to(local(DAY, 10, 5))))
    aid = await made(client, config())
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)).status_code == 200
    renamed = config()
    renamed["name"] = {"en": "Red rain!", "zh-CN": "红包雨！"}
    renamed["redeem_hint"] = "See the app"
    renamed["sessions"][0]["pools"][0]["prizes"][0]["description"] = "Very shiny"
    resp = await client.put(f"/v1/admin/activities/{aid}", json=renamed, headers=H)
    assert resp.status_code == 200, resp.text
