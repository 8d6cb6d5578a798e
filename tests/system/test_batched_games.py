"""Several draws in one request on the players' games (SPEC §3 "count", §10):
the rain sends the taps of a quarter second as one request and shows each
envelope's own result; the wheel and the nine-grid offer "×N" and show the N
results one after another. In Chromium, both languages, desktop and phone,
with axe-core and screenshots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Request, expect

from tests.system import test_games as games
from tests.system.browser import (
    LANGS,
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

NAMES = {
    "en": {
        "rain": "Lantern rain",
        "red": "6.66 yuan",
        "wheel": "Ten-pull wheel",
        "film": "Movie ticket",
        "grid": "Nine-square pull",
        "tea": "Tea cup",
    },
    "zh-CN": {
        "rain": "元宵红包雨",
        "red": "6.66元红包",
        "wheel": "十连抽大转盘",
        "film": "电影票",
        "grid": "九宫格连抽",
        "tea": "茶杯",
    },
}


def bodies(posted: list[Request]) -> list[dict[str, Any]]:
    return [r.post_data_json for r in posted]


async def play(page: Page, server: str, aid: int, user: str, lang: str) -> None:
    await games.play(page, server, aid, await player_token(server, user), lang)


async def tap_drops(page: Page, n: int) -> None:
    """n taps on n falling envelopes within a few milliseconds (one window)."""
    await expect(page.locator(".sky .drop:not(.opened)").nth(n - 1)).to_be_attached()
    await page.evaluate(
        """(n) => [...document.querySelectorAll('.sky .drop:not(.opened)')].slice(0, n)
             .forEach((d) => d.dispatchEvent(new PointerEvent('pointerdown', {bubbles: true})))""",
        n,
    )


# -- rain ---------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "phone"), [("en", False), ("zh-CN", True)])
async def test_rain_sends_a_quarter_second_of_taps_as_one_request(
    server: str, browser: Browser, artifacts: Path, lang: str, phone: bool
) -> None:
    n = NAMES[lang]
    cfg = all_day(
        [gift("red", 2, 1.0, n["red"])],
        name=n["rain"],
        limits={"per_round": 6},
        stop_when_sold_out=False,
    )
    aid = await publish(server, cfg)
    motion = "reduce" if phone else "no-preference"
    async with opened(browser, lang=lang, phone=phone, reduced_motion=motion) as (_, page, watch):
        posted = games.draws_posted(page)
        await play(page, server, aid, f"batch-rain-{lang}", lang)
        await expect(page.locator("#chances")).to_have_text("6")
        await tap_drops(page, 4)
        # Each envelope shows its own draw: two units of stock, then empty ones.
        await expect(page.locator(".sky .drop .got")).to_have_count(4)
        await expect(page.locator(".sky .drop.won .got")).to_have_text([n["red"]] * 2)
        await expect(page.locator(".sky .drop.lost .got")).to_have_count(2)
        await expect(page.locator(".sky .catch.won strong")).to_have_text(f"{n['red']} ×2")
        await shoot(page, artifacts, f"play-rain-batch-{lang}-{'phone' if phone else 'desktop'}")
        assert bodies(posted) == [
            {"activity_id": aid, "client_seed": bodies(posted)[0]["client_seed"], "count": 4}
        ]
        await expect(page.locator("#outcome")).to_have_text(
            say(lang, "batch_won", n=2, of=4, prizes=f"{n['red']} ×2")
        )
        await expect(page.locator("#chances")).to_have_text("2")
        results = page.locator("#results .result")
        await expect(results).to_have_count(4)
        await expect(page.locator("#results .result.won")).to_have_count(2)
        # The newest first: the batch's draws by their nonce, 4 down to 1.
        links = [await a.get_attribute("href") for a in await results.locator("a.verify").all()]
        assert [re.sub(r".*%3A", "", h or "") for h in links] == ["4", "3", "2", "1"]
        # Three more taps with two chances left: the third is held, two are sent.
        await tap_drops(page, 3)
        await expect(page.locator("#results .result")).to_have_count(6)
        assert [b.get("count") for b in bodies(posted)] == [4, 2]
        await expect(page.locator("#chances")).to_have_text("0")
        await expect(page.locator("#notice-text")).to_have_text(say(lang, "err_round_limit"))
        await accessible(page)
        watch.expect()


async def test_a_batch_stopped_by_the_last_envelope_says_so(
    server: str, browser: Browser, artifacts: Path
) -> None:
    # The default for a time activity: sold out stops the draws. Two units,
    # four taps: two envelopes win, the other two were never drawn.
    aid = await publish(server, all_day([gift("red", 2, 1.0)], limits={"per_round": 10}))
    async with opened(browser, lang="en") as (_, page, watch):
        posted = games.draws_posted(page)
        await play(page, server, aid, "batch-sold-out", "en")
        await tap_drops(page, 4)
        await expect(page.locator(".sky .drop.won")).to_have_count(2)
        await expect(page.locator(".sky .drop.refused")).to_have_count(2)
        await expect(page.locator("#results .result.won")).to_have_count(2)
        await expect(page.locator("#toast")).to_have_text(say("en", "sold_out_envelopes"))
        await expect(page.locator("#grab")).to_have_attribute("aria-disabled", "true")
        await expect(page.locator(".sky .drop:not(.opened)")).to_have_count(0)
        await expect(page.locator("#chances")).to_have_text("0")
        await shoot(page, artifacts, "play-rain-batch-en-sold-out")
        assert [b.get("count") for b in bodies(posted)] == [4]
        watch.expect()


# -- wheel and grid -----------------------------------------------------------------


def pull_prizes(lang: str, key: str) -> list[dict[str, Any]]:
    return [gift(key, 3, 1.0, NAMES[lang][key]), gift("none", 5, 0.0, "Never won")]


@pytest.mark.parametrize("lang", LANGS)
async def test_the_wheel_pulls_ten_and_shows_them_one_after_another(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    n = NAMES[lang]
    cfg = all_day(
        pull_prizes(lang, "film"),
        name=n["wheel"],
        display={"game": "wheel"},
        limits={"per_round": 12},
    )
    aid = await publish(server, cfg)
    motion = "reduce" if lang == "zh-CN" else "no-preference"
    async with opened(browser, lang=lang, reduced_motion=motion) as (_, page, watch):
        posted = games.draws_posted(page)
        await play(page, server, aid, f"pull-wheel-{lang}", lang)
        pull = page.locator("#pull")
        await expect(pull).to_have_text(say(lang, "ten_go", n=10))
        name = f"{say(lang, 'ten_go', n=10)}: {say(lang, 'ten_label', n=10)}"
        await expect(pull).to_have_accessible_name(name)
        await shoot(page, artifacts, f"play-wheel-pull-{lang}-desktop")
        await pull.click()
        slots = page.locator(".haul .slot")
        await expect(slots).to_have_count(10)
        # The results appear one after another, in the order drawn.
        if lang == "en":
            await expect(page.locator(".haul .slot.won").first).to_be_visible()
            await shoot(page, artifacts, f"play-wheel-pull-{lang}-revealing")
        pop = page.locator("#pop")
        await expect(pop).to_be_visible(timeout=20_000)
        await expect(page.locator("#pop-prize")).to_have_text(say(lang, "haul_won", n=3, of=10))
        await expect(page.locator("#pop-list li")).to_have_count(10)
        await expect(page.locator("#pop-list li.won")).to_have_count(3)
        await expect(page.locator("#pop-list li.won .what")).to_have_text([n["film"]] * 3)
        await expect(page.locator(".haul .slot.won")).to_have_count(3)
        await expect(page.locator(".haul .slot.lost")).to_have_count(7)
        await shoot(page, artifacts, f"play-wheel-pull-{lang}-haul")
        await page.locator("#pop-close").click()
        await expect(pop).to_be_hidden()
        await expect(page.locator("#chances")).to_have_text("2")
        await expect(page.locator("#results .result")).to_have_count(10)
        # Two chances left: the pull is "×2".
        await expect(pull).to_have_text(say(lang, "ten_go", n=2))
        await pull.click()
        await expect(pop).to_be_visible(timeout=20_000)
        await expect(page.locator("#pop-prize")).to_have_text(say(lang, "haul_lost", n=2))
        await page.locator("#pop-close").click()
        await expect(page.locator("#chances")).to_have_text("0")
        await expect(pull).to_have_attribute("aria-disabled", "true")
        await pull.focus()
        await page.keyboard.press("Enter")  # no chance left: said, nothing sent
        await expect(page.locator("#outcome")).to_have_text(say(lang, "err_round_limit"))
        assert [b.get("count") for b in bodies(posted)] == [10, 2]
        await accessible(page)
        watch.expect()
    async with opened(browser, lang=lang, phone=True) as (_, page, watch):
        await play(page, server, aid, f"pull-wheel-phone-{lang}", lang)
        await page.locator("#pull").click()
        await expect(page.locator("#pop")).to_be_visible(timeout=20_000)
        await accessible(page)
        await shoot(page, artifacts, f"play-wheel-pull-{lang}-phone")
        watch.expect()


@pytest.mark.parametrize("lang", LANGS)
async def test_the_grid_pulls_as_many_as_the_activity_allows(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    n = NAMES[lang]
    cfg = all_day(
        pull_prizes(lang, "tea"),
        name=n["grid"],
        display={"game": "grid"},
        limits={"per_round": 5},
        max_count=4,
    )
    aid = await publish(server, cfg)
    motion = "reduce" if lang == "en" else "no-preference"
    async with opened(browser, lang=lang, phone=lang == "zh-CN", reduced_motion=motion) as (
        _,
        page,
        watch,
    ):
        posted = games.draws_posted(page)
        await play(page, server, aid, f"pull-grid-{lang}", lang)
        pull = page.locator("#pull")
        await expect(pull).to_have_text(say(lang, "ten_go", n=4))
        await pull.focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#pop")).to_be_visible(timeout=20_000)
        await expect(page.locator(".haul .slot.won")).to_have_count(3)
        await expect(page.locator(".haul .slot.won .name")).to_have_text([n["tea"]] * 3)
        await expect(page.locator(".cell.lit")).to_be_visible()
        await shoot(
            page, artifacts, f"play-grid-pull-{lang}-{'phone' if lang == 'zh-CN' else 'desktop'}"
        )
        await page.keyboard.press("Enter")  # OK
        await expect(page.locator("#pop")).to_be_hidden()
        await expect(page.locator("#go small")).to_have_text(say(lang, "grid_left", n=1))
        # One chance left: the pull says to draw one at a time and sends nothing.
        await pull.focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#outcome")).to_have_text(say(lang, "ten_few"))
        assert [b.get("count") for b in bodies(posted)] == [4]
        await accessible(page)
        watch.expect()
