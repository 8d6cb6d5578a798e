"""/verify: draws recomputed in the browser from the revealed seed.

The fairness module (static/js/fairness.js) runs in Node against the worked
example of docs/fairness.md and against app/domain/fairness.py on random
inputs; the page runs in Chromium on a real round that has ended: the player's
own draws and a pasted draw response are verified, and the same draw tampered
with (random value, prize, user id) is not."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import gzip
import json
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from app.domain import bundle as bundles
from app.domain import fairness
from app.http import i18n
from app.http.pages import STATIC
from tests.helpers import running_server
from tests.system.browser import (
    ADMIN,
    CHROMIUM,
    LANGS,
    accessible,
    all_day,
    gift,
    opened,
    player_token,
    publish,
    shoot,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NODE = shutil.which("node") or "/usr/bin/node"
MODULE = STATIC / "js" / "fairness.js"
SEED = "108d3d6c855e68ad8b16b0ea5f2d90762bf10e9ff4135478ee6098d7e0a409d9"
USER = "vera"


def node(script: str, data: Any) -> Any:
    """Run ``script`` (an ES module body with ``f`` = fairness.js and ``data``
    = the JSON given) in Node; its ``out`` as JSON."""
    assert Path(NODE).exists(), "node is required for the fairness module's tests"
    program = (
        f"import * as f from {json.dumps(MODULE.as_uri())};\n"
        "const data = JSON.parse(await new Promise((ok) => { let s = '';"
        " process.stdin.on('data', (c) => (s += c)); process.stdin.on('end', () => ok(s)); }));\n"
        "let out;\n"
        f"{script}\n"
        "process.stdout.write(JSON.stringify(out, (k, v) => typeof v === 'bigint' ? String(v) : v));\n"
    )
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", program],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- the fairness module, in Node -------------------------------------------------------


def test_fairness_module_reproduces_the_worked_example() -> None:
    out = node(
        """
        const key = await f.userKey(data.seed, "alice", "my-lucky-seed");
        const r1 = await f.drawRandom(key, 1), r2 = await f.drawRandom(key, 2);
        out = {hash: await f.seedHash(data.seed), key, r1, r2,
               x1: f.uniform(r1, f.PPB), x2: f.uniform(r2, f.PPB),
               p1: f.pickManual(r1, [500000000, 200000000]),
               p2: f.pickManual(r2, [500000000, 200000000])};
        """,
        {"seed": SEED},
    )
    assert out == {
        "hash": "0f56623fa90d56b49c2ea48cbd6d1d60e930bb8027b24a4f58465187dadecb1c",
        "key": "0b107c55a9883833d8cee1b4d8efce9cbf4f58c464a13b96763eccc8987a8fdf",
        "r1": "1648a5633f903bf02aca7e3f3296cb5a7928ff4f",
        "r2": "3880baee8ccee1e97e686730fae3090e2c92a9e0",
        "x1": "291221763",
        "x2": "690642158",
        "p1": 1,
        "p2": 2,
    }


def test_fairness_module_agrees_with_python() -> None:
    rng = random.Random(20300601)
    users = ["alice", "用户42", "o'brien", "a:b", "", "🧧red"]
    cases = []
    for i in range(300):
        seed = rng.randbytes(32).hex()
        user = rng.choice(users) + str(rng.randrange(10**6))
        client = rng.choice(["", "my-lucky-seed", "种子", "x" * rng.randrange(80)])
        nonce = rng.randrange(1, 10**6)
        # Manual odds summing to at most 10^9; auto weights × stock, some huge so
        # that T comes near 2^52 and chunks are rejected.
        ppbs = [rng.randrange(0, 3 * 10**8) for _ in range(rng.randrange(0, 5))]
        weighted = [rng.randrange(0, 1000) for _ in range(rng.randrange(0, 5))]
        if i % 3 == 0:
            weighted.append((1 << 51) + rng.randrange(1 << 20))
        cases.append({"seed": seed, "user": user, "client": client, "nonce": nonce,
                      "ppbs": ppbs, "weighted": weighted})  # fmt: skip
    # Chunks at and above the limit: the second, the third, then none is kept.
    forged = ["f" * 13 + "0" * 27, "f" * 26 + "1" * 14, "f" * 40, "0" * 40]
    probabilities = [0.5, 0.2, 0.1 + 0.2, 1e-9, 5e-10, 1.5e-9, 2.5e-9, 0.123456789, 1 / 3]
    out = node(
        """
        out = {cases: [], forged: [], ppb: data.probabilities.map(f.probabilityPpb)};
        for (const c of data.cases) {
          const key = await f.userKey(c.seed, c.user, c.client);
          const r = await f.drawRandom(key, c.nonce);
          out.cases.push({hash: await f.seedHash(c.seed), key, r,
                          manual: f.pickManual(r, c.ppbs), auto: f.pickAuto(r, c.weighted)});
        }
        for (const r of data.forged) out.forged.push([f.uniform(r, f.PPB), f.uniform(r, 2n ** 51n + 1n)]);
        """,
        {"cases": cases, "forged": forged, "probabilities": probabilities},
    )
    for c, got in zip(cases, out["cases"], strict=True):
        seed = bytes.fromhex(c["seed"])
        key = fairness.user_key(seed, c["user"], c["client"])
        rnd = fairness.draw_random(key, c["nonce"])
        assert got == {
            "hash": fairness.seed_hash(seed),
            "key": key,
            "r": rnd,
            "manual": fairness.pick_manual(rnd, c["ppbs"]),
            "auto": fairness.pick_auto(rnd, c["weighted"]),
        }, c
    assert out["forged"] == [
        [str(fairness.uniform(r, 10**9)), str(fairness.uniform(r, (1 << 51) + 1))] for r in forged
    ]
    from app.domain.activity import probability_ppb

    assert out["ppb"] == [probability_ppb(p) for p in probabilities]


def _rules(kind: str = "time", probability: str = "manual") -> dict[str, Any]:
    """Public rules as GET /v1/activities/{id} gives them (the parts verifyDraw reads)."""
    prizes = [
        {"key": "c2", "type": "coupon", "name": "2", "quantity": 9, "probability": 0.5},
        {"key": "c5", "type": "coupon", "name": "5", "quantity": 9, "probability": 0.2},
        {"key": "thanks", "type": "empty", "name": "Thanks", "probability": 0.1},
    ]
    pools: list[dict[str, Any]] = [{"prizes": prizes}]
    if kind == "count":
        pools = [{"nth": 1, "prizes": prizes}, {"nth": 2, "prizes": copy.deepcopy(prizes[:1])}]
    return {"kind": kind, "probability": probability, "after_last_pool": "refuse",
            "sessions": [{"pools": pools}]}  # fmt: skip


def _draw(user: str, nonce: int, ppbs: list[int], keys: list[str], client: str = "") -> dict:
    """A draw as the server makes it (app/domain/fairness.py), plenty of stock."""
    seed = bytes.fromhex(SEED)
    rnd = fairness.draw_random(fairness.user_key(seed, user, client), nonce)
    pick = fairness.pick_manual(rnd, ppbs)
    won = pick > 0 and keys[pick - 1] != "thanks"
    return {
        "round_id": "7:20300601:0",
        "won": won,
        "prize_key": keys[pick - 1] if won else None,
        "proof": {"client_seed": client, "nonce": nonce, "random": rnd, "pick": pick},
    }


def test_verify_draw_passes_real_draws_and_catches_tampering() -> None:
    keys = ["c2", "c5", "thanks"]
    ppbs = [500_000_000, 200_000_000, 100_000_000]
    draws = [_draw("alice", n, ppbs, keys, "my-lucky-seed") for n in range(1, 40)]
    won = next(d for d in draws if d["won"])
    lost = next(d for d in draws if not d["won"])
    tampered = {
        "random": {**won, "proof": {**won["proof"], "random": "0" + won["proof"]["random"][1:]}},
        "prize": {**won, "prize_key": "c5" if won["prize_key"] == "c2" else "c2"},
        "pick": {
            **lost,
            "proof": {**lost["proof"], "pick": 1 if lost["proof"]["pick"] != 1 else 2},
        },
        "invented_win": {**lost, "won": True, "prize_key": "c2"},
        "nonce": {**won, "proof": {**won["proof"], "nonce": won["proof"]["nonce"] + 1}},
    }
    hashed = fairness.seed_hash(bytes.fromhex(SEED))
    out = node(
        """
        const run = (d, extra = {}) => f.verifyDraw({seed: data.seed, seedHash: data.hash,
          user: "alice", draw: d, activity: data.rules, ...extra});
        out = {real: [], tampered: {}};
        for (const d of data.draws) out.real.push(await run(d));
        for (const [k, d] of Object.entries(data.tampered)) out.tampered[k] = await run(d);
        out.wrongUser = await run(data.won, {user: "alicia"});
        out.wrongHash = await run(data.won, {seedHash: "00" + data.hash.slice(2)});
        const stripped = {...data.won, proof: {...data.won.proof}};
        delete stripped.proof.pick;
        out.noPick = await run(stripped);
        """,
        {
            "seed": SEED,
            "hash": hashed,
            "rules": _rules(),
            "draws": draws,
            "won": won,
            "tampered": tampered,
        },
    )

    def failed(answer: dict) -> set[str]:
        return {c["id"] for c in answer["checks"] if c["ok"] is False}

    assert all(a["ok"] and a["complete"] for a in out["real"]), out["real"]
    assert failed(out["tampered"]["random"]) == {"random"}
    assert failed(out["tampered"]["prize"]) == {"outcome"}
    assert failed(out["tampered"]["pick"]) == {"pick"}
    assert failed(out["tampered"]["invented_win"]) == {"outcome"}
    assert "random" in failed(out["tampered"]["nonce"])
    assert "random" in failed(out["wrongUser"])
    assert failed(out["wrongHash"]) == {"seed"}
    assert out["noPick"]["ok"] and out["noPick"]["complete"]  # a response from before "pick"


def test_verify_draw_says_what_it_cannot_check() -> None:
    keys = ["c2", "c5", "thanks"]
    ppbs = [500_000_000, 200_000_000, 100_000_000]
    picked = next(
        d for n in range(1, 60) if (d := _draw("bo", n, ppbs, keys))["proof"]["pick"] in (1, 2)
    )
    sold_out = {**picked, "won": False, "prize_key": None}  # the picked prize had no stock
    # Level 2 of a count activity: pool 2 holds round prize 4 (c2 at 0.5).
    level2 = _draw("bo", 2, [500_000_000], ["c2"])
    level2["proof"]["pick"] = 4 if level2["proof"]["pick"] else 0
    level2["proof"]["pool"] = 2
    hashed = fairness.seed_hash(bytes.fromhex(SEED))
    out = node(
        """
        const run = (d, rules, extra = {}) => f.verifyDraw({seed: data.seed, seedHash: data.hash,
          user: "bo", draw: d, activity: rules, ...extra});
        out = {
          soldOut: await run(data.soldOut, data.manual),
          auto: await run(data.picked, data.auto),
          pasted: await run(data.level2, data.count),
          level2: await run(data.level2, data.count, {level: 2}),
          level1: await run(data.level2, data.count, {level: 1}),
        };
        """,
        {
            "seed": SEED,
            "hash": hashed,
            "soldOut": sold_out,
            "picked": picked,
            "level2": level2,
            "manual": _rules(),
            "auto": _rules(probability="auto"),
            "count": _rules("count"),
        },
    )

    def states(answer: dict) -> dict[str, Any]:
        return {c["id"]: (c["ok"], c["why"]) for c in answer["checks"]}

    assert out["soldOut"]["ok"] and not out["soldOut"]["complete"]
    assert states(out["soldOut"])["outcome"] == (None, "no_stock")
    assert states(out["auto"])["pick"] == (None, "auto_odds")
    assert states(out["auto"])["outcome"][0] is True
    assert states(out["pasted"])["pool"] == (None, "level_unknown")
    assert states(out["pasted"])["pick"] == (True, "")
    assert out["level2"]["complete"]
    assert states(out["level1"])["pool"] == (False, "other_pool")


# -- the page, in Chromium --------------------------------------------------------------


# The server's clock stands at noon (UTC) of today when this module starts
# (REDRAIN_CLOCK_OFFSET): a round made to end in 10 s never straddles midnight,
# whenever the suite runs.
NOON_OFFSET = (
    dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0).timestamp()
    - time.time()
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded server, on the noon clock."""
    log = tmp_path_factory.mktemp("verify") / "server.log"
    with running_server({"REDRAIN_CLOCK_OFFSET": str(NOON_OFFSET)}, log) as base:
        yield base


def _ending_window(seconds: int) -> tuple[str, str, str]:
    """A UTC session from five minutes ago to ``seconds`` from now by the
    server's clock: (date, start, end)."""
    now = dt.datetime.fromtimestamp(time.time() + NOON_OFFSET, dt.UTC)
    start = now - dt.timedelta(minutes=5)
    end = now + dt.timedelta(seconds=seconds)
    return now.date().isoformat(), f"{start:%H:%M:%S}", f"{end:%H:%M:%S}"


@pytest.fixture(scope="module")
async def rounds(server: str) -> dict[str, Any]:
    """A round that has ended with USER's draws (one with a client seed), and
    a draw in a round that is still open."""
    day, start, end = _ending_window(10)
    cfg = all_day(
        [gift("gold", 20, 0.6, "Gold coupon"), gift("silver", 20, 0.3, "Silver coupon")],
        name="Verify rain",
        days=1,
    )
    cfg["start_date"] = day
    cfg["end_date"] = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    cfg["sessions"][0]["start"], cfg["sessions"][0]["end"] = start, end
    aid = await publish(server, cfg)
    open_cfg = all_day([gift("g", 5, 0.5)], name="Open rain")
    open_cfg["start_date"], open_cfg["end_date"] = day, cfg["end_date"]  # the server's day
    open_aid = await publish(server, open_cfg)
    token = await player_token(server, USER)
    auth = {"Authorization": f"Bearer {token}"}
    draws = []
    async with httpx.AsyncClient(base_url=server, headers=auth) as c:
        for i in range(6):
            body = {"activity_id": aid, **({"client_seed": "my-lucky-seed"} if i == 2 else {})}
            resp = await c.post("/v1/draw", json=body)
            assert resp.status_code == 200, resp.text
            draws.append(resp.json())
        resp = await c.post("/v1/draw", json={"activity_id": open_aid})
        assert resp.status_code == 200, resp.text
        still_open = resp.json()
        round_id = draws[0]["round_id"]
        deadline = time.monotonic() + 30
        while True:  # the round ends ~10 s after it was made; the worker flushes the draws
            info = (await c.get(f"/v1/rounds/{round_id}")).json()
            mine = (await c.get("/v1/me/draws", params={"activity_id": aid})).json()["draws"]
            if info["seed"] and len(mine) == len(draws):
                break
            assert time.monotonic() < deadline, (info, mine)
            await asyncio.sleep(0.5)
    assert any(d["won"] for d in draws)  # 0.1^6 otherwise
    # A newer version where nothing wins takes only tomorrow's round: the page
    # must check today's draws against the version they were drawn with.
    for p in cfg["sessions"][0]["pools"][0]["prizes"]:
        p["probability"] = 0.0
    async with httpx.AsyncClient(base_url=server, headers=ADMIN) as c:
        resp = await c.put(f"/v1/admin/activities/{aid}", json=cfg)
        assert resp.status_code == 200, resp.text
        done = (await c.post(f"/v1/admin/activities/{aid}/publish")).json()
        assert (done["loaded"], done["kept"]) == (1, 1), done
    return {"token": token, "round_id": round_id, "draws": draws, "open": still_open}


async def _paste(page: Page, draw: dict[str, Any], user: str) -> None:
    await page.locator("#paste-json").fill(json.dumps(draw, ensure_ascii=False, indent=1))
    await page.locator("#paste-user").fill(user)
    await page.locator("#paste-form button[type=submit]").click()


@pytest.mark.parametrize("lang", LANGS)
async def test_verify_my_draws_and_a_pasted_one(
    server: str, browser: Browser, artifacts: Path, lang: str, rounds: dict[str, Any]
) -> None:
    zh = lang == "zh-CN"
    draws = rounds["draws"]
    for phone in (False, True):
        device = "phone" if phone else "desktop"
        async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
            # Signed out: the sign-in form, and the paste form that needs none.
            await page.goto(f"{server}/verify")
            await expect(page.locator("#signin")).to_be_visible()
            await expect(page.locator("h1")).to_have_text("验证抽奖" if zh else "Verify draws")
            await accessible(page)
            await shoot(page, artifacts, f"verify-{lang}-{device}")

            # The player's own draws in the round that has ended: picked from the
            # list on a desktop, by a link naming the round on a phone.
            if phone:
                await page.goto(
                    f"{server}/verify?round={rounds['round_id']}#token={rounds['token']}"
                )
            else:
                await page.goto(f"{server}/verify?lang={lang}#token={rounds['token']}")
                await page.locator("#round").select_option(rounds["round_id"])
                await page.locator("#mine-form button[type=submit]").click()
            cards = page.locator("#results article.draw")
            await expect(cards).to_have_count(len(draws))
            await expect(page.locator("#results article.draw.good")).to_have_count(len(draws))
            await expect(page.locator("#summary")).to_contain_text(
                "全部通过" if zh else "every draw is verified"
            )
            seeded = page.locator(f'#results article[data-draw="{draws[2]["draw_id"]}"]')
            await seeded.locator("summary").click()
            await expect(seeded.locator("dd").nth(3)).to_have_text("my-lucky-seed")
            # The whole round, for an auditor: its public bundle.
            link = page.locator("#results .bundle a")
            await expect(link).to_have_text(
                "下载整场数据（审计包）" if zh else "Download the whole round (audit bundle)"
            )
            if not phone:
                async with page.expect_download() as got:
                    await link.click()
                saved = await (await got.value).path()
                raw = await asyncio.to_thread(Path(saved).read_bytes)
                whole = bundles.load(gzip.decompress(raw).splitlines())
                assert bundles.check(whole).ok and len(whole.draws) == len(draws)
                assert USER not in {d.record.user_id for d in whole.draws}
            await accessible(page)
            await shoot(page, artifacts, f"verify-{lang}-{device}-mine-verified")
            watch.expect()

    async with opened(browser, lang=lang) as (_, page, watch):
        await page.goto(f"{server}/verify")
        won = next(d for d in draws if d["won"])
        await _paste(page, won, USER)
        card = page.locator("#results article.draw")
        await expect(card).to_have_class("draw good")
        await expect(card.locator("header .outcome")).to_contain_text(won["prize"]["name"])
        await shoot(page, artifacts, f"verify-{lang}-desktop-paste-verified")

        other = "silver" if won["prize"]["key"] == "gold" else "gold"
        bad_random = won["proof"]["random"][:-1] + (
            "0" if won["proof"]["random"][-1] != "0" else "1"
        )
        tamperings = [
            ({**won, "proof": {**won["proof"], "random": bad_random}}, USER, "random"),
            ({**won, "prize": {**won["prize"], "key": other}}, USER, "outcome"),
            (won, "someone-else", "random"),
        ]
        for draw, user, check in tamperings:
            await _paste(page, draw, user)
            await expect(card).to_have_class("draw bad")
            await expect(card.locator(f'.checks li.fail[data-check="{check}"]')).to_have_count(1)
            await expect(page.locator("#summary")).to_contain_text(
                "未通过" if zh else "NOT verified"
            )
        await accessible(page)
        await shoot(page, artifacts, f"verify-{lang}-desktop-paste-not-verified")

        # Not a draw; then a draw whose round is still open.
        await page.locator("#paste-json").fill("{not json")
        await page.locator("#paste-form button[type=submit]").click()
        await expect(page.locator("#paste-json")).to_have_attribute("aria-invalid", "true")
        await _paste(page, rounds["open"], USER)
        await expect(page.locator("#summary")).to_contain_text("尚未结束" if zh else "not ended")
        await expect(page.locator("#paste-json")).not_to_have_attribute("aria-invalid", "true")
        watch.expect()


async def test_verify_page_says_when_webcrypto_is_missing(server: str, artifacts: Path) -> None:
    """WebCrypto's subtle API exists only in secure contexts: the same server
    by a name that is not localhost, over plain http, is not one."""
    port = server.rsplit(":", 1)[1]
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--host-resolver-rules=MAP verify.example 127.0.0.1"],
        )
        try:
            async with opened(b) as (_, page, watch):
                await page.goto(f"http://verify.example:{port}/verify")
                assert not await page.evaluate("() => window.isSecureContext")
                await expect(page.locator("#insecure")).to_be_visible()
                await expect(page.locator("#paste-form button[type=submit]")).to_be_disabled()
                await shoot(page, artifacts, "verify-en-desktop-insecure")
                watch.expect()
        finally:
            await b.close()


@pytest.mark.parametrize(("lang", "phone"), [("en", False), ("zh-CN", True)])
async def test_verify_one_draw_by_its_link(
    server: str, browser: Browser, artifacts: Path, lang: str, phone: bool, rounds: dict[str, Any]
) -> None:
    """The game's Verify link beside a result: /verify?draw=<id> checks that
    one draw at once; rounds are named by campaign, date and time, not ids."""
    one = rounds["draws"][2]
    async with opened(browser, lang=lang, phone=phone) as (_, page, watch):
        await page.goto(f"{server}/verify?draw={one['draw_id']}#token={rounds['token']}")
        cards = page.locator("#results article.draw")
        await expect(cards).to_have_count(1)
        await expect(cards).to_have_class("draw good")
        await expect(cards).to_have_attribute("data-draw", one["draw_id"])
        option = page.locator("#round option:checked")
        await expect(option).to_contain_text("Verify rain")
        assert rounds["round_id"] not in await option.inner_text()
        await accessible(page)
        await shoot(page, artifacts, f"verify-{lang}-{'phone' if phone else 'desktop'}-one-draw")
        # A draw that is not the player's: said so, nothing checked.
        await page.goto(f"{server}/verify?draw={one['draw_id']}0#token={rounds['token']}")
        await expect(page.locator("#round-hint")).to_have_text(
            i18n.section(lang, "verify")["draw_not_yours"]
        )
        await expect(cards).to_have_count(0)
        watch.expect()
