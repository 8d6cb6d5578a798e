"""Players pace themselves (issue 24, docs/pages.md "Pacing"), in Chromium:
while the server answers 503 busy a rain page tapped as fast as a player can
sends about one request per Retry-After, never two at once, and says it is
retrying; a draw in flight holds the next tap; a 429 rate_limited holds taps
for its Retry-After; and a round's first draw waits for this page's random
start within ``display.warmup_ms`` ("Get ready!"), at once with 0.

The busy server is the page's route (the client is what is under test): the
API's own refusal body, status and Retry-After, as docs/api.md gives them."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Request, Route, expect

from tests.system.browser import (
    DESKTOP,
    LANGS,
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

BUSY = b'{"error":{"code":"busy","message":"too many draws right now; retry after a moment"}}'
LIMITED = b'{"error":{"code":"rate_limited","message":"too many requests; slow down"}}'

# Taps as fast as a thumb: a falling drop when there is one, else the big button.
TAP = """async ([ms, every]) => {
  let taps = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const drop = document.querySelector('.sky .drop:not(.opened)');
    if (drop) drop.dispatchEvent(new PointerEvent('pointerdown', {bubbles: true, cancelable: true}));
    else document.getElementById('grab').click();
    taps++;
    await new Promise((r) => setTimeout(r, every));
  }
  return taps;
}"""


def pattern(lang: str, key: str) -> re.Pattern[str]:
    """A message with a number in it, as a regular expression."""
    return re.compile("^" + re.escape(say(lang, key)).replace(r"\{s\}", r"[\d.]+") + "$")


class Draws:
    """POST /v1/draw as the page sends them: when each started, and the most
    in flight at once (from the browser's own request events)."""

    def __init__(self, page: Page) -> None:
        self.starts: list[float] = []
        self.counts: list[int] = []  # draws each request asked for (SPEC §3 "count")
        self.open = 0
        self.most = 0
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._end)

    @staticmethod
    def _is_draw(r: Request) -> bool:
        return r.method == "POST" and r.url.endswith("/v1/draw")

    def _start(self, r: Request) -> None:
        if self._is_draw(r):
            self.starts.append(time.time())
            self.counts.append(int((r.post_data_json or {}).get("count", 1)))
            self.open += 1
            self.most = max(self.most, self.open)

    def _end(self, r: Request) -> None:
        if self._is_draw(r):
            self.open -= 1


async def play(page: Page, server: str, aid: int, user: str, lang: str) -> None:
    token = await player_token(server, user)
    await page.goto(f"{server}/play/{aid}?lang={lang}#token={token}")
    await expect(page.locator("#who")).not_to_be_empty()


async def both_sizes(page: Page, artifacts: Path, name: str) -> None:
    """The same moment on a desktop and on a phone-sized screen."""
    await shoot(page, artifacts, f"{name}-desktop", full=False)
    await page.set_viewport_size(PHONE)
    await shoot(page, artifacts, f"{name}-phone", full=False)
    await page.set_viewport_size(DESKTOP)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_busy_server_slows_the_page_down(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    cfg = all_day([gift("red", 50, 0.5)], name="Crowded rain", limits={"per_round": 0})
    aid = await publish(server, cfg)
    state = {"busy": True, "slow": 0.0, "limited": False}

    async def crowded(route: Route) -> None:
        if state["limited"]:
            await route.fulfill(
                status=429,
                headers={"Retry-After": "2", "Content-Type": "application/json"},
                body=LIMITED,
            )
        elif state["busy"]:
            await asyncio.sleep(0.15)  # a while in flight: a second request would overlap it
            await route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Content-Type": "application/json"},
                body=BUSY,
            )
        else:
            await asyncio.sleep(state["slow"])
            await route.continue_()

    async with opened(browser, lang=lang) as (_, page, watch):
        await page.route("**/v1/draw", crowded)
        draws = Draws(page)
        await play(page, server, aid, f"crowd-{lang}", lang)
        await expect(page.locator(".sky .drop").nth(2)).to_be_attached()  # it rains

        # Busy: 4 s of tapping every 80 ms.
        tapping = asyncio.create_task(page.evaluate(TAP, [4000, 80]))
        await expect(page.locator("#pace-text")).to_have_text(say(lang, "pace_busy"))
        await expect(page.locator("#pace-count")).to_have_text(pattern(lang, "pace_retry_in"))
        await expect(page.locator(".stage")).to_have_class(
            re.compile(r"\bpaced\b")
        )  # the drops still falling fade
        await both_sizes(page, artifacts, f"pace-busy-{lang}")
        taps = await tapping
        busy = list(draws.starts)
        assert taps >= 40
        # About one request per Retry-After (1 s x [1, 2) after each answer), far
        # fewer than the taps, and never two at once.
        assert 2 <= len(busy) <= 5, (taps, busy)
        gaps = [b - a for a, b in itertools.pairwise(busy)]
        assert all(g >= 1.0 for g in gaps), gaps
        assert draws.most == 1
        said = page.locator("#pace-said")
        await expect(said).to_contain_text(say(lang, "pace_busy"))

        # The crowd thins: the retry that is waiting goes through and draws
        # (the taps of its quarter second: a retry asks for the same draws).
        state["busy"] = False
        await expect(page.locator("#results .result").first).to_be_attached(timeout=12_000)
        first = draws.counts[-1]  # the request that went through
        await expect(page.locator("#results .result")).to_have_count(first)
        await expect(page.locator("#pace")).to_be_hidden()
        await expect(page.locator(".stage")).not_to_have_class(re.compile(r"\bpaced\b"))

        # One draw in flight: taps meanwhile send nothing and say why.
        state["slow"] = 1.2
        before = len(draws.starts)
        taps = await page.evaluate(TAP, [900, 80])
        assert len(draws.starts) == before + 1 and draws.most == 1, (taps, draws.starts)
        await expect(page.locator("#pace-text")).to_have_text(say(lang, "pace_one"))
        await expect(page.locator("#results .result")).to_have_count(first + draws.counts[-1])
        state["slow"] = 0.0

        # 429 rate_limited with Retry-After: 2: nothing more for that long.
        await expect(page.locator("#pace")).to_be_hidden()
        state["limited"] = True
        before = len(draws.starts)
        await page.evaluate(TAP, [1500, 80])
        assert len(draws.starts) == before + 1
        await expect(page.locator("#pace-text")).to_have_text(say(lang, "pace_too_fast"))
        await expect(page.locator("#outcome")).to_have_text(say(lang, "err_rate_limited"))
        await expect(page.locator("#toast")).not_to_have_class(
            re.compile(r"\bshow\b")
        )  # not over it
        await expect(page.locator("#pace-count")).to_have_text(pattern(lang, "pace_again_in"))
        await both_sizes(page, artifacts, f"pace-cool-{lang}")
        await accessible(page)
        watch.expect("status of 503", "status of 429")


def session_soon(lead_s: int) -> tuple[dt.datetime, str, str]:
    """A session (UTC) that opens in ``lead_s`` seconds, on a whole second."""
    now = dt.datetime.now(dt.UTC)
    start = (now + dt.timedelta(seconds=lead_s + 1)).replace(microsecond=0)
    end = start + dt.timedelta(minutes=3)
    return start, start.strftime("%H:%M:%S"), end.strftime("%H:%M:%S")


async def after_midnight_if_near() -> None:
    """A session must not cross midnight (UTC): wait for the next day if close."""
    now = dt.datetime.now(dt.UTC)
    left = (dt.datetime.combine(now.date(), dt.time(), dt.UTC) + dt.timedelta(days=1)) - now
    if left < dt.timedelta(minutes=4):
        await asyncio.sleep(left.total_seconds() + 2)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_round_starts_for_each_page_within_the_warmup(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    """Two players wait for the same opening, tapping all along: with
    warmup_ms 0 the first draw leaves at the opening; with 4000 and this
    page's random pick 0.5 (Math.random, fixed for the test) 2 s later, and
    meanwhile the page says "Get ready!" and counts down, without a drop."""
    await after_midnight_if_near()
    start, begins, ends = session_soon(6)
    cfg = all_day([gift("red", 50, 0.5)], name="Opening", days=1, limits={"per_round": 0})
    cfg["sessions"][0].update(start=begins, end=ends)
    at_once = await publish(server, {**cfg, "display": {"warmup_ms": 0}})
    spread = await publish(server, {**cfg, "display": {"warmup_ms": 4000}})
    opens = start.timestamp()
    async with (
        opened(browser, lang=lang, reduced_motion="reduce") as (_, now_page, now_watch),
        opened(browser, lang=lang) as (warm_ctx, warm_page, warm_watch),
    ):
        await warm_ctx.add_init_script("Math.random = () => 0.5;")
        first = Draws(now_page), Draws(warm_page)
        await play(now_page, server, at_once, f"at-once-{lang}", lang)
        await play(warm_page, server, spread, f"spread-{lang}", lang)
        await expect(warm_page.locator("#notice-clock")).to_have_text(re.compile(r"\d"))
        assert time.time() < opens - 0.5, "the pages took too long to open"
        span = (opens - time.time() + 3.5) * 1000
        tapping = [asyncio.create_task(p.evaluate(TAP, [span, 100])) for p in (now_page, warm_page)]
        # The countdown ran out; this page's start is 2 s later.
        pace = warm_page.locator("#pace")
        await expect(pace).to_have_class(re.compile(r"\bwarmup\b"), timeout=10_000)
        await expect(warm_page.locator("#pace-text")).to_have_text(say(lang, "pace_ready"))
        await expect(warm_page.locator("#pace-count")).to_have_text(pattern(lang, "pace_ready_in"))
        await expect(warm_page.locator("#status")).to_have_text(say(lang, "status_warmup"))
        await expect(warm_page.locator("#notice")).to_be_hidden()
        await expect(warm_page.locator("#outcome")).to_have_text("")  # no "the round is over"
        assert await warm_page.locator(".sky .drop").count() == 0
        await both_sizes(warm_page, artifacts, f"pace-warmup-{lang}")
        await asyncio.gather(*tapping)
        now_first, warm_first = (d.starts[0] - opens if d.starts else None for d in first)
        assert now_first is not None and -0.05 <= now_first <= 0.9, now_first
        assert warm_first is not None and 1.95 <= warm_first <= 3.0, warm_first
        assert all(d.most == 1 for d in first)
        await expect(pace).to_be_hidden()
        await expect(warm_page.locator("#results .result").first).to_be_attached()
        now_watch.expect()
        warm_watch.expect()
