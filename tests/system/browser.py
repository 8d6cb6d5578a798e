"""What every browser test of a page shares (Debian's chromium, driven by
Playwright): an embedded server, the browser, screenshots in both languages on
a desktop and a phone, an accessibility check with axe-core, and a watch on
the page's console so a script error or a CSP refusal fails the test.

The ``server`` and ``browser`` fixtures are in tests/system/conftest.py;
a test module imports the helpers it uses from here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, expect

from app.config import EMBEDDED_ADMIN_TOKEN, EMBEDDED_OPERATOR
from app.http import i18n

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parents[1] / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
LANGS = ("en", "zh-CN")
ADMIN = {"Authorization": f"Bearer {EMBEDDED_ADMIN_TOKEN}"}
OPERATOR = EMBEDDED_OPERATOR

# Two test workers share the machine's two cores with the servers and the
# browsers: an animation or a flush may take longer than Playwright's default
# 5 s to show, never a wrong result.
expect.set_options(timeout=15_000)


class Watch:
    """Errors a page reports: uncaught exceptions, console errors (a CSP
    refusal is one), failed requests for its own assets."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )

    def expect(self, *allowed: str) -> None:
        """No error, other than those containing one of ``allowed`` (e.g. a
        refused draw the test provoked: the browser logs its 4xx)."""
        left = [e for e in self.errors if not any(a in e for a in allowed)]
        assert not left, "\n".join(left)


@asynccontextmanager
async def opened(
    browser: Browser, *, lang: str = "en", phone: bool = False, **kw: Any
) -> AsyncIterator[tuple[BrowserContext, Page, Watch]]:
    """A fresh context (its own storage and cookies) in ``lang`` on a desktop
    or a phone."""
    context = await browser.new_context(
        viewport=PHONE if phone else DESKTOP,
        is_mobile=phone,
        has_touch=phone,
        locale=lang,
        extra_http_headers={"Accept-Language": lang},
        **kw,
    )
    page = await context.new_page()
    watch = Watch(page)
    try:
        yield context, page, watch
    finally:
        await context.close()


def shots(artifacts: Path) -> Path:
    folder = artifacts / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def shoot(page: Page, artifacts: Path, name: str, *, full: bool = True) -> Path:
    """A screenshot saved as a test artifact: ``pages/<name>.png``."""
    path = shots(artifacts) / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full)
    return path


async def accessible(page: Page, *, exclude: tuple[str, ...] = ()) -> None:
    """axe-core (vendored for tests only) finds no serious or critical
    violation. Evaluated over DevTools, so the page's CSP stays in force.
    Finite transitions settle first: a toast caught half-faded has the
    contrast of neither end."""
    await page.evaluate(
        """() => Promise.all(document.getAnimations()
             .filter((a) => a.effect && a.effect.getTiming().iterations !== Infinity)
             .map((a) => a.finished.catch(() => null)))"""
    )
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE.read_text() + "\n;0")
    result = await page.evaluate(
        """async (exclude) => {
          const r = await axe.run({exclude: exclude.map((s) => [s])}, {resultTypes: ['violations']});
          return r.violations.filter((v) => ['serious', 'critical'].includes(v.impact)).map((v) =>
            `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
        }""",
        list(exclude),
    )
    assert not result, "\n".join(result)


def all_day(
    prizes: list[dict[str, Any]],
    *,
    name: str = "Browser test",
    days: int = 2,
    starts_in_days: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    """A time activity open all day (UTC) from today (or later) with one pool."""
    first = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=starts_in_days)
    return {
        "name": name,
        "kind": "time",
        "timezone": "UTC",
        "start_date": first.isoformat(),
        "end_date": (first + dt.timedelta(days=days - 1)).isoformat(),
        "probability": "manual",
        "limits": {"per_round": 20, "per_day": 0, "total": 0, "wins_total": 0},
        "release": {"slices": 1, "lead_seconds": 0},
        "sessions": [{"start": "00:00:00", "end": "24:00:00", "pools": [{"prizes": prizes}]}],
        **extra,
    }


def gift(key: str, quantity: int, p: float, name: str | None = None) -> dict[str, Any]:
    return {
        "key": key,
        "type": "coupon",
        "name": name or f"Prize {key}",
        "value": f"CPN-{key}",
        "quantity": quantity,
        "probability": p,
    }


async def publish(server: str, cfg: dict[str, Any]) -> int:
    """Create and publish an activity through the API; its id."""
    async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
        resp = await c.post("/v1/admin/activities", json=cfg)
        assert resp.status_code == 201, resp.text
        aid: int = resp.json()["id"]
        resp = await c.post(f"/v1/admin/activities/{aid}/publish")
        assert resp.status_code == 200, resp.text
    return aid


async def player_token(server: str, user: str) -> str:
    """A player token from dev login (on in embedded mode)."""
    async with httpx.AsyncClient(base_url=server) as c:
        resp = await c.post("/v1/auth/dev", json={"user_id": user})
        assert resp.status_code == 200, resp.text
        token: str = resp.json()["token"]
    return token


def say(lang: str, key: str, **values: Any) -> str:
    """A message of the players' page, as the player reads it."""
    text = i18n.section(lang, "play")[key]
    return text.format(**values) if values else text


__all__ = [
    "ADMIN",
    "DESKTOP",
    "LANGS",
    "OPERATOR",
    "PHONE",
    "Watch",
    "accessible",
    "all_day",
    "gift",
    "opened",
    "player_token",
    "publish",
    "say",
    "shoot",
]
