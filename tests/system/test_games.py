"""The players' games (/play/{id}) in Chromium: each of the five games wins
and loses with real draws, stops after the last chance and says why, counts
down to a far round, retries a draw with the same Idempotency-Key; in both
languages, on a desktop and a phone, with axe-core and screenshots."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, Request, Route, expect

from app.http import i18n
from tests.system.browser import (
    ADMIN,
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


# What an operator would name things, in the language of the campaign.
NAMES = {
    "en": {
        "rain": "Spring festival rain",
        "red": "8.88 yuan",
        "wheel": "Lucky wheel",
        "grid": "Nine-square draw",
        "tab": "Tablet",
        "film": "Movie ticket",
        "pts": "50 points",
        "scratch": "Scratch and win",
        "c20": "20 yuan coupon",
        "tea": "Tea set",
        "pass": "Level up",
        "l1": "Level 1 badge",
        "l2": "Level 2 trophy",
    },
    "zh-CN": {
        "rain": "新春红包雨",
        "red": "8.88元红包",
        "wheel": "幸运大转盘",
        "grid": "九宫格抽大奖",
        "tab": "平板电脑",
        "film": "电影票",
        "pts": "50 积分",
        "scratch": "购物刮刮乐",
        "c20": "20元优惠券",
        "tea": "茶具套装",
        "pass": "闯关赢好礼",
        "l1": "第一关徽章",
        "l2": "第二关奖杯",
    },
}


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def one_day(kind: str, pools: list[dict[str, Any]], name: str, **extra: Any) -> dict[str, Any]:
    """A count or amount activity open all day today (UTC)."""
    day = today().isoformat()
    return {
        "name": name,
        "kind": kind,
        "timezone": "UTC",
        "start_date": day,
        "end_date": day,
        "probability": "manual",
        "sessions": [{"start": "00:00:00", "end": "24:00:00", "pools": pools}],
        **extra,
    }


async def grant(server: str, user: str, aid: int, amount: int, reference: str) -> str:
    async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
        resp = await c.post(
            "/v1/grants",
            json={"user_id": user, "activity_id": aid, "amount": amount, "reference": reference},
        )
        assert resp.status_code == 201, resp.text
        gid: str = resp.json()["grant_id"]
    return gid


async def history(server: str, token: str, aid: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server) as c:
        resp = await c.get(
            f"/v1/me/draws?activity_id={aid}", headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 200, resp.text
        draws: list[dict[str, Any]] = resp.json()["draws"]
    return draws


async def play(page: Page, server: str, aid: int, token: str, lang: str) -> None:
    """Open the game signed in (the token in the fragment, as an app's web view hands it)."""
    await page.goto(f"{server}/play/{aid}?lang={lang}#token={token}")
    await expect(page.locator("#who")).not_to_be_empty()


def draws_posted(page: Page) -> list[Request]:
    posted: list[Request] = []
    page.on("request", lambda r: posted.append(r) if r.url.endswith("/v1/draw") else None)
    return posted


async def press(page: Page, selector: str) -> None:
    """A keyboard press on a button (also one that is aria-disabled)."""
    await page.locator(selector).focus()
    await page.keyboard.press("Enter")


async def close_popup(page: Page, text: str) -> None:
    pop = page.locator("#pop")
    await expect(pop).to_be_visible(timeout=20_000)  # once the wheel or the grid has stopped
    await expect(pop).to_contain_text(text)
    await expect(page.locator("#pop-close")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(pop).to_be_hidden()


# Every refusal of POST /v1/draw (SPEC §3, docs/api.md) the page explains itself.
REFUSALS = [
    "activity_not_started",
    "activity_ended",
    "round_closed",
    "round_limit",
    "day_limit",
    "total_limit",
    "win_limit",
    "rate_limited",
    "blacklisted",
    "risk_denied",
    "activity_not_found",
    "grant_not_found",
    "grant_used",
    "sold_out",
    "no_more_levels",
    "no_pool",
    "retry",
    "idempotency_key_reused",
    "unavailable",
    "busy",
]


def test_every_refusal_has_a_message_in_both_languages() -> None:
    script = (Path(i18n.__file__).parent / "static" / "js" / "play.js").read_text()
    for lang in LANGS:
        messages = i18n.section(lang, "play")
        missing = [c for c in REFUSALS if not messages.get(f"err_{c}", "").strip()]
        assert not missing, (lang, missing)
    assert all(f'"{c}"' in script for c in REFUSALS)


# -- rain ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_rain_wins_loses_and_stops_after_the_last_chance(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    # One envelope of stock, won for sure: the first tap wins, the second loses
    # (the rain goes on after the last envelope: see the sold-out test for the default).
    n = NAMES[lang]
    hint = {"en": "It is in your coupon wallet.", "zh-CN": "已放入您的卡券包。"}
    cfg = all_day(
        [gift("red", 1, 1.0, n["red"])],
        name=n["rain"],
        limits={"per_round": 2},
        stop_when_sold_out=False,
        redeem_hint=hint,
    )
    aid = await publish(server, cfg)
    token = await player_token(server, f"rain-{lang}")
    async with opened(browser, lang=lang) as (_, page, watch):
        posted = draws_posted(page)
        await play(page, server, aid, token, lang)
        await expect(page.locator("#chances")).to_have_text("2")
        drop = page.locator(".sky .drop:not(.opened)").first
        await expect(page.locator(".sky .drop").nth(4)).to_be_attached()  # a few are falling
        await shoot(page, artifacts, f"play-rain-{lang}-desktop")
        await drop.dispatch_event("pointerdown")  # a tap on a falling envelope
        # No code, no address: the outcome line says how to redeem (SPEC §10).
        won_line = f"{say(lang, 'you_won', prize=n['red'])} {hint[lang]}"
        await expect(page.locator("#outcome")).to_have_text(won_line)
        await expect(page.locator(".sky .catch.won")).to_contain_text(n["red"])
        await expect(page.locator("#chances")).to_have_text("1")
        await shoot(page, artifacts, f"play-rain-{lang}-win")
        # The keyboard's way: the big button opens an envelope too.
        await page.locator("#grab").focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#outcome")).to_have_text(say(lang, "no_win"))
        await expect(page.locator("#results .result")).to_have_count(2)
        await expect(page.locator("#results .result.won")).to_contain_text(n["red"])
        # No chance left: the rain stops, the button says why and draws nothing.
        await expect(page.locator("#chances")).to_have_text("0")
        await expect(page.locator("#notice-text")).to_have_text(say(lang, "err_round_limit"))
        await expect(page.locator("#grab")).to_have_attribute("aria-disabled", "true")
        await expect(page.locator(".sky .drop:not(.opened)")).to_have_count(0)
        await press(page, "#grab")
        await expect(page.locator("#outcome")).to_have_text(say(lang, "err_round_limit"))
        assert len(posted) == 2
        link = page.locator("#results .result a.verify").first
        await expect(link).to_have_attribute("href", re.compile(rf"^/verify\?draw={aid}%3A"))
        await accessible(page)
        await shoot(page, artifacts, f"play-rain-{lang}-spent")
        watch.expect()
    skin = "candy" if lang == "zh-CN" else "envelope"
    aid = await publish(server, {**cfg, "display": {"skin": skin}})
    motion = "reduce" if lang == "zh-CN" else "no-preference"  # drops appear in place
    async with opened(browser, lang=lang, phone=True, reduced_motion=motion) as (_, page, watch):
        await play(page, server, aid, await player_token(server, f"rain-phone-{lang}"), lang)
        await expect(page.locator(f".sky .drop.{skin}").nth(3)).to_be_attached()
        await expect(page.locator(".play-kind")).to_have_text(
            i18n.section(lang, "games")["rain_candy" if skin == "candy" else "rain"]
        )
        await accessible(page)
        await shoot(page, artifacts, f"play-rain-{lang}-phone")
        watch.expect()


@pytest.mark.parametrize(("lang", "phone"), [("en", True), ("zh-CN", False)])
async def test_rain_stops_when_sold_out_and_counts_down(
    server: str, browser: Browser, artifacts: Path, lang: str, phone: bool
) -> None:
    # The default for a time activity: once the last envelope is won the
    # server answers 409 sold_out; the rain stops and counts to tomorrow's round.
    aid = await publish(server, all_day([gift("red", 1, 1.0)], limits={"per_round": 3}))
    async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
        posted = draws_posted(page)
        await play(page, server, aid, await player_token(server, f"sold-out-{lang}"), lang)
        await press(page, "#grab")
        await expect(page.locator("#outcome")).to_have_text(say(lang, "you_won", prize="Prize red"))
        await press(page, "#grab")
        await expect(page.locator("#outcome")).to_have_text(say(lang, "sold_out_envelopes"))
        await expect(page.locator("#grab")).to_have_attribute("aria-disabled", "true")
        await expect(page.locator(".sky .drop:not(.opened)")).to_have_count(0)
        await expect(page.locator("#notice-wait")).to_be_visible()
        await expect(page.locator("#notice-clock")).to_have_text(re.compile(r"\d"))
        await accessible(page)
        await shoot(page, artifacts, f"play-rain-{lang}-sold-out")
        await press(page, "#grab")  # stopped: no third request
        assert len(posted) == 2
        watch.expect("409")


# -- wheel --------------------------------------------------------------------------

LANDED = """() => {
  const m = /rotate\\(([-\\d.]+)deg\\)/.exec(document.querySelector('.rotor').style.transform);
  const a = ((Number(m[1]) % 360) + 360) % 360;
  const names = [...document.querySelectorAll('.wheel ~ ul li')].map((li) => li.textContent);
  return names[Math.floor(((360 - a) % 360) / (360 / names.length))];
}"""


def wheel_prizes(lang: str = "en") -> list[dict[str, Any]]:
    n = NAMES[lang]
    return [
        gift("tab", 3, 0.0, n["tab"]),
        gift("film", 1, 1.0, n["film"]),
        {
            "key": "pts",
            "type": "points",
            "name": n["pts"],
            "value": "50",
            "quantity": 9,
            "probability": 0.0,
        },
    ]


@pytest.mark.parametrize("lang", LANGS)
async def test_wheel_lands_on_the_real_result(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    aid = await publish(
        server, all_day(wheel_prizes(lang), name=NAMES[lang]["wheel"], display={"game": "wheel"})
    )
    token = await player_token(server, f"wheel-{lang}")
    n = NAMES[lang]
    thanks = say(lang, "thanks")
    # Chinese runs with reduced motion: the wheel jumps to the result.
    motion = "reduce" if lang == "zh-CN" else "no-preference"
    async with opened(browser, lang=lang, reduced_motion=motion) as (_, page, watch):
        await play(page, server, aid, token, lang)
        await expect(page.locator(".wheel ~ ul li")).to_have_text(
            [n["tab"], n["film"], n["pts"], thanks]
        )
        await expect(page.locator("#odds tbody tr").nth(1)).to_contain_text("100%")
        await shoot(page, artifacts, f"play-wheel-{lang}-desktop")
        await page.locator("#spin").click()
        await close_popup(page, n["film"])
        assert await page.evaluate(LANDED) == n["film"]
        await page.locator("#spin").focus()
        await page.keyboard.press("Enter")  # the stock is gone: thanks for playing
        await expect(page.locator("#pop")).to_contain_text(say(lang, "pop_lost"))
        assert await page.evaluate(LANDED) == thanks
        await shoot(page, artifacts, f"play-wheel-{lang}-lost")
        await close_popup(page, say(lang, "pop_lost"))
        await expect(page.locator("#results .result")).to_have_count(2)
        await expect(page.locator("#chances")).to_have_text("18")
        await accessible(page)
        watch.expect()
    async with opened(browser, lang=lang, phone=True) as (_, page, watch):
        await play(page, server, aid, await player_token(server, f"wheel-phone-{lang}"), lang)
        await expect(page.locator("#spin")).to_have_attribute("aria-disabled", "false")
        await accessible(page)
        await shoot(page, artifacts, f"play-wheel-{lang}-phone")
        watch.expect()


# -- grid ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_grid_stops_on_the_real_result(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    n = NAMES[lang]
    cfg = all_day(wheel_prizes(lang), name=n["grid"], display={"game": "grid"})
    aid = await publish(server, {**cfg, "limits": {"per_round": 2}})
    token = await player_token(server, f"grid-{lang}")
    motion = "reduce" if lang == "zh-CN" else "no-preference"
    async with opened(browser, lang=lang, reduced_motion=motion) as (_, page, watch):
        posted = draws_posted(page)
        await play(page, server, aid, token, lang)
        await expect(page.locator(".board .cell")).to_have_count(8)
        await expect(page.locator(".board .cell.thanks")).to_have_count(5)
        await shoot(page, artifacts, f"play-grid-{lang}-desktop")
        await page.locator("#go").focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#pop")).to_be_visible()  # the highlight has stopped
        await expect(page.locator(".cell.lit")).to_contain_text(n["film"])
        await shoot(page, artifacts, f"play-grid-{lang}-win")
        await close_popup(page, n["film"])
        await page.keyboard.press("Enter")  # the focus went back to the button
        await expect(page.locator("#pop")).to_be_visible()
        await expect(page.locator(".cell.lit")).to_have_class(re.compile(r"\bthanks\b"))
        await close_popup(page, say(lang, "pop_lost"))
        # per_round 2: nothing more is drawn, and the page says why.
        await expect(page.locator("#go")).to_have_attribute("aria-disabled", "true")
        await expect(page.locator("#notice-text")).to_have_text(say(lang, "err_round_limit"))
        await press(page, "#go")
        assert len(posted) == 2
        await accessible(page)
        watch.expect()
    async with opened(browser, lang=lang, phone=True) as (_, page, watch):
        await play(page, server, aid, await player_token(server, f"grid-phone-{lang}"), lang)
        await expect(page.locator("#go small")).to_have_text(say(lang, "grid_left", n=2))
        await accessible(page)
        await shoot(page, artifacts, f"play-grid-{lang}-phone")
        watch.expect()


# -- scratch ------------------------------------------------------------------------


async def scratch_away(page: Page) -> None:
    """Rub the coating with the pointer, row after row."""
    box = await page.locator(".coat").bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + 8, box["y"] + 10)
    await page.mouse.down()
    y = box["y"] + 10
    while y < box["y"] + box["height"]:
        await page.mouse.move(box["x"] + box["width"] - 8, y, steps=6)
        y += 22
        await page.mouse.move(box["x"] + 8, y, steps=6)
        y += 22
    await page.mouse.up()


@pytest.mark.parametrize("lang", LANGS)
async def test_scratch_card_draws_with_a_grant(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    n = NAMES[lang]
    pools = [
        {"amount_min": 0, "amount_max": 10_000, "prizes": [gift("c20", 1, 1.0, n["c20"])]},
        {"amount_min": 10_000, "prizes": [gift("tea", 1, 0.0, n["tea"])]},
    ]
    aid = await publish(server, one_day("amount", pools, n["scratch"]))
    user = f"scratch-{lang}"
    token = await player_token(server, user)
    for k, amount in enumerate((1_200, 3_400)):
        await grant(server, user, aid, amount, f"order-{lang}-{k}")
    async with opened(browser, lang=lang) as (_, page, watch):
        posted = draws_posted(page)
        await play(page, server, aid, token, lang)
        await expect(page.locator(".wallet")).to_have_text(say(lang, "scratch_cards", n=2))
        note = page.locator(".ticket-note")
        # The oldest grant first (two made in the same second: either).
        await expect(note).to_contain_text(re.compile("1,200|3,400"))
        second = "3,400" if "1,200" in (await note.text_content() or "") else "1,200"
        await shoot(page, artifacts, f"play-scratch-{lang}-desktop")
        await scratch_away(page)  # the first stroke draws on the oldest grant
        await expect(page.locator(".under")).to_contain_text(n["c20"])
        await expect(page.locator("#outcome")).to_have_text(say(lang, "you_won", prize=n["c20"]))
        await expect(page.locator("#next-card")).to_be_focused()
        await shoot(page, artifacts, f"play-scratch-{lang}-win")
        await page.keyboard.press("Enter")  # next card
        await expect(note).to_contain_text(second)
        await expect(page.locator("#reveal")).to_be_focused()
        await page.keyboard.press("Enter")  # reveal without scratching
        await expect(page.locator(".under")).to_contain_text(say(lang, "scratch_lost"))
        # No card left: how to get one, and nothing more is drawn.
        await expect(page.locator("#notice-text")).to_have_text(say(lang, "scratch_how"))
        await expect(page.locator("#chances")).to_have_text("0")
        await press(page, "#next-card")
        await press(page, "#reveal")
        bodies = [r.post_data_json for r in posted]
        assert len(bodies) == 2 and all(b["grant_id"] and b["client_seed"] for b in bodies)
        await accessible(page)
        watch.expect()
    async with opened(browser, lang=lang, phone=True) as (_, page, watch):
        phone_user = f"scratch-phone-{lang}"
        await grant(server, phone_user, aid, 50_000, f"order-{lang}-phone")
        await play(page, server, aid, await player_token(server, phone_user), lang)
        await expect(page.locator(".pool.is-next h3")).to_contain_text("10,000")
        await accessible(page)
        await shoot(page, artifacts, f"play-scratch-{lang}-phone")
        watch.expect()


# -- level pass ---------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_level_pass_plays_level_after_level(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    n = NAMES[lang]
    levels = [
        {"nth": 1, "prizes": [gift("l1", 5, 1.0, n["l1"])]},
        {"nth": 2, "prizes": [gift("l2", 5, 0.0, n["l2"])]},
    ]
    aid = await publish(server, one_day("count", levels, n["pass"]))
    user = f"pass-{lang}"
    token = await player_token(server, user)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server, headers=auth) as c:
        assert (await c.get(f"/v1/activities/{aid}")).json()["next_level"] == 1
    async with opened(browser, lang=lang, reduced_motion="reduce") as (_, page, watch):
        if lang == "en":  # sign in with the form (dev login), not the fragment
            await page.goto(f"{server}/play/{aid}?lang={lang}")
            await page.locator("#player-id").fill(user)
            await page.keyboard.press("Enter")
            await expect(page.locator("#who")).to_contain_text(user)
        else:
            await play(page, server, aid, token, lang)
        current = page.locator(".level.current")
        await expect(current).to_contain_text(say(lang, "level_n", n=1))
        await expect(current).to_have_attribute("aria-current", "step")
        await shoot(page, artifacts, f"play-pass-{lang}-desktop")
        await page.locator("#go-level").click()
        await close_popup(page, n["l1"])
        await expect(page.locator(".level.done")).to_contain_text(
            say(lang, "pass_got", prize=n["l1"])
        )
        await expect(current).to_contain_text(say(lang, "level_n", n=2))
        await shoot(page, artifacts, f"play-pass-{lang}-won")
        await page.locator("#go-level").click()
        await close_popup(page, say(lang, "pop_lost"))
        # Past the last level (after_last_pool: refuse): cleared, nothing more to draw.
        await expect(page.locator("#notice-text")).to_have_text(say(lang, "pass_done"))
        await expect(page.locator("#go-level")).to_be_hidden()
        await expect(page.locator(".level.done")).to_have_count(2)
        await accessible(page)
        await shoot(page, artifacts, f"play-pass-{lang}-cleared")
        watch.expect()
    async with httpx.AsyncClient(base_url=server, headers=auth) as c:
        assert (await c.get(f"/v1/activities/{aid}")).json()["next_level"] == 3
        resp = await c.post("/v1/draw", json={"activity_id": aid})
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "no_more_levels"
    async with opened(browser, lang=lang, phone=True) as (_, page, watch):
        await play(page, server, aid, await player_token(server, f"pass-phone-{lang}"), lang)
        await expect(page.locator(".level")).to_have_count(2)
        await accessible(page)
        await shoot(page, artifacts, f"play-pass-{lang}-phone")
        watch.expect()


# -- what every game shares ---------------------------------------------------------


async def test_a_retried_draw_reuses_its_idempotency_key(
    server: str, browser: Browser, artifacts: Path
) -> None:
    """The first answer is lost on the way back (the server drew): the page's
    retry carries the same key, and the server replays instead of drawing."""
    aid = await publish(
        server, all_day(wheel_prizes(), name="Flaky network", display={"game": "grid"})
    )
    token = await player_token(server, "flaky")
    seen: list[dict[str, str]] = []

    async def flaky(route: Route) -> None:
        answer = await route.fetch()  # the server answers...
        seen.append(
            {**route.request.headers, "replayed": answer.headers.get("idempotent-replayed", "")}
        )
        if len(seen) == 1:
            await route.abort()  # ...and the answer never arrives
        else:
            await route.fulfill(response=answer)

    async with opened(browser, reduced_motion="reduce") as (_, page, watch):
        await page.route("**/v1/draw", flaky)
        await play(page, server, aid, token, "en")
        await press(page, "#go")
        await close_popup(page, "Movie ticket")
        assert len(seen) == 2
        assert seen[0]["idempotency-key"] == seen[1]["idempotency-key"]
        assert seen[1]["replayed"] == "true"
        await expect(page.locator("#results .result")).to_have_count(1)
        await expect(page.locator("#chances")).to_have_text("19")
        watch.expect("net::ERR_FAILED")
    for _ in range(100):  # the worker flushes the draw to the database
        if drawn := await history(server, token, aid):
            break
        await page.wait_for_timeout(100)
    assert len(drawn) == 1 and drawn[0]["won"]


@pytest.mark.parametrize(("lang", "phone"), [("en", False), ("zh-CN", True)])
async def test_a_busy_refusal_is_retried_after_retry_after_with_the_same_key(
    server: str, browser: Browser, artifacts: Path, lang: str, phone: bool
) -> None:
    """The server answers the first tap 503 busy (past its capacity, docs/api.md):
    the page says it is retrying, waits Retry-After times a random factor in [1, 2), and
    retries with the same Idempotency-Key; the retry draws."""
    aid = await publish(server, all_day(wheel_prizes(), name="Busy rain", display={"game": "grid"}))
    token = await player_token(server, f"busy-{lang}")
    seen: list[tuple[float, str]] = []
    busy = b'{"error":{"code":"busy","message":"too many draws right now; retry after a moment"}}'

    async def crowded(route: Route) -> None:
        seen.append((dt.datetime.now().timestamp(), route.request.headers["idempotency-key"]))
        if len(seen) == 1:
            await route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Content-Type": "application/json"},
                body=busy,
            )
        else:
            await route.continue_()

    async with opened(browser, lang=lang, phone=phone, reduced_motion="reduce") as (
        _,
        page,
        watch,
    ):
        await page.route("**/v1/draw", crowded)
        await play(page, server, aid, token, lang)
        await press(page, "#go")
        await expect(page.locator("#pace-text")).to_have_text(say(lang, "pace_busy"))
        await shoot(page, artifacts, f"game-busy-{lang}-{'phone' if phone else 'desktop'}")
        await close_popup(page, "")  # won or not: the retry's real answer
        assert len(seen) == 2
        assert seen[0][1] == seen[1][1]  # the same Idempotency-Key
        assert 1.0 <= seen[1][0] - seen[0][0] < 2.5  # Retry-After x [1, 2), plus the page
        await expect(page.locator("#results .result")).to_have_count(1)
        watch.expect("status of 503")


def minutes(far: str | None) -> int:
    d, h, m = (int(n) for n in re.findall(r"\d+", far or ""))
    return (d * 24 + h) * 60 + m


@pytest.mark.parametrize("lang", LANGS)
async def test_a_far_round_counts_down_in_days(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    aid = await publish(server, all_day([gift("g", 5, 0.5)], name="Next week", starts_in_days=9))
    token = await player_token(server, "early")
    far = r"^\d+ d \d+ h \d+ min$" if lang == "en" else r"^\d+天\d+小时\d+分$"
    shift = {"ms": 0}

    async def server_time_moves_with_the_page(route: Route) -> None:
        # The page trusts the server's clock over its own: when the test moves
        # the page's clock on, the server's must move on with it.
        answer = await route.fetch()
        body = await answer.json()
        now = dt.datetime.fromisoformat(body["server_time"])
        body["server_time"] = (now + dt.timedelta(milliseconds=shift["ms"])).isoformat()
        await route.fulfill(response=answer, json=body)

    async with opened(browser, lang=lang, phone=lang == "zh-CN") as (_, page, watch):
        await page.clock.install()
        await page.route(re.compile(r"/v1/activities/\d+$"), server_time_moves_with_the_page)
        await play(page, server, aid, token, lang)
        await expect(page.locator("#status")).to_have_text(say(lang, "status_not_started"))
        opens = i18n.section(lang, "play")["notice_not_started"].split("{at}")[0]
        await expect(page.locator("#notice-text")).to_contain_text(opens)
        clock = page.locator("#clock")
        await expect(clock).to_have_text(re.compile(far))
        await expect(page.locator("#notice-clock")).to_have_text(re.compile(far))
        before = await clock.text_content()
        shift["ms"] = 120_000
        await page.clock.fast_forward("02:00")
        await expect(clock).not_to_have_text(before or "")
        await expect(clock).to_have_text(re.compile(far))
        after = await clock.text_content()
        assert 1 <= minutes(before) - minutes(after) <= 3, (before, after)
        await expect(page.locator("#grab")).to_have_attribute("aria-disabled", "true")
        await accessible(page)
        await shoot(page, artifacts, f"play-rain-{lang}-not-started")
        watch.expect()


async def test_between_rounds_and_after_the_end(
    server: str, browser: Browser, artifacts: Path
) -> None:
    closed = all_day([gift("g", 5, 0.5)], name="Morning wheel", display={"game": "wheel"})
    closed["sessions"][0].update(start="00:00:00", end="00:00:01")  # over for today
    yesterday = (today() - dt.timedelta(days=2)).isoformat()
    ended = {**all_day([gift("g", 5, 0.5)], name="Last week"), "start_date": yesterday}
    ended["end_date"] = yesterday
    token = await player_token(server, "late")
    for cfg, status in ((closed, "closed"), (ended, "ended")):
        aid = await publish(server, cfg)
        async with opened(browser, lang="zh-CN", phone=True) as (_, page, watch):
            await play(page, server, aid, token, "zh-CN")
            await expect(page.locator("#status")).to_have_text(say("zh-CN", f"status_{status}"))
            notice = page.locator("#notice-text")
            if status == "closed":
                await expect(notice).to_contain_text("本场已结束，下一场于")
                await expect(page.locator("#notice-clock")).to_have_text(
                    re.compile(r"^\d+:\d\d:\d\d$|^\d\d:\d\d$")
                )
                await expect(page.locator("#clock-label")).to_have_text(say("zh-CN", "next_in"))
            else:
                await expect(notice).to_have_text(say("zh-CN", "notice_ended"))
                await expect(page.locator("#clock-box")).to_be_hidden()
            await accessible(page)
            await shoot(page, artifacts, f"play-{status}-zh-CN-phone")
            watch.expect()


async def test_a_refusal_from_the_server_is_explained(
    server: str, browser: Browser, artifacts: Path
) -> None:
    """The page believed a chance was left; the server refuses (the player drew
    elsewhere meanwhile): the page says why and stops."""
    cfg = all_day([gift("g", 5, 0.0)], name="One tap", display={"game": "wheel"})
    aid = await publish(server, {**cfg, "limits": {"per_round": 1}})
    token = await player_token(server, "twice")
    async with opened(browser, lang="zh-CN", reduced_motion="reduce") as (_, page, watch):
        await play(page, server, aid, token, "zh-CN")
        await expect(page.locator("#chances")).to_have_text("1")
        async with httpx.AsyncClient(base_url=server) as c:
            resp = await c.post(
                "/v1/draw", json={"activity_id": aid}, headers={"Authorization": f"Bearer {token}"}
            )
            assert resp.status_code == 200, resp.text
        await page.locator("#spin").click()
        await expect(page.locator("#outcome")).to_have_text(say("zh-CN", "err_round_limit"))
        await expect(page.locator("#chances")).to_have_text("0")
        await expect(page.locator("#spin")).to_have_attribute("aria-disabled", "true")
        await accessible(page)
        watch.expect("429")
