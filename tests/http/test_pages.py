"""The pages as HTTP (their scripts run in tests/system): the language a
visitor gets, the messages both languages must have, and pages for things
that do not exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.http import i18n
from app.http.pages import HERE
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, offset_to, prize, rain
from tests.http.test_http import Http, bearer

STATIC = HERE / "static"


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "lang"),
    [
        (None, None, None, "en"),
        ("zh-CN", None, "en", "zh-CN"),
        ("en", "zh-CN", "zh", "en"),
        ("xx", "zh-CN", None, "zh-CN"),
        (None, None, "zh-TW,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, None, "fr-CH, fr;q=0.9, en;q=0.8, zh;q=0.7", "en"),
        (None, None, "en;q=0.2, zh_CN;q=0.9", "zh-CN"),
        (None, None, "de, zh;q=0", "en"),
        (None, None, "en;q=bad, zh;q=0.5", "zh-CN"),
    ],
)
def test_language_negotiation(
    query: str | None, cookie: str | None, accept: str | None, lang: str
) -> None:
    assert i18n.negotiate(query, cookie, accept) == lang


def test_both_languages_have_every_message() -> None:
    for name in i18n.sections():
        en, zh = i18n.section("en", name), i18n.section("zh-CN", name)
        assert set(en) == set(zh), f"{name}: {set(en) ^ set(zh)}"
        for key in en:
            # The same placeholders, or a translation loses a number.
            assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", zh[key])), key
        assert all(v.strip() for v in zh.values()), name


def _used(pattern: str, files: list[Path]) -> set[str]:
    return {m for f in files for m in re.findall(pattern, f.read_text())}


def test_every_message_a_page_names_exists() -> None:
    templates = list(HERE.joinpath("templates").glob("*.html"))
    scripts = list(STATIC.joinpath("js").rglob("*.js"))
    names = _used(r"""\bt\(\s*["']([a-z_]+\.[A-Za-z0-9_-]+)["']""", templates + scripts)
    assert len(names) > 20
    known = {f"{s}.{k}" for s in i18n.sections() for k in i18n.section("en", s)}
    prefixes = {n for n in names if n.endswith("_")}  # t("games." + name): a family
    assert names - prefixes - known == set()
    assert all(any(k.startswith(p) for k in known) for p in prefixes)


async def test_pages_answer_in_the_language_asked(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service())
    resp = await client.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-CN">' in resp.text and "正在进行" in resp.text
    assert resp.headers["content-language"] == "zh-CN"
    resp = await client.get("/verify?lang=en", headers={"accept-language": "zh-CN"})
    assert '<html lang="en">' in resp.text
    assert resp.cookies.get(i18n.COOKIE) == "en"  # the choice sticks for the next page
    resp = await client.get("/console")
    assert '<html lang="en">' in resp.text
    # The messages the page's script needs travel in the page, as data.
    block = re.search(r'<script type="application/json" id="i18n">(.*?)</script>', resp.text, re.S)
    assert block and json.loads(block.group(1))["common"]["console"] == "Console"


async def test_pages_for_what_does_not_exist(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service())
    for path, text in (
        ("/play/99", "No such activity"),
        ("/rain/99", "No such activity"),
        ("/lotteries/99", "No such lottery"),
    ):
        resp = await client.get(path)
        assert resp.status_code == 404 and text in resp.text, path
        # A player's page: no operator navigation, found or not (SPEC §10).
        assert 'href="/console"' not in resp.text and 'href="/docs"' not in resp.text, path
    resp = await client.get("/play/99?lang=zh-CN")
    assert resp.status_code == 404 and "活动不存在" in resp.text


async def test_a_game_page_names_its_game(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service(offset_to(local(DAY, 10, 0, 5))))
    games = {}
    for game in ("rain", "wheel", "grid", "scratch", None):
        cfg = rain([prize("c2", 5, 0.5)])
        if game:
            cfg["display"] = {"game": game}
        resp = await client.post("/v1/admin/activities", json=cfg, headers=admin_headers())
        assert resp.status_code == 201, resp.text
        aid = resp.json()["id"]
        pub = await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
        assert pub.status_code == 200, pub.text
        games[aid] = game or "rain"  # a time activity plays rain by default
    for aid, game in games.items():
        for path in (f"/play/{aid}", f"/rain/{aid}"):
            resp = await client.get(path)
            assert resp.status_code == 200
            boot = re.search(r'<script type="application/json" id="boot">(.*?)</script>', resp.text)
            assert boot and json.loads(boot.group(1))["game"] == game
            # Issue 25: a player's page shows no operator navigation.
            assert 'href="/console"' not in resp.text and 'href="/docs"' not in resp.text
    when = local(DAY, 12).isoformat()  # the service's clock is on DAY at 10:00
    made = await client.post(
        "/v1/lotteries",
        json={"title": "t", "draw_at": when, "prize": {"name": "p", "quantity": 1}},
        headers=bearer("maker"),
    )
    assert made.status_code == 201, made.text
    for path in ("/verify", f"/lotteries/{made.json()['id']}"):
        resp = await client.get(path)
        assert resp.status_code == 200 and 'href="/console"' not in resp.text, path
    assert 'href="/console"' in (await client.get("/")).text
    # A level pass needs levels.
    cfg = rain([prize("c2", 5, 0.5)])
    cfg["display"] = {"game": "pass"}
    resp = await client.post("/v1/admin/activities", json=cfg, headers=admin_headers())
    assert resp.status_code == 422 and "display.game" in resp.json()["error"]["message"]


async def test_the_warmup_reaches_the_players_page(
    make_service: ServiceFactory, http: Http
) -> None:
    """display.warmup_ms (the page's jittered start): bounded, stored only when
    given, and always in the public answer the page reads (by kind when not given)."""
    client = http(make_service(offset_to(local(DAY, 10, 0, 5))))
    cfg = rain([prize("c2", 5, 0.5)])
    resp = await client.post(
        "/v1/admin/activities",
        json={**cfg, "display": {"warmup_ms": 60_000}},
        headers=admin_headers(),
    )
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "validation_error"
    assert err["message"] == "display.warmup_ms: 60000 ms is outside 0..10000 ms (up to 10 s)"
    shown = {}
    for given in (None, 800):
        body = cfg if given is None else {**cfg, "display": {"warmup_ms": given}}
        resp = await client.post("/v1/admin/activities", json=body, headers=admin_headers())
        assert resp.status_code == 201, resp.text
        aid = resp.json()["id"]
        assert resp.json()["display"].get("warmup_ms") == given  # the admin answer: as given
        pub = await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
        assert pub.status_code == 200, pub.text
        public = (await client.get(f"/v1/activities/{aid}")).json()
        shown[given] = public["display"]
        assert public["status"] == "open"
    assert shown == {
        None: {"skin": "envelope", "warmup_ms": 1500},  # a time activity's default
        800: {"skin": "envelope", "warmup_ms": 800},
    }
