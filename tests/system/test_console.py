"""The operator console in Chromium: a campaign created and published through
the forms alone (no JSON typed), validation errors at their field, the
calendar and budget of a known configuration, live charts moving while
players draw, the list's filters, clone and archive, the blacklist, the audit
trail, the session; every view in English and Chinese on a desktop and a
phone, with axe-core finding no serious violation."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from app.http import i18n
from tests.system.browser import (
    ADMIN,
    LANGS,
    OPERATOR,
    accessible,
    all_day,
    gift,
    opened,
    player_token,
    publish,
    shoot,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


# Texts edited per language side by side (SPEC §1): one control per language.
LOCALIZED = re.compile(r"^(name|description|redeem_hint)$|\.(name|description)$")


def path(p: str, lang: str = "en") -> str:
    """The form control bound to a configuration path (for a text edited per
    language, the one in ``lang``: where a plain string shows in that console)."""
    if LOCALIZED.search(p):
        p = f"{p}.{lang}"
    return f'#editor-form :is(input,select,textarea)[data-path="{p}"]'


async def sign_in(page: Page, password: str = OPERATOR[1]) -> None:
    await page.fill("#username", OPERATOR[0])
    await page.fill("#password", password)
    await page.click("#login button[type=submit]")


def known() -> dict[str, Any]:
    """SPEC §2's example with costs and two slices: three one-minute rounds."""
    prizes = [
        {
            "key": "c2",
            "type": "coupon",
            "name": "2 yuan coupon",
            "value": "CPN-2",
            "quantity": 2000,
            "probability": 0.5,
            "cost": 2,
        },
        {
            "key": "c5",
            "type": "coupon",
            "name": "5 yuan coupon",
            "value": "CPN-5",
            "quantity": 1000,
            "probability": 0.2,
            "cost": 5,
        },
    ]
    return {
        "name": "Double 12 red envelope rain",
        "kind": "time",
        "timezone": "Asia/Shanghai",
        "start_date": "2030-12-10",
        "end_date": "2030-12-12",
        "probability": "manual",
        "limits": {"per_round": 1, "per_day": 3, "total": 0, "wins_total": 0},
        "release": {"slices": 2, "lead_seconds": 0},
        "sessions": [{"start": "10:00:00", "end": "10:01:00", "pools": [{"prizes": prizes}]}],
    }


async def test_a_campaign_through_the_forms_alone(
    server: str, browser: Browser, artifacts: Path
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    async with opened(browser) as (context, page, watch):
        await page.goto(f"{server}/console")
        await expect(page.locator("#login")).to_be_visible()
        # A wrong password is refused with a message, the right one opens the console.
        await sign_in(page, "not-the-password")
        await expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
        await sign_in(page)
        await expect(page.locator("#whoami")).to_have_text(f"{OPERATOR[0]} (admin)")
        await expect(page.locator("#list tbody tr")).not_to_have_count(0)  # the sample activity

        # 1. The activity.
        await page.click("#new")
        await page.fill(path("name"), "Forms-only rain")
        await page.fill(path("timezone"), "UTC")
        await page.fill(path("start_date"), today.isoformat())
        await page.fill(path("end_date"), (today + dt.timedelta(days=1)).isoformat())
        await page.select_option(path("display.skin"), "candy")
        await page.fill(path("display.warmup_ms"), "800")  # players' start spread over 0.8 s
        # 2. Sessions and limits: all day, twenty taps a round.
        await page.click("#next")
        await page.fill(path("sessions[0].start"), "00:00:00")
        await page.fill(path("sessions[0].end"), "24:00:00")
        await page.fill(path("limits.per_round"), "20")
        # 3. One prize, three a round; the "thanks" row goes.
        await page.click("#next")
        await page.fill(path("sessions[0].pools[0].prizes[0].key"), "gold")
        await page.fill(path("sessions[0].pools[0].prizes[0].name"), "Gold envelope")
        await page.fill(path("sessions[0].pools[0].prizes[0].value"), "GOLD-1")
        await page.fill(path("sessions[0].pools[0].prizes[0].quantity"), "3")
        await page.fill(path("sessions[0].pools[0].prizes[0].cost"), "5")
        await page.locator('.prize-row[data-path="sessions[0].pools[0].prizes[1]"] button').click()
        await expect(page.locator("#step-3 .prize-row")).to_have_count(1)
        # 4. A chance over 100% is refused at its field, by the server's own rules.
        await page.click("#next")
        chance = page.locator(path("sessions[0].pools[0].prizes[0].probability"))
        await chance.fill("150")
        await expect(page.locator("#step-4 .remainder")).to_contain_text("more than 100%")
        await expect(chance).to_have_attribute("aria-invalid", "true")
        error = page.locator(
            '#step-4 .field[data-path="sessions[0].pools[0].prizes[0].probability"] .field-error'
        )
        await expect(error).to_have_text("At most 100%.")  # in plain words
        await expect(page.locator("#tab-4")).to_have_class(re.compile("has-error"))
        await shoot(page, artifacts, "console-validation-en-desktop")
        await chance.fill("100")
        await expect(error).to_have_text("")
        await expect(page.locator("#step-4 .remainder")).to_contain_text("0%")
        # 5. Even award: all at once.
        await page.click("#next")
        await page.fill(path("release.slices"), "1")
        # 6. The calendar shows both days' rounds; the budget, its cost.
        await page.click("#next")
        await expect(page.locator("#calendar-summary")).to_contain_text("2 rounds")
        await expect(page.locator(".cal-round")).to_have_count(2)
        await page.fill("#budget-players", "100")
        await page.press("#budget-players", "Enter")
        await expect(page.locator('[data-kpi="expected_cost"] strong')).to_have_text(
            "30"
        )  # 3 a round × 2 × 5
        # Save, publish: the live view.
        await page.click("#save")
        await expect(page.locator("#flash")).to_contain_text("Saved activity")
        await expect(page.locator("#editor-title")).to_contain_text("Forms-only rain")
        aid = int(re.search(r"#/edit/(\d+)", page.url).group(1))  # type: ignore[union-attr]
        await page.click("#publish")
        confirm = page.locator("#confirm-dialog")
        await expect(confirm).to_contain_text("Rounds: 2.")  # a summary before money moves
        await expect(confirm).to_contain_text("Players can draw from the first round's start.")
        await shoot(page, artifacts, "console-publish-confirm-en-desktop", full=False)
        await page.click("#confirm-yes")
        await expect(page.locator("#live-title")).to_contain_text("Forms-only rain")
        numbers = page.locator('.stock[data-prize="gold"] .numbers')
        await expect(numbers).to_have_text("0 won / 3 released / 3")

        # What was published is what the forms said.
        async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
            cfg = (await c.get(f"/v1/admin/activities/{aid}")).json()
        assert cfg["status"] == "published" and cfg["display"] == {
            "game": "rain",
            "skin": "candy",
            "warmup_ms": 800,
        }
        assert cfg["sessions"][0]["pools"][0]["prizes"] == [
            {
                "key": "gold",
                "type": "coupon",
                "name": "Gold envelope",
                "value": "GOLD-1",
                "quantity": 3,
                "probability": 1.0,
                "weight": 1,
                "cost": 5.0,
            }
        ]

        # A player draws: the stock bar and the charts move.
        token = await player_token(server, "tapper")
        async with httpx.AsyncClient(
            base_url=server, headers={"Authorization": f"Bearer {token}"}
        ) as player:
            for _ in range(2):
                assert (await player.post("/v1/draw", json={"activity_id": aid})).json()["won"]
            await expect(numbers).to_have_text("2 won / 3 released / 3", timeout=6_000)
            await expect(page.locator("#chart-wins .plot")).to_have_attribute(
                "aria-label", re.compile(r"gold 2"), timeout=6_000
            )
            await expect(page.locator("#chart-wins canvas")).to_have_count(1)
            await shoot(page, artifacts, "console-live-drawing-en-desktop")

            # Blacklist the player from the console: the next draw is refused,
            # and the refusals chart names the code.
            await page.click('a[data-view="blacklist"]')
            await page.fill("#bl-value", "tapper")
            await page.fill("#bl-reason", "browser test")
            await page.click("#bl-add button[type=submit]")
            await expect(page.locator("#bl-list tbody")).to_contain_text("tapper")
            refused = await player.post("/v1/draw", json={"activity_id": aid})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "blacklisted"
        await page.goto(f"{server}/console#/live/{aid}")
        # Reopened: the wins chart starts from the round's saved history.
        await expect(page.locator("#chart-wins .plot")).to_have_attribute(
            "aria-label", re.compile(r"gold 2"), timeout=6_000
        )
        await expect(page.locator(".charts-zone")).to_contain_text("UTC")
        await expect(page.locator("#chart-refused .uplot")).to_contain_text(
            "blacklisted", timeout=8_000
        )

        # The audit trail names who did each of these, newest first.
        await page.click('a[data-view="audit"]')
        audit = page.locator("#audit-list tbody")
        await expect(audit).to_contain_text("blacklist.add")
        await expect(audit).to_contain_text("activity.publish")
        await expect(audit).to_contain_text("login.failed")
        await expect(audit.locator("tr").first).to_contain_text(OPERATOR[0])
        # A reload keeps the session (an HttpOnly cookie); signing out ends it.
        await page.reload()
        await expect(page.locator("#whoami")).to_have_text(f"{OPERATOR[0]} (admin)")
        await page.click("#logout")
        await expect(page.locator("#login")).to_be_visible()
        after = await context.request.get(f"{server}/v1/admin/activities")
        assert after.status == 401
        watch.expect("401", "422")  # the wrong password; the chance over 100%


async def test_the_calendar_and_budget_of_a_known_config(
    server: str, browser: Browser, artifacts: Path
) -> None:
    """SPEC §2's example imported as JSON: three rounds, two slices of each
    prize 30 s apart; 10,000 players tapping once a round pick c2 5,000 times
    a minute (its first 1,000 gone in 12 s, the second slice by 42 s) and c5
    2,000 times (500 by 15 s, the rest by 45 s)."""
    async with opened(browser) as (_, page, watch):
        await page.goto(f"{server}/console#/new")
        await sign_in(page)
        await page.click("#json")
        await page.fill("#json-text", json.dumps(known()))
        await page.click("#json-import")
        await expect(page.locator(path("name"))).to_have_value("Double 12 red envelope rain")
        await page.click("#tab-6")
        rounds = page.locator(".cal-round")
        await expect(rounds).to_have_count(3)
        assert await rounds.evaluate_all("rs => rs.map(r => r.dataset.round)") == [
            "20301210:0",
            "20301211:0",
            "20301212:0",
        ]
        first = page.locator('.cal-round[data-round="20301210:0"] .cal-slice')
        assert await first.evaluate_all(
            "ss => ss.map(s => [s.dataset.prize, s.dataset.at, s.textContent.split('×')[1]])"
        ) == [
            ["c2", "10:00:00", "1,000"],
            ["c2", "10:00:30", "1,000"],
            ["c5", "10:00:00", "500"],
            ["c5", "10:00:30", "500"],
        ]
        await expect(page.locator("#calendar-summary")).to_contain_text("Asia/Shanghai")
        await page.fill("#budget-players", "10000")
        await page.fill("#budget-taps", "1")
        await page.press("#budget-taps", "Enter")
        await expect(page.locator('[data-kpi="expected_cost"] strong')).to_have_text("27,000")
        await expect(page.locator('[data-kpi="max_cost"] strong')).to_have_text("27,000")
        await expect(page.locator('[data-kpi="draws"] strong')).to_have_text("30,000")
        await expect(page.locator('.runs-out[data-prize="c2"]')).to_have_text("10:00:42")
        await expect(page.locator('.runs-out[data-prize="c5"]')).to_have_text("10:00:45")
        await expect(page.locator('#budget-first tr[data-prize="c2"] .wins')).to_have_text("2,000")
        # Fewer players: c5 lasts.
        await page.fill("#budget-players", "1000")
        await page.press("#budget-players", "Enter")
        await expect(page.locator('.runs-out[data-prize="c5"]')).to_have_text("lasts the round")
        await expect(page.locator('[data-kpi="expected_cost"] strong')).to_have_text(
            "6,000"
        )  # 3 × (500×2 + 200×5)
        await page.fill("#budget-players", "10000")
        await page.press("#budget-players", "Enter")
        await shoot(page, artifacts, "console-calendar-budget-en-desktop")
        watch.expect()


async def test_the_list_filters_clones_and_archives(
    server: str, browser: Browser, artifacts: Path
) -> None:
    async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
        resp = await c.post(
            "/v1/admin/activities", json=all_day([gift("g", 5, 0.5)], name="Draft to clone")
        )
        draft = resp.json()["id"]
    async with opened(browser) as (_, page, watch):
        await page.goto(f"{server}/console")
        await sign_in(page)
        row = page.locator(f'#list tr[data-id="{draft}"]')
        await row.get_by_role("button", name="Clone").click()
        await expect(page.locator(path("name"))).to_have_value("Copy of Draft to clone")
        await page.click("#save")
        await expect(page.locator("#flash")).to_contain_text("Saved activity")
        await page.click('a[data-view="activities"]')
        await expect(page.locator("#list")).to_contain_text("Copy of Draft to clone")
        await row.get_by_role("button", name="Archive").click()
        await expect(page.locator("#flash")).to_contain_text(f"Activity {draft} archived")
        await expect(row).to_have_count(0)
        await page.click('.chip[data-status="archived"]')
        await expect(row).to_contain_text("Archived")
        await row.get_by_role("button", name="Restore").click()
        await expect(row).to_have_count(0)  # back among the drafts, out of this filter
        await page.click('.chip[data-status="draft"]')
        await expect(row).to_contain_text("Draft")
        await page.click('.chip[data-status="published"]')
        await expect(page.locator("#list tbody tr")).not_to_have_count(0)
        await expect(row).to_have_count(0)
        watch.expect()


VIEWS = ("activities", "new", "blacklist", "audit", "operators")


@pytest.mark.parametrize("lang", LANGS)
async def test_every_view_in_both_languages(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    """Screenshots of every view on a desktop and a phone, accessible, no
    script error; Chinese names everything in Chinese."""
    aid = await publish(
        server,
        all_day([gift("g", 50, 0.3, name="金元宝"), gift("h", 20, 0.1)], name="双十二红包雨"),
    )
    async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:  # someone beside "you"
        body = {"username": f"ops-{lang.lower()}", "password": "ops-password-12", "role": "editor"}
        assert (await c.post("/v1/admin/operators", json=body)).status_code in (201, 409)
    for phone in (False, True):
        device = "phone" if phone else "desktop"
        async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
            await page.goto(f"{server}/console")
            await expect(page.locator("#login h1")).to_have_text(
                "登录" if lang == "zh-CN" else "Sign in"
            )
            await accessible(page)
            await shoot(page, artifacts, f"console-sign-in-{lang}-{device}")
            await sign_in(page)
            await expect(page.locator("#whoami")).to_contain_text(
                "管理员" if lang == "zh-CN" else "admin"
            )
            for view in VIEWS:
                await page.goto(f"{server}/console#/{view}")
                await expect(
                    page.locator(f"#view-{'editor' if view == 'new' else view}")
                ).to_be_visible()
                await page.wait_for_load_state("networkidle")
                if view == "operators":  # one's own row is marked, and not disabled from here
                    mine = page.locator("#op-list tbody tr", has=page.locator(".badge.you"))
                    await expect(mine).to_have_count(1)
                    await expect(mine.locator("button")).to_be_disabled()
                    others = page.locator("#op-list tbody tr", has_not=page.locator(".badge.you"))
                    await expect(others.locator("button")).not_to_have_count(0)
                    await expect(others.locator("button[disabled]")).to_have_count(0)
                await accessible(page)
                await shoot(page, artifacts, f"console-{view}-{lang}-{device}")
            for step in range(1, 7):
                await page.click(f"#tab-{step}") if step > 1 else await page.goto(
                    f"{server}/console#/edit/{aid}"
                )
                await expect(page.locator(f"#step-{step}")).to_be_visible()
                if step == 6:
                    await expect(page.locator("#calendar")).to_be_visible()
                await accessible(page)
                await shoot(page, artifacts, f"console-step{step}-{lang}-{device}")
            await page.goto(f"{server}/console#/live/{aid}")
            await expect(page.locator("#chart-rate canvas")).to_have_count(1)
            await accessible(page)
            await shoot(page, artifacts, f"console-live-{lang}-{device}")
            if lang == "zh-CN":
                await expect(page.locator("#live-title")).to_contain_text("实时")
            watch.expect()


async def test_a_viewer_reads_but_cannot_change(server: str, browser: Browser) -> None:
    async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
        resp = await c.post(
            "/v1/admin/operators",
            json={"username": "watcher", "password": "watcher-password-1", "role": "viewer"},
        )
        assert resp.status_code == 201, resp.text
    aid = await publish(server, all_day([gift("g", 5, 0.5)], name="Viewer's view"))
    async with opened(browser) as (_, page, watch):
        await page.goto(f"{server}/console")
        await page.fill("#username", "watcher")
        await page.fill("#password", "watcher-password-1")
        await page.click("#login button[type=submit]")
        await expect(page.locator("#whoami")).to_have_text("watcher (viewer)")
        await expect(page.locator('a[data-view="operators"]')).to_be_hidden()
        await expect(page.locator("#new")).to_have_count(0)
        await page.goto(f"{server}/console#/edit/{aid}")
        await expect(page.locator(path("name"))).to_be_disabled()
        await expect(page.locator("#save")).to_be_disabled()
        await expect(page.locator("#publish")).to_be_disabled()
        watch.expect()


@pytest.mark.parametrize("lang", LANGS)
async def test_an_edit_of_a_live_activity_waits_for_publish(
    server: str, browser: Browser, artifacts: Path, lang: str
) -> None:
    """Issue 23: saving a published activity makes a new version; the console
    says players still draw against the live one until it is published."""
    aid = await publish(
        server, all_day([gift("g", 5, 0.5)], name="Next week's rain", starts_in_days=7)
    )
    live_name = "Next week's rain"
    for phone in (False, True):
        device = "phone" if phone else "desktop"
        async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
            await page.goto(f"{server}/console")
            await sign_in(page)
            await page.goto(f"{server}/console#/edit/{aid}")
            await page.fill(path("name", lang), f"Next week's rain ({device})")
            await page.click("#save")
            pending = "尚未上线" if lang == "zh-CN" else "not live yet"
            await expect(page.locator("#editor-head .badge.changes")).to_contain_text(pending)
            await expect(page.locator("#flash")).to_contain_text(
                "仍按" if lang == "zh-CN" else "still draw against"
            )
            await accessible(page)
            await shoot(page, artifacts, f"console-edit-live-{lang}-{device}")
            await page.goto(f"{server}/console#/activities")
            row = page.locator(f'#list tr[data-id="{aid}"]')
            await expect(row.locator(".badge.changes")).to_be_visible()
            await shoot(page, artifacts, f"console-list-changes-{lang}-{device}")
            async with httpx.AsyncClient(base_url=server) as c:
                live = await c.get(f"/v1/activities/{aid}")
                assert live.status_code == 200, live.text
                # players still see the live version
                assert live.json().get("name") == live_name, live.text
            await page.goto(f"{server}/console#/edit/{aid}")
            await page.click("#publish")
            confirm = page.locator("#confirm-dialog")  # the change against the live version
            await expect(confirm).to_contain_text(f"{live_name} → Next week's rain ({device})")
            await shoot(page, artifacts, f"console-publish-diff-{lang}-{device}", full=False)
            await page.click("#confirm-yes")
            await expect(page.locator("#flash")).to_contain_text(str(aid))
            await page.goto(f"{server}/console#/activities")
            await expect(row.locator(".badge.changes")).to_have_count(0)
            live_name = f"Next week's rain ({device})"
            watch.expect()


@pytest.mark.parametrize(("lang", "phone"), [("en", False), ("zh-CN", True)])
async def test_the_form_fixes_of_issue_25(
    server: str, browser: Browser, artifacts: Path, lang: str, phone: bool
) -> None:
    """HH:MM times, no NaN; the name follows the game; errors in plain words
    only once touched; a 0% chance warned; the copy confirmed; Save draft
    keeps the step; no sideways scroll on a phone."""
    says = i18n.section(lang, "console")
    device = "phone" if phone else "desktop"
    async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
        await page.goto(f"{server}/console")
        await sign_in(page)
        await page.goto(f"{server}/console#/new")
        name = page.locator(path("name", lang))
        await expect(name).to_have_value(says["new_name"])
        await page.select_option(path("display.game"), "wheel")
        await expect(page.locator(path("name", lang))).to_have_value(says["new_name_wheel"])
        await page.locator(path("name", lang)).fill("")  # touched: now its error shows
        await expect(page.locator('.field[data-path="name"] > .field-error')).to_contain_text(
            says["v_required"]
        )
        await page.locator(path("name", lang)).fill("Wheel of teas")
        await page.click("#next")
        await page.fill(path("sessions[0].end"), "15:45")
        await page.fill(path("sessions[0].start"), "15:00")
        await page.click("#step-2 button:has-text('" + says["add_session"] + "')")
        start, end = path("sessions[1].start"), path("sessions[1].end")
        await expect(page.locator(start)).to_have_value("16:45:00")
        await expect(page.locator(end)).to_have_value("17:30:00")
        assert "NaN" not in await page.locator("#editor-form").inner_text()
        await page.click("#next")  # 3. prizes
        await page.click("#step-3 button:has-text('" + says["copy_to_all"] + "')")
        await expect(page.locator("#flash")).to_contain_text(says["copied_to_all"].split("{")[0])
        await page.click("#next")  # 4. chances
        chance = page.locator(path("sessions[0].pools[0].prizes[0].probability"))
        await chance.fill("0")
        await expect(page.locator("#step-4 .zero-chance").first).to_be_visible()
        await shoot(page, artifacts, f"console-zero-chance-{lang}-{device}")
        await chance.fill("30")
        await expect(page.locator("#step-4 .zero-chance")).to_have_count(0)
        await page.click("#save")
        await expect(page).to_have_url(re.compile(r"#/edit/\d+$"))
        await expect(page.locator("#tab-4")).to_have_attribute("aria-selected", "true")
        width = await page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert width <= 0, f"{width}px of sideways scroll"
        await accessible(page)
        watch.expect("status of 422")  # the previews of the emptied name


@pytest.mark.parametrize(("lang", "phone"), [("en", False), ("zh-CN", True)])
async def test_a_started_activity_shows_its_locks_and_a_topup_asks_first(
    server: str, browser: Browser, artifacts: Path, lang: str, phone: bool
) -> None:
    says = i18n.section(lang, "console")
    aid = await publish(server, all_day([gift("g", 5, 0.5)], name=f"Started rain {lang}"))
    device = "phone" if phone else "desktop"
    async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
        await page.goto(f"{server}/console")
        await sign_in(page)
        await page.goto(f"{server}/console#/edit/{aid}")
        await expect(page.locator("#editor-locked")).to_be_visible()
        await expect(page.locator(path("name", lang))).to_be_enabled()  # before typing anything
        await expect(page.locator(path("start_date"))).to_be_disabled()
        await page.click("#next")
        await expect(page.locator(path("limits.per_round"))).to_be_disabled()
        await expect(page.locator(path("sessions[0].start"))).to_be_disabled()
        add_session = page.locator("#step-2 button:has-text('" + says["add_session"] + "')")
        await expect(add_session).to_be_disabled()
        await accessible(page)
        await shoot(page, artifacts, f"console-locked-{lang}-{device}")
        # The prizes of the rounds that have not started (tomorrow's) may change.
        await page.click("#next")
        quantity = page.locator(path("sessions[0].pools[0].prizes[0].quantity"))
        await expect(quantity).to_be_enabled()
        add_prize = page.locator("#step-3 button:has-text('" + says["add_prize"] + "')")
        await expect(add_prize).to_be_enabled()
        await quantity.fill("9")
        await shoot(page, artifacts, f"console-started-prizes-{lang}-{device}")
        await page.click("#save")
        await expect(page.locator("#publish")).to_be_enabled()
        await page.click("#publish")
        confirm = page.locator("#confirm-dialog")
        await expect(confirm).to_contain_text("5 → 9")
        await expect(confirm).to_contain_text(says["confirm_started"].split("{")[0].strip())
        await shoot(page, artifacts, f"console-publish-started-{lang}-{device}")
        await page.click("#confirm-yes")
        kept = says["published_kept"].split("}")[-1].strip()
        await expect(page.locator("#flash")).to_contain_text(kept)
        await shoot(page, artifacts, f"console-published-kept-{lang}-{device}")
        async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
            rid = f"{aid}:{dt.datetime.now(dt.UTC) + dt.timedelta(days=1):%Y%m%d}:0"
            info = (await c.get(f"/v1/rounds/{rid}")).json()
            assert info["version"] == 2 and info["prizes"][0]["quantity"] == 9, info
        await page.goto(f"{server}/console#/live/{aid}")
        await expect(page.locator("#topup-prize option")).to_have_count(1)
        await page.fill("#topup-add", "7")
        await page.click("#topup button[type=submit]")
        confirm = page.locator("#confirm-dialog")
        await expect(confirm).to_contain_text(says["confirm_topup_what"])
        await page.click("#confirm-no")  # nothing added
        async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
            stats = (await c.get(f"/v1/admin/activities/{aid}/stats")).json()
            assert stats["rounds"][0]["prizes"][0]["quantity"] == 5, stats
        await page.click("#topup button[type=submit]")
        await page.click("#confirm-yes")
        await expect(page.locator("#flash")).to_contain_text("12")
        watch.expect()
