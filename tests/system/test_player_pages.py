"""Players' pages of issue 25 in Chromium: what a win gives (the prize in the
player's language with its code and how to redeem it, the delivery address
of a physical prize, rounds named by campaign and time) and ``/lotteries``
(the player's lotteries and the form to create one); desktop and phone,
English and Chinese."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.system.browser import (
    ADMIN,
    LANGS,
    accessible,
    all_day,
    opened,
    player_token,
    say,
    shoot,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = {"en": "Gift rain", "zh-CN": "礼物雨"}
COUPON = {"en": "Tea coupon", "zh-CN": "奶茶券"}
LAMP = {"en": "Desk lamp", "zh-CN": "台灯"}
HINT = {"en": "Show the code at any Tea House.", "zh-CN": "在任意茶馆出示兑换码即可。"}


async def campaign(server: str, prize: dict[str, Any], codes: list[str] | None = None) -> int:
    cfg = all_day([prize], name=NAME, redeem_hint=HINT, limits={"per_round": 1}, days=1)
    async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
        resp = await c.post("/v1/admin/activities", json=cfg)
        assert resp.status_code == 201, resp.text
        aid: int = resp.json()["id"]
        if codes:
            up = await c.post(
                f"/v1/admin/activities/{aid}/prizes/{prize['key']}/codes", json={"codes": codes}
            )
            assert up.status_code == 200, up.text
        assert (await c.post(f"/v1/admin/activities/{aid}/publish")).status_code == 200
    return aid


@pytest.mark.parametrize("lang", LANGS)
async def test_a_coded_win_and_a_physical_win(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    coupon = {
        "key": "tea",
        "type": "coupon",
        "name": COUPON,
        "value": "TEA",
        "quantity": 5,
        "probability": 1.0,
    }
    coded = await campaign(server, coupon, [f"TEA-{lang}-{i}" for i in range(5)])
    lamp = {
        "key": "lamp",
        "type": "physical",
        "name": LAMP,
        "value": "SKU-1",
        "quantity": 5,
        "probability": 1.0,
    }
    physical = await campaign(server, lamp)
    for phone in (False, True):
        device = "phone" if phone else "desktop"
        user = f"winner-{lang}-{device}"
        token = await player_token(server, user)
        async with opened(browser, lang=lang, phone=phone) as (context, page, watch):
            await context.grant_permissions(["clipboard-read", "clipboard-write"])
            await page.goto(f"{server}/play/{coded}?lang={lang}#token={token}")
            await expect(page.locator("h1")).to_have_text(NAME[lang])
            await expect(page.locator("#who")).not_to_be_empty()
            await page.locator("#grab").click()
            pop = page.locator("#pop")
            await expect(pop).to_be_visible(timeout=10_000)
            await expect(page.locator("#pop-prize")).to_have_text(COUPON[lang])
            code = await page.locator("#pop-code-text").inner_text()
            assert code.startswith(f"TEA-{lang}-")
            await expect(page.locator("#pop-note")).to_have_text(HINT[lang])
            await expect(page.locator("#pop-address")).to_be_hidden()
            await accessible(page)
            await shoot(page, artifacts, f"win-code-{lang}-{device}", full=False)
            if not phone:
                await page.locator("#pop-copy").click()
                assert await page.evaluate("() => navigator.clipboard.readText()") == code
            await page.locator("#pop-close").click()
            row = page.locator("#results .result.won")
            await expect(row).to_contain_text(COUPON[lang])
            await expect(row.locator(".prize-code")).to_have_text(code)
            await expect(row.locator(".meta")).to_contain_text(NAME[lang])
            await expect(row.locator(".meta")).not_to_contain_text(  # no round id
                re.compile(rf"{coded}:\d{{8}}:\d")
            )
            href = await row.locator("a.verify").get_attribute("href")
            assert href is not None and href.startswith("/verify?draw=")
            watch.expect()

        async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
            await page.goto(f"{server}/play/{physical}?lang={lang}#token={token}")
            await expect(page.locator("#who")).not_to_be_empty()
            await page.locator("#grab").click()
            form = page.locator("#pop-address")
            await expect(form).to_be_visible(timeout=10_000)
            await expect(page.locator("#pop-prize")).to_have_text(LAMP[lang])
            await page.locator(
                "#pop-address button[type=submit]"
            ).click()  # empty: the browser says so
            await expect(page.locator("#addr-name")).to_have_js_property("validity.valid", False)
            await page.locator("#addr-name").fill("Lin Wei" if lang == "en" else "林伟")
            await page.locator("#addr-phone").fill("+86 138 0000 0000")
            await page.locator("#addr-address").fill(
                "1 Garden Road, Shanghai" if lang == "en" else "上海市花园路1号"
            )
            await shoot(page, artifacts, f"win-address-{lang}-{device}", full=False)
            await page.locator("#pop-address button[type=submit]").click()
            await expect(page.locator("#pop-address-msg")).to_have_text(say(lang, "address_saved"))
            await accessible(page)
            await page.locator("#pop-close").click()
            row = page.locator("#results .result.won")
            await expect(row.locator(".delivery")).to_contain_text(
                say(lang, "delivery_address_given")
            )
            await shoot(page, artifacts, f"win-address-given-{lang}-{device}")
            watch.expect("status of 404")  # the page asked before the worker saved the win
        async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
            got = (await c.get(f"/v1/admin/users/{user}")).json()
            assert any(d.get("delivery") == "address_given" for d in got["draws"]), got


LOTTERY_TEXT = {
    "en": {"title": "Team lunch raffle", "prize": "Lunch voucher", "need": "Give it a title."},
    "zh-CN": {"title": "团队午餐抽奖", "prize": "午餐券", "need": "请填写标题。"},
}


@pytest.mark.parametrize("lang", LANGS)
async def test_my_lotteries_and_creating_one(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    text = LOTTERY_TEXT[lang]
    for phone in (False, True):
        device = "phone" if phone else "desktop"
        token = await player_token(server, f"lister-{lang}-{device}")
        async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
            await page.goto(f"{server}/")
            await page.locator('a[href="/lotteries"]').click()
            await expect(page).to_have_url(f"{server}/lotteries")
            await expect(page.locator("#signin")).to_be_visible()  # signed out: who are you?
            await page.goto(f"{server}/lotteries?lang={lang}#token={token}")
            await expect(page.locator("#mine-empty")).to_be_visible()
            await expect(page.locator("#create")).to_be_visible()
            await expect(page.locator(".bar nav a[href='/console']")).to_have_count(0)
            await page.locator("#create button[type=submit]").click()  # nothing filled in
            await expect(page.locator("#lt-title-error")).to_have_text(text["need"])
            await expect(page.locator("#lt-title")).to_be_focused()
            await accessible(page)
            await shoot(page, artifacts, f"lotteries-{lang}-{device}-empty")
            await page.locator("#lt-title").fill(text["title"])
            await page.locator("#lt-prize").fill(text["prize"])
            await page.locator("#lt-quantity").fill("3")
            await page.locator("#create button[type=submit]").click()
            await expect(page).to_have_url(re.compile(rf"{server}/lotteries/\d+"))
            await expect(page.locator("h1")).to_have_text(text["title"])
            await page.goto(f"{server}/lotteries?lang={lang}")  # the token stays in the browser
            item = page.locator("#mine li.mine-item")
            await expect(item).to_have_count(1)
            await expect(item).to_contain_text(text["title"])
            await expect(item).to_contain_text(text["prize"])
            await accessible(page)
            await shoot(page, artifacts, f"lotteries-{lang}-{device}")
            watch.expect()
