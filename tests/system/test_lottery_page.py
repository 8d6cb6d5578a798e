"""/lotteries/{id}: a scheduled lottery in Chromium, in both languages on a
desktop and a phone. Two players join and leave and see the count change; the
creator cancels and deletes another lottery; then the lottery is drawn and
both see the result.

A lottery's draw_at is at least two minutes ahead, and the embedded server's
worker draws it when its clock reaches draw_at. Rather than wait, the test
does what REDRAIN_CLOCK_OFFSET is for: it stops the server and starts another
on the same database (and secret) with its clock moved to seconds before the
draw. Nothing is written behind the server's back."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.helpers import running_server
from tests.system.browser import accessible, opened, player_token, shoot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CREATOR, FRIEND = "lena_chen", "max_wu"  # masked as "le***n" and "m***"
TEXT = {
    "en": {"open": "Open", "drawing": "Closed", "drawn": "Drawn", "canceled": "Canceled",
           "won": "You won", "lost": "Not this time", "in": "You are in", "deleted": "Deleted"},
    "zh-CN": {"open": "进行中", "drawing": "已截止", "drawn": "已开奖", "canceled": "已取消",
              "won": "恭喜您中奖", "lost": "很遗憾", "in": "您已参与", "deleted": "已删除"},
}  # fmt: skip


def _env(tmp: Path, offset: float = 0.0) -> dict[str, str]:
    return {
        "REDRAIN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'lotteries.db'}",
        "REDRAIN_SECRET_KEY": "lottery-page-test-" + "k" * 32,
        "REDRAIN_CLOCK_OFFSET": f"{offset:.3f}",
    }


async def _create(server: str, token: str, title: str, draw_at: dt.datetime) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server) as c:
        resp = await c.post(
            "/v1/lotteries",
            json={
                "title": title,
                "draw_at": draw_at.isoformat().replace("+00:00", "Z"),
                "prize": {"name": "Lucky bag", "quantity": 1},
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        assert body["status"] == "open"
        return body


async def _visit(page: Page, server: str, lid: int, lang: str, token: str | None) -> None:
    fragment = f"#token={token}" if token else ""
    await page.goto(f"{server}/lotteries/{lid}?lang={lang}{fragment}")


async def test_join_leave_share_cancel_and_the_result(
    browser: Browser, artifacts: Path, tmp_path: Path
) -> None:
    tmp = tmp_path
    draw_at = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)).replace(microsecond=0)
    with running_server(_env(tmp), tmp / "before.log") as server:
        lena, max_ = await player_token(server, CREATOR), await player_token(server, FRIEND)
        lid = (await _create(server, lena, "Team lunch raffle 🎁", draw_at))["id"]

        # The creator joins: the count goes to 1; nobody else's page has changed yet.
        async with opened(browser, lang="en") as (_, page, watch):
            await _visit(page, server, lid, "en", lena)
            await expect(page.locator("h1")).to_have_text("Team lunch raffle 🎁")
            await expect(page.locator("#status")).to_contain_text(TEXT["en"]["open"])
            await expect(page.locator("#participants")).to_have_text("0")
            await expect(page.locator("#countdown")).to_contain_text(":")  # ~3:00 left
            await expect(page.locator("#delete")).to_be_visible()  # open and empty
            await page.locator("#join").click()
            await expect(page.locator("#participants")).to_have_text("1")
            await expect(page.locator("#actions")).to_contain_text(TEXT["en"]["in"])
            await expect(page.locator("#delete")).to_have_count(0)  # it has a participant
            await expect(page.locator("#leave")).to_be_focused()  # the keyboard stays put
            watch.expect()

        # A friend joins and leaves and joins again from a phone.
        async with opened(browser, lang="zh-CN", phone=True) as (_, page, watch):
            await _visit(page, server, lid, "zh-CN", max_)
            await expect(page.locator("#participants")).to_have_text("1")
            await expect(page.locator("#cancel")).to_have_count(0)  # not the creator
            await page.locator("#join").click()
            await expect(page.locator("#participants")).to_have_text("2")
            await page.locator("#leave").click()
            await expect(page.locator("#participants")).to_have_text("1")
            await expect(page.locator("#join")).to_be_visible()
            await page.locator("#join").press("Enter")  # and by keyboard
            await expect(page.locator("#participants")).to_have_text("2")
            watch.expect()

        # Both languages on both screens: the creator, the friend, someone signed out.
        viewers = {("en", False): lena, ("zh-CN", False): lena, ("en", True): max_,
                   ("zh-CN", True): None}  # fmt: skip
        for (lang, phone), token in viewers.items():
            async with opened(browser, lang=lang, phone=phone) as (context, page, watch):
                await context.grant_permissions(["clipboard-read", "clipboard-write"])
                await _visit(page, server, lid, lang, token)
                await expect(page.locator("#participants")).to_have_text("2")
                if token is None:
                    await expect(page.locator("#signin")).to_be_visible()
                    await expect(page.locator("#join")).to_have_count(0)
                else:
                    await expect(page.locator("#actions")).to_contain_text(TEXT[lang]["in"])
                await expect(page.locator("#share-link")).to_have_value(f"{server}/lotteries/{lid}")
                await accessible(page)
                await shoot(page, artifacts, f"lottery-{lang}-{'phone' if phone else 'desktop'}")
                if not phone:
                    await page.locator("#copy").click()
                    await expect(page.locator("#toast")).to_have_class("show")
                    copied = await page.evaluate("() => navigator.clipboard.readText()")
                    assert copied == f"{server}/lotteries/{lid}"
                watch.expect()

        # The creator cancels another lottery, then deletes it.
        other = (await _create(server, lena, "Canceled raffle", draw_at))["id"]
        async with opened(browser, lang="en", phone=True) as (_, page, watch):
            await _visit(page, server, other, "en", lena)
            await page.locator("#cancel").click()
            await expect(page.locator("#confirm")).to_be_visible()
            await expect(page.locator("#confirm-no")).to_be_focused()
            await page.locator("#confirm-no").click()  # changed their mind
            await expect(page.locator("#status")).to_contain_text(TEXT["en"]["open"])
            await page.locator("#cancel").click()
            await page.locator("#confirm-yes").click()
            await expect(page.locator("#status")).to_contain_text(TEXT["en"]["canceled"])
            await expect(page.locator("#join")).to_have_count(0)
            await expect(page.locator(".share")).to_be_hidden()
            await expect(page.locator("#toast")).not_to_have_class("show")
            await accessible(page)
            await shoot(page, artifacts, "lottery-en-phone-canceled")
            await page.locator("#delete").click()
            await page.locator("#confirm-yes").click()
            await expect(page.locator("#status")).to_have_text(TEXT["en"]["deleted"])
            resp = await page.goto(f"{server}/lotteries/{other}")
            assert resp is not None and resp.status == 404
            watch.expect("404")

    # The same database, the clock moved to seconds before the draw.
    offset = (draw_at - dt.datetime.now(dt.UTC)).total_seconds() - 20
    with running_server(_env(tmp, offset), tmp / "after.log") as server:
        async with (
            opened(browser, lang="en") as (_, lena_page, lena_watch),
            opened(browser, lang="zh-CN", phone=True) as (_, max_page, max_watch),
        ):
            await _visit(lena_page, server, lid, "en", lena)
            await _visit(max_page, server, lid, "zh-CN", max_)
            for page, lang in ((lena_page, "en"), (max_page, "zh-CN")):
                await expect(page.locator("#status")).to_contain_text(TEXT[lang]["drawing"])
                await expect(page.locator("#join")).to_have_count(0)
                await expect(page.locator("#leave")).to_have_count(0)
            await shoot(lena_page, artifacts, "lottery-en-desktop-drawing")
            # The page polls; the worker draws at draw_at (~15 s from now).
            started = time.monotonic()
            for page, lang in ((lena_page, "en"), (max_page, "zh-CN")):
                await expect(page.locator("#status")).to_contain_text(
                    TEXT[lang]["drawn"], timeout=40_000
                )
                await expect(page.locator(".winners li")).to_have_count(1)
            assert time.monotonic() - started < 45
            headlines = [
                await p.locator("#result .headline").inner_text() for p in (lena_page, max_page)
            ]
            won = [
                TEXT[lang]["won"] in h for h, lang in zip(headlines, ("en", "zh-CN"), strict=True)
            ]
            lost = [
                TEXT[lang]["lost"] in h for h, lang in zip(headlines, ("en", "zh-CN"), strict=True)
            ]
            assert sorted(won) == [False, True] and [not w for w in won] == lost, headlines
            await expect(lena_page.locator("#seed")).not_to_have_text("revealed after the draw")
            winner = CREATOR if won[0] else FRIEND
            masked = f"{winner[:2]}***{winner[-1]}" if len(winner) > 8 else f"{winner[0]}***"
            await expect(max_page.locator(".winners li")).to_have_text(masked)
            for page, name in (
                (lena_page, "lottery-en-desktop-drawn"),
                (max_page, "lottery-zh-CN-phone-drawn"),
            ):
                await accessible(page)
                await shoot(page, artifacts, name)
            lena_watch.expect()
            max_watch.expect()
