"""Running a live campaign in Chromium (issue 25): the console's emergency
stop with its confirmation, and what a player sees while it holds and once it
is lifted; screenshots on a desktop and a phone, in English and Chinese."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from app.http import i18n
from tests.system.browser import (
    ADMIN,
    DESKTOP,
    LANGS,
    OPERATOR,
    PHONE,
    accessible,
    all_day,
    gift,
    opened,
    player_token,
    publish,
    say,
    shoot,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def console_says(lang: str, key: str, **values: object) -> str:
    text: str = i18n.section(lang, "console")[key]
    return text.format(**values) if values else text


@pytest.mark.parametrize("lang", LANGS)
async def test_pause_from_the_console_and_what_players_see(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    aid = await publish(server, all_day([gift("g", 50, 0.3)], name=f"Paused rain {lang}"))
    token = await player_token(server, f"pauser-{lang}")
    async with opened(browser, lang=lang) as (_, page, watch):
        await page.goto(f"{server}/console#/live/{aid}")
        await page.fill("#username", OPERATOR[0])
        await page.fill("#password", OPERATOR[1])
        await page.click("#login button[type=submit]")
        await expect(page.locator("#pause")).to_be_visible()
        await expect(page.locator("#live-paused")).to_be_hidden()
        await page.click("#pause")
        dialog = page.locator("#confirm-dialog")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text(console_says(lang, "pause_what"))
        await expect(page.locator("#confirm-no")).to_be_focused()  # a stop is never one Enter away
        await shoot(page, artifacts, f"console-pause-confirm-{lang}-desktop", full=False)
        await page.click("#confirm-no")
        async with httpx.AsyncClient(base_url=server) as c:
            assert (await c.get(f"/v1/activities/{aid}")).json()["paused"] is False
        await page.click("#pause")
        await page.click("#confirm-yes")
        await expect(page.locator("#live-paused")).to_be_visible()
        await expect(page.locator("#resume")).to_be_visible()
        await accessible(page)
        await shoot(page, artifacts, f"console-paused-{lang}-desktop", full=False)
        await page.set_viewport_size(PHONE)
        await shoot(page, artifacts, f"console-paused-{lang}-phone", full=False)
        await page.set_viewport_size(DESKTOP)
        watch.expect()

    for phone in (False, True):
        device = "phone" if phone else "desktop"
        async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
            await page.goto(f"{server}/play/{aid}?lang={lang}#token={token}")
            await expect(page.locator("#status")).to_have_text(say(lang, "status_paused"))
            await expect(page.locator("#notice-text")).to_have_text(say(lang, "notice_paused"))
            await expect(page.locator("#chances")).to_have_text("0")
            await shoot(page, artifacts, f"play-paused-{lang}-{device}", full=False)
            if phone:
                break
            watch.expect()
    # Lifted from the console: the open page carries on by itself.
    async with opened(browser, lang=lang) as (_, player, _watch):
        await player.goto(f"{server}/play/{aid}?lang={lang}#token={token}")
        await expect(player.locator("#status")).to_have_text(say(lang, "status_paused"))
        async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
            resumed = await c.post(f"/v1/admin/activities/{aid}/resume")
            assert resumed.status_code == 200 and resumed.json()["paused"] is False
            audit = await c.get(f"/v1/admin/audit?activity_id={aid}")
            actions = [e["action"] for e in audit.json()["entries"]]
            assert actions.count("activity.pause") == 1 and actions.count("activity.resume") == 1
        await expect(player.locator("#status")).to_have_text(
            say(lang, "status_open"), timeout=10_000
        )
        assert json.loads(await player.evaluate("() => JSON.stringify(document.body.dataset)"))[
            "paused"
        ] in ("", None)


@pytest.mark.parametrize("lang", LANGS)
async def test_codes_deliveries_and_the_user_lookup_in_the_console(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    """After publish: upload codes with a confirmation, ship a physical prize
    whose winner gave an address, and look the winner up."""
    tea = {"key": "tea", "type": "coupon", "name": {"en": "Tea coupon", "zh-CN": "奶茶券"},
           "value": "TEA", "quantity": 2, "probability": 0.0}  # fmt: skip
    lamp = {"key": "lamp", "type": "physical", "name": {"en": "Desk lamp", "zh-CN": "台灯"},
            "value": "SKU-1", "quantity": 2, "probability": 0.5}  # fmt: skip
    # One round, whose 2 teas the 2 codes cover (loaded into it at publish);
    # the 3 uploaded later wait for rounds to come.
    cfg = all_day(
        [tea, lamp], name={"en": f"Ops rain {lang}", "zh-CN": f"运营红包雨 {lang}"}, days=1
    )
    async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
        made = await c.post("/v1/admin/activities", json=cfg)
        aid = made.json()["id"]
        up = await c.post(
            f"/v1/admin/activities/{aid}/prizes/tea/codes", json={"codes": ["T-1", "T-2"]}
        )
        assert up.status_code == 200, up.text
        assert (await c.post(f"/v1/admin/activities/{aid}/publish")).status_code == 200
    user = f"lamp-winner-{lang}"
    token = await player_token(server, user)
    async with httpx.AsyncClient(
        base_url=server, headers={"Authorization": f"Bearer {token}"}
    ) as c:
        won, answered, refused = None, 0, []
        # A lamp: 0.5 a draw, 20 draws a round. On a loaded machine the player's
        # 10 draws/s or the queue deadline refuse some taps (429, 503 with
        # Retry-After): wait as a game does and tap again.
        for i in range(60):
            resp = await c.post(
                "/v1/draw", json={"activity_id": aid}, headers={"Idempotency-Key": f"k{i}"}
            )
            if resp.status_code in (429, 503):
                refused.append(resp.json()["error"]["code"])
                await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                continue
            assert resp.status_code == 200, resp.text
            answered += 1
            d = resp.json()
            if d.get("won") and d["prize"]["key"] == "lamp":
                won = d
                break
        assert won is not None, (answered, refused)
        address = {
            "name": "Lin Wei",
            "phone": "+86 138 0000 0000",
            "address": "1 Garden Road, Shanghai",
        }
        for _ in range(50):  # once the worker has saved the win
            put = await c.put(f"/v1/me/draws/{won['draw_id']}/delivery", json=address)
            if put.status_code != 404:
                break
            await asyncio.sleep(0.2)
        assert put.status_code == 200, put.text

    for phone in (False, True):
        device = "phone" if phone else "desktop"
        async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
            await page.goto(f"{server}/console#/live/{aid}")
            await page.fill("#username", OPERATOR[0])
            await page.fill("#password", OPERATOR[1])
            await page.click("#login button[type=submit]")
            await expect(page.locator("#live-title")).to_contain_text(cfg["name"][lang])
            if not phone:
                await page.fill("#codes-text", "T-3\nT-4\nT-5")
                await expect(page.locator("#codes-hint")).to_have_text(
                    console_says(lang, "codes_count", n=3)
                )
                await page.click("#codes-form button[type=submit]")
                await expect(page.locator("#confirm-dialog")).to_contain_text(
                    console_says(lang, "codes_confirm", n=3)
                )
                await page.click("#confirm-yes")
                await expect(page.locator("#codes-result")).to_contain_text(
                    console_says(lang, "codes_added", added=3, available=3)
                )
                await page.fill("#codes-text", "T-5")  # again: refused, nothing added
                await page.click("#codes-form button[type=submit]")
                await page.click("#confirm-yes")
                await expect(page.locator("#codes-result")).to_have_text(
                    console_says(lang, "codes_duplicate")
                )
            # The daily report: today, and the total.
            await expect(page.locator("#report-table tbody tr")).to_have_count(2)
            await expect(page.locator("#report .report-bars .day")).to_have_count(1)
            if not phone:  # both exports save a file through the one downloader
                for button, name in (
                    ("#report-csv", f"report-{aid}.csv"),
                    ("#export", f"winners-{aid}.csv"),
                ):
                    async with page.expect_download() as saving:
                        await page.click(button)
                    saved = await saving.value
                    assert saved.suggested_filename == name
                    assert (await saved.path()).read_text().startswith(("day,", "draw_id,"))
            row = page.locator(f'#deliveries-list tr[data-draw="{won["draw_id"]}"]')
            await expect(row).to_contain_text(console_says(lang, "delivery_address_given"))
            await expect(row).to_contain_text("1 Garden Road")
            await expect(row).to_contain_text(lamp["name"][lang])  # in the console's language
            await page.locator("#live-after").scroll_into_view_if_needed()
            await accessible(page)
            await shoot(page, artifacts, f"console-after-publish-{lang}-{device}")
            if phone:
                await row.locator("input[name=tracking]").fill(f"SF{lang}123")
                await row.locator("button[type=submit]").click()
                await expect(row).to_contain_text(console_says(lang, "delivery_shipped"))
                await expect(row).to_contain_text(f"SF{lang}123")

            await row.locator(f'a[href="#/users/{user}"]').click()
            await expect(page.locator("#lookup-user")).to_have_value(user)
            drawn = page.locator(f'#lookup-draws tr[data-draw="{won["draw_id"]}"]')
            await expect(drawn).to_be_visible()
            await expect(page.locator("#lookup-blacklist")).to_have_text(
                console_says(lang, "lookup_clear")
            )
            await accessible(page)
            await shoot(page, artifacts, f"console-lookup-{lang}-{device}")
            watch.expect("status of 409")  # the duplicate upload the test provoked
