"""The console and the rain page in headless Chromium (Debian's ``chromium``,
driven by Playwright): sign in as an operator, create (with a validation error
first) and publish an activity, tap falling envelopes until a win, watch the
stock bar move, blacklist a user, read the audit trail, sign out; the console
on a phone. Screenshots go to the test artifacts directory."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from app.config import EMBEDDED_OPERATOR
from tests.helpers import running_server
from tests.system.browser import player_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("browser") / "server.log"
    with running_server({}, log) as base:  # embedded: nothing to configure
        yield base


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    assert shutil.which(CHROMIUM), "Debian's chromium is required (.ci/run installs it)"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        await b.close()


def all_day_rain(stock: int, starts_in_days: int = 0) -> dict[str, Any]:
    """A rain open all day for two days (UTC) from today (or later), where every
    tap wins while stock lasts."""
    first = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=starts_in_days)
    return {
        "name": "Browser test rain",
        "kind": "time",
        "timezone": "UTC",
        "start_date": first.isoformat(),
        "end_date": (first + dt.timedelta(days=1)).isoformat(),
        "probability": "manual",
        "limits": {"per_round": 20, "per_day": 0, "total": 0, "wins_total": 0},
        "release": {"slices": 1, "lead_seconds": 0},
        "sessions": [
            {
                "start": "00:00:00",
                "end": "24:00:00",
                "pools": [
                    {
                        "prizes": [
                            {
                                "key": "gold",
                                "type": "coupon",
                                "name": "Gold envelope",
                                "value": "GOLD-1",
                                "quantity": stock,
                                "probability": 1.0,
                            }
                        ]
                    }
                ],
            }
        ],
    }


async def shot(page: Page, artifacts: Path, name: str) -> None:
    await page.screenshot(path=str(artifacts / f"browser-{name}.png"), full_page=True)


async def sign_in(page: Page, username: str, password: str) -> None:
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login button")


async def test_console_and_rain_page(server: str, browser: Browser, artifacts: Path) -> None:
    console = await browser.new_page(viewport={"width": 1200, "height": 900})
    await console.goto(f"{server}/console")
    await shot(console, artifacts, "0-console-sign-in")
    # A wrong password is refused with a message, the right one opens the console.
    username, password = EMBEDDED_OPERATOR
    await sign_in(console, username, "not-the-password")
    await expect(console.locator("#flash")).to_contain_text("Wrong username or password")
    await sign_in(console, username, password)
    await expect(console.locator("#whoami")).to_have_text(f"{username} (admin)")
    await expect(console.locator("#list tbody tr")).not_to_have_count(0)  # the sample activity

    # Create: first with a probability over 1 (the field is named), then valid.
    await console.click("#new")
    bad = all_day_rain(3)
    bad["sessions"][0]["pools"][0]["prizes"][0]["probability"] = 1.5
    await console.fill("#config", json.dumps(bad, indent=2))
    await console.click("#save")
    await expect(console.locator("#errors")).to_contain_text("probability")
    await shot(console, artifacts, "1-console-validation")
    await console.fill("#config", json.dumps(all_day_rain(3), indent=2))
    await console.click("#save")
    await expect(console.locator("#flash")).to_contain_text("Saved activity")
    title = await console.locator("#editor-title").inner_text()
    aid = int(re.search(r"Activity (\d+)", title).group(1))  # type: ignore[union-attr]
    await console.click("#publish")
    await expect(console.locator("#live")).to_be_visible()
    numbers = console.locator(".stock[data-prize=gold] .numbers").first
    await expect(numbers).to_contain_text("0 won / 3 released / 3")
    await shot(console, artifacts, "2-console-published")

    # A player draws (the games have their own tests): a win.
    token = await player_token(server, "tapper")
    player = httpx.AsyncClient(base_url=server, headers={"Authorization": f"Bearer {token}"})
    drawn = await player.post("/v1/draw", json={"activity_id": aid})
    assert drawn.status_code == 200 and drawn.json()["won"], drawn.text

    # The operator sees the stock bar move within a refresh or two.
    await expect(numbers).to_contain_text("1 won / 3 released / 3", timeout=5_000)
    await expect(console.locator("#rate")).to_contain_text("draws/s")
    await shot(console, artifacts, "4-console-stock-moved")

    # Blacklist the player from the console; their next tap is refused.
    await console.click("nav button[data-tab=blacklist]")
    await console.fill("#bl-value", "tapper")
    await console.fill("#bl-reason", "browser test")
    await console.click("#bl-add button")
    await expect(console.locator("#bl-list tbody")).to_contain_text("tapper")
    await shot(console, artifacts, "5-console-blacklist")
    refused = await player.post("/v1/draw", json={"activity_id": aid})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "blacklisted"
    await player.aclose()

    # The audit trail names who did each of these, newest first.
    await console.click("nav button[data-tab=audit]")
    audit = console.locator("#audit-list tbody")
    await expect(audit).to_contain_text("blacklist.add")
    await expect(audit).to_contain_text("activity.publish")
    await expect(audit.locator("tr").first).to_contain_text(username)
    await expect(audit).to_contain_text("login.failed")
    await shot(console, artifacts, "7-console-audit")
    # A reload keeps the session (an HttpOnly cookie); signing out ends it.
    await console.reload()
    await expect(console.locator("#whoami")).to_have_text(f"{username} (admin)")
    await console.click("#logout")
    await expect(console.locator("#login")).to_be_visible()
    after = await console.context.request.get(f"{server}/v1/admin/activities")
    assert after.status == 401


async def test_console_on_a_phone(server: str, browser: Browser, artifacts: Path) -> None:
    """Sign-in and the operators' page at a phone's width."""
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await context.new_page()
    await page.goto(f"{server}/console")
    await shot(page, artifacts, "8-console-phone-sign-in")
    username, password = EMBEDDED_OPERATOR
    await sign_in(page, username, password)
    await page.click("nav button[data-tab=operators]")
    await expect(page.locator("#op-list tbody")).to_contain_text(username)
    await page.fill("#tok-name", "phone-made")
    await page.click("#tok-add button")
    await expect(page.locator("#tok-secret code")).to_have_text(re.compile("^rdt_"))
    await shot(page, artifacts, "9-console-phone-operators")
    await context.close()
