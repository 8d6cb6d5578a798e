"""What the console asks the API for besides SPEC §3: the plan of a
configuration before it is saved (calendar and budget), the activity list by
status, archiving a draft, and the live outcome counts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, offset_to, prize, rain
from tests.http.test_http import Http, assert_error, bearer


def known() -> dict[str, Any]:
    """SPEC §2's example: three days, one one-minute session, c2 and c5."""
    cfg = rain([prize("c2", 2000, 0.5), prize("c5", 1000, 0.2)])
    cfg |= {"start_date": "2030-12-10", "end_date": "2030-12-12", "timezone": "Asia/Shanghai"}
    cfg["sessions"] = [
        {"start": "10:00:00", "end": "10:01:00", "pools": cfg["sessions"][0]["pools"]}
    ]
    cfg["release"] = {"slices": 2, "lead_seconds": 0}
    for p, cost in zip(cfg["sessions"][0]["pools"][0]["prizes"], (2, 5), strict=True):
        p["cost"] = cost
    return cfg


async def test_preview_shows_the_rounds_slices_and_budget(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service())
    resp = await client.post(
        "/v1/admin/activities/preview",
        json={"config": known(), "players": 10_000, "taps": 1},
        headers=admin_headers(),
    )
    assert resp.status_code == 200, resp.text
    plan = resp.json()
    assert plan["rounds_total"] == 3 and plan["timezone"] == "Asia/Shanghai"
    first = plan["rounds"][0]
    assert first["round"] == "20301210:0"
    assert (first["start"], first["end"]) == (
        "2030-12-10T10:00:00+08:00",
        "2030-12-10T10:01:00+08:00",
    )
    assert first["slices"] == [  # per prize, in time order
        {"prize": "c2", "at": "2030-12-10T10:00:00+08:00", "quantity": 1000},
        {"prize": "c2", "at": "2030-12-10T10:00:30+08:00", "quantity": 1000},
        {"prize": "c5", "at": "2030-12-10T10:00:00+08:00", "quantity": 500},
        {"prize": "c5", "at": "2030-12-10T10:00:30+08:00", "quantity": 500},
    ]
    b = plan["budget"]
    assert b["players"] == 10_000 and b["rounds_total"] == 3
    # 5,000 picks of c2 a minute: the first 1,000 go in 12 s, the second slice
    # (at 30 s) by 42 s. c5's 2,000 picks: 500 by 15 s, the rest by 45 s.
    prizes = {p["key"]: p for p in b["rounds"][0]["prizes"]}
    assert prizes["c2"]["runs_out"] == "2030-12-10T10:00:42+08:00"
    assert prizes["c5"]["runs_out"] == "2030-12-10T10:00:45+08:00"
    assert b["expected_cost"] == 3 * (2000 * 2 + 1000 * 5) == b["max_cost"]
    # No players given: the calendar alone.
    resp = await client.post(
        "/v1/admin/activities/preview", json={"config": known()}, headers=admin_headers()
    )
    assert resp.status_code == 200 and resp.json()["budget"] is None


async def test_preview_names_the_bad_field(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service())
    bad = known()
    bad["sessions"][0]["pools"][0]["prizes"][1]["probability"] = 0.6
    resp = await client.post(
        "/v1/admin/activities/preview", json={"config": bad}, headers=admin_headers()
    )
    body = assert_error(resp, 422, "validation_error")
    assert body["error"]["field"] == "config.sessions[0].pools[0].prizes"
    for wrong in (
        {"config": known(), "players": -1},
        {"config": known(), "taps": 0},
        {"config": 3},
    ):
        resp = await client.post(
            "/v1/admin/activities/preview", json=wrong, headers=admin_headers()
        )
        assert_error(resp, 422)
    # A player cannot plan campaigns.
    resp = await client.post(
        "/v1/admin/activities/preview", json={"config": known()}, headers=bearer("u1")
    )
    assert resp.status_code in (401, 403)


async def test_archive_a_draft_and_filter_the_list(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service(offset_to(local(DAY, 9))))
    ids = []
    for _ in range(3):
        resp = await client.post(
            "/v1/admin/activities", json=rain([prize("c2", 5, 0.5)]), headers=admin_headers()
        )
        ids.append(resp.json()["id"])
    draft, archived, live = ids
    assert (
        await client.post(f"/v1/admin/activities/{live}/publish", headers=admin_headers())
    ).status_code == 200
    resp = await client.post(f"/v1/admin/activities/{archived}/archive", headers=admin_headers())
    assert resp.status_code == 200 and resp.json()["status"] == "archived"

    async def listed(query: str = "") -> list[int]:
        resp = await client.get(f"/v1/admin/activities{query}", headers=admin_headers())
        assert resp.status_code == 200, resp.text
        return [a["id"] for a in resp.json()["activities"] if a["id"] in ids]

    assert await listed() == [live, draft]  # archived ones leave the default list
    assert await listed("?status=archived") == [archived]
    assert await listed("?status=published") == [live]
    assert await listed("?status=draft") == [draft]
    assert_error(await client.get("/v1/admin/activities?status=gone", headers=admin_headers()), 422)
    # An archived draft is neither edited nor published until it is restored.
    assert_error(
        await client.post(f"/v1/admin/activities/{archived}/publish", headers=admin_headers()),
        409,
        "activity_archived",
    )
    resp = await client.put(
        f"/v1/admin/activities/{archived}",
        json=rain([prize("c2", 6, 0.5)]),
        headers=admin_headers(),
    )
    assert_error(resp, 409, "activity_archived")
    # A published activity cannot be archived; a draft cannot be restored.
    assert_error(
        await client.post(f"/v1/admin/activities/{live}/archive", headers=admin_headers()),
        409,
        "not_archivable",
    )
    assert_error(
        await client.post(f"/v1/admin/activities/{draft}/restore", headers=admin_headers()),
        409,
        "not_archived",
    )
    resp = await client.post(f"/v1/admin/activities/{archived}/restore", headers=admin_headers())
    assert resp.status_code == 200 and resp.json()["status"] == "draft"
    assert await listed() == [live, archived, draft]
    audit = (
        await client.get(
            f"/v1/admin/audit?action=activity.archive&activity_id={archived}",
            headers=admin_headers(),
        )
    ).json()
    assert [e["target"] for e in audit["entries"]] == [f"activity:{archived}"]


async def test_outcomes_count_wins_losses_and_refusals(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service(offset_to(local(DAY, 10, 0, 5))))
    cfg = rain([prize("c2", 1, 1.0), prize("c5", 5, 0.0)], limits={"per_round": 3})
    aid = (await client.post("/v1/admin/activities", json=cfg, headers=admin_headers())).json()[
        "id"
    ]
    resp = await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
    assert resp.status_code == 200
    url = f"/v1/admin/activities/{aid}/outcomes"
    # Counters live as long as the process (and other tests' activities had
    # this id in their own databases): compare what changed.
    before = (await client.get(url, headers=admin_headers())).json()
    assert before["activity_id"] == aid
    seen: Counter[str] = Counter()
    for _ in range(4):
        resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("counted"))
        body = resp.json()
        seen["won" if body.get("won") else "lost" if "won" in body else body["error"]["code"]] += 1
    # A win (c2's one unit), a loss (c2 picked again, nothing left), then the limit.
    assert seen == Counter({"won": 1, "lost": 2, "round_limit": 1})
    after = (await client.get(url, headers=admin_headers())).json()["outcomes"]
    assert Counter(after) - Counter(before["outcomes"]) == seen
    assert_error(
        await client.get("/v1/admin/activities/99999/outcomes", headers=admin_headers()), 404
    )
