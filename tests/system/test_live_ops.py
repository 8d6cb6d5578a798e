"""Running a live campaign in Chromium (issue 25): the console's emergency
stop with its confirmation, and what a player sees while it holds and once it
is lifted; screenshots on a desktop and a phone, in English and Chinese."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from app.http import i18n
from tests.system.browser import *  # noqa: F403
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
