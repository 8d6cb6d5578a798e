"""The landing page, the API docs and the not-found page in Chromium, in both
languages on a desktop and a phone: screenshots, accessibility, no script
or CSP error."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.system.browser import LANGS, accessible, all_day, gift, opened, publish, shoot

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("lang", LANGS)
async def test_landing_links_the_games_console_and_docs(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    aid = await publish(server, all_day([gift("g", 5, 0.5)], name="Landing rain"))
    for phone in (False, True):
        async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
            await page.goto(f"{server}/")
            tile = page.locator(f'a[href="/play/{aid}"]')
            await expect(tile).to_contain_text("Landing rain")
            await expect(tile).to_contain_text("红包雨" if lang == "zh-CN" else "Red envelope rain")
            for href in ("/console", "/verify", "/docs"):
                await expect(page.locator(f'main a[href="{href}"]')).to_have_count(1)
            await accessible(page)
            await shoot(page, artifacts, f"landing-{lang}-{'phone' if phone else 'desktop'}")
            watch.expect()


@pytest.mark.parametrize("lang", LANGS)
async def test_docs_render_the_openapi_document(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    async with opened(browser, lang=lang) as (_, page, watch):
        await page.goto(f"{server}/docs")
        await expect(
            page.locator(".opblock-summary-path", has_text="/v1/draw").first
        ).to_be_visible(timeout=15_000)
        heading = "redrain API"
        await expect(page.locator("h1").first).to_have_text(heading)
        await accessible(page, exclude=("#swagger",))  # Swagger UI's own markup is upstream's
        await shoot(page, artifacts, f"docs-{lang}-desktop", full=False)
        watch.expect()


@pytest.mark.parametrize("lang", LANGS)
async def test_a_missing_activity_says_so(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    async with opened(browser, lang=lang, phone=True) as (_, page, watch):
        resp = await page.goto(f"{server}/play/987654")
        assert resp is not None and resp.status == 404
        await expect(page.locator("h1")).to_have_text(
            "活动不存在" if lang == "zh-CN" else "No such activity"
        )
        await accessible(page)
        await shoot(page, artifacts, f"missing-{lang}-phone")
        watch.expect("404")
