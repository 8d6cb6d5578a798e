"""Abuse attempts not covered elsewhere: object access across users, mass
assignment on player bodies, out-of-range ids. docs/security.md maps every
row of its table to a test here or in the module it names."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.routing import Mount

from app.http.redirects import relative_location
from app.http.routes import ROUTES
from app.services.container import Services
from app.store.sql.database import Database
from app.store.sql.models import Base
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, offset_to, snapshot
from tests.http.test_http import assert_error, bearer
from tests.services.test_kinds import bands
from tests.services.test_lotteries import T0, at

Http = Callable[[Services], httpx.AsyncClient]


@pytest.mark.parametrize(
    ("path", "admin"),
    [
        ("/v1/lotteries/1000000000000000000", False),
        ("/v1/lotteries/99999999999999999999999999/join", False),
        ("/v1/lotteries/-1", False),
        ("/v1/activities/18446744073709551616", False),
        ("/v1/admin/activities/9223372036854775808", True),
        ("/v1/admin/activities/9223372036854775808/stats", True),
    ],
)
async def test_ids_out_of_range_are_404_not_500(
    make_service: ServiceFactory, http: Http, path: str, admin: bool
) -> None:
    client = http(make_service())
    headers = admin_headers() if admin else bearer("eve")
    method = "POST" if path.endswith("/join") else "GET"
    assert_error(await client.request(method, path, headers=headers), 404, "not_found")


async def test_notifications_are_private(make_service: ServiceFactory, http: Http) -> None:
    # Fresh names: the session's database holds other tests' users.
    amy, bob, carol = (f"{n}-{secrets.token_hex(4)}" for n in ("amy", "bob", "carol"))
    svc = at(make_service, T0)
    rec = await svc.lotteries.create(carol, "party", T0 + dt.timedelta(minutes=5), "cake", 1)
    await svc.lotteries.join(rec.id, amy)
    due = at(make_service, T0 + dt.timedelta(minutes=6))
    await due.lotteries.run_due()
    await due.lotteries.run_due()
    client = http(due)
    mine = (await client.get("/v1/me/notifications", headers=bearer(amy))).json()
    assert [n["kind"] for n in mine["notifications"]] == ["lottery_result"]
    for other in (bob, carol):
        seen = (await client.get("/v1/me/notifications", headers=bearer(other))).json()
        assert seen == {"notifications": [], "next_cursor": None}
    # A cursor is only a position: replaying amy's cursor shows bob only his own rows.
    page = (
        await client.get("/v1/me/notifications", params={"limit": 1}, headers=bearer(amy))
    ).json()
    assert page["next_cursor"] is not None
    replay = await client.get(
        "/v1/me/notifications", params={"cursor": page["next_cursor"]}, headers=bearer(bob)
    )
    assert replay.json() == {"notifications": [], "next_cursor": None}


MASS_ASSIGNMENT: list[tuple[str, str, dict[str, Any], bool]] = [
    (
        "/v1/lotteries",
        "creator",
        {
            "title": "t",
            "draw_at": "2030-06-01T03:00:00+00:00",
            "prize": {"name": "mug", "quantity": 1},
            "creator": "boss",
        },
        False,
    ),
    (
        "/v1/lotteries",
        "prize.value",
        {
            "title": "t",
            "draw_at": "2030-06-01T03:00:00+00:00",
            "prize": {"name": "mug", "quantity": 1, "value": 999},
        },
        False,
    ),
    ("/v1/auth/dev", "admin", {"user_id": "eve", "admin": True}, False),
    (
        "/v1/grants",
        "used",
        {"user_id": "eve", "activity_id": 1, "amount": 5, "reference": "r1", "used": True},
        True,
    ),
]


@pytest.mark.parametrize(
    ("path", "field", "body", "admin"),
    MASS_ASSIGNMENT,
    ids=[f"{m[0]}:{m[1]}" for m in MASS_ASSIGNMENT],
)
async def test_unknown_fields_are_refused_and_change_nothing(
    make_service: ServiceFactory,
    http: Http,
    stack: tuple[Any, Any],
    path: str,
    field: str,
    body: dict[str, Any],
    admin: bool,
) -> None:
    client = http(at(make_service, T0))
    before = await snapshot(stack[0]), await row_counts(stack[1])
    headers = admin_headers() if admin else bearer("eve")
    resp = assert_error(await client.post(path, json=body, headers=headers), 422)
    assert resp["error"]["code"] == "validation_error"
    assert (await snapshot(stack[0]), await row_counts(stack[1])) == before


async def row_counts(db: Database) -> dict[str, int]:
    """Rows per table: with the Redis snapshot, proof a refused request wrote nothing."""
    async with db.engine.connect() as conn:
        return {
            name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
            for name, table in Base.metadata.tables.items()
        }


async def test_grants_are_readable_only_by_their_owner(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service(offset_to(local(DAY, 10, 5))))
    aid = (await client.post("/v1/admin/activities", json=bands(), headers=admin_headers())).json()[
        "id"
    ]
    await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
    hu, eve = f"hu-{secrets.token_hex(4)}", f"eve-{secrets.token_hex(4)}"
    made = []
    for user in (hu, hu, eve):
        ref = f"sec-{user}-{len(made)}"  # references are unique across activities
        body = {"user_id": user, "activity_id": aid, "amount": 250, "reference": ref}
        made.append((await client.post("/v1/grants", json=body, headers=admin_headers())).json())
    listed = (await client.get("/v1/me/grants", headers=bearer(hu))).json()["grants"]
    # Newest first (ties within a second, MariaDB's DATETIME resolution, in id order).
    assert {g["grant_id"] for g in listed} == {made[0]["grant_id"], made[1]["grant_id"]}
    assert [g["created_at"] for g in listed] == sorted(
        (g["created_at"] for g in listed), reverse=True
    )
    assert all(g["user_id"] == hu and g["used"] is False for g in listed)
    mine = await client.get(f"/v1/me/grants/{made[0]['grant_id']}", headers=bearer(hu))
    assert mine.status_code == 200 and mine.json() in listed
    # eve's grant id, known to hu, reads exactly like an id that does not exist.
    theirs = await client.get(f"/v1/me/grants/{made[2]['grant_id']}", headers=bearer(hu))
    nothing = await client.get("/v1/me/grants/gdoesnotexist", headers=bearer(hu))
    assert_error(theirs, 404, "grant_not_found")
    assert theirs.json()["error"]["message"].replace(made[2]["grant_id"], "X") == nothing.json()[
        "error"
    ]["message"].replace("gdoesnotexist", "X")
    # Spending shows up in the owner's view; filters and bad filters.
    drawn = await client.post(
        "/v1/draw", json={"activity_id": aid, "grant_id": made[0]["grant_id"]}, headers=bearer(hu)
    )
    after = await client.get(f"/v1/me/grants/{made[0]['grant_id']}", headers=bearer(hu))
    assert after.json()["used"] is True and after.json()["draw_id"] == drawn.json()["draw_id"]
    other = await client.get("/v1/me/grants", params={"activity_id": aid + 1}, headers=bearer(hu))
    assert other.json() == {"grants": []}
    for bad in ("x", "-1", "9" * 19):
        assert_error(
            await client.get("/v1/me/grants", params={"activity_id": bad}, headers=bearer(hu)),
            422,
            "validation_error",
        )
    assert_error(await client.get("/v1/me/grants"), 401, "unauthorized")


async def test_redirects_never_name_the_requests_host(
    make_service: ServiceFactory, http: Http
) -> None:
    """A trailing-slash redirect used to be built from the Host header (307 to
    http://evil.example/console): every redirect the app makes is a path now,
    whatever Host, on every route (each path with its slash toggled)."""
    client = http(make_service())
    hostile = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    paths: set[str] = set()
    for route in ROUTES:
        fmt = getattr(route, "path_format", None) or getattr(route, "path", "")
        path = re.sub(r"\{[^}]+\}", "1", fmt)
        paths.add(path.rstrip("/") if path.endswith("/") else path + "/")
        if isinstance(route, Mount):
            paths.add(route.path)  # /static, which only matches as /static/...
    redirected = {}
    for path in sorted(paths):
        for method in ("GET", "POST"):
            resp = await client.request(method, path, headers=hostile)
            location = resp.headers.get("location")
            if 300 <= resp.status_code < 400 or location is not None:
                assert location is not None and location.startswith("/"), (path, location)
                assert not location.startswith("//") and "evil" not in location, (path, location)
                redirected[(method, path)] = location
    assert redirected[("GET", "/console/")] == "/console"
    assert redirected[("GET", "/static")] == "/static/"
    assert redirected[("POST", "/v1/draw/")] == "/v1/draw"
    assert len(redirected) > 40, redirected  # every route answered its toggled path
    query = await client.get("/console/?lang=en", headers=hostile)
    assert query.status_code == 307 and query.headers["location"] == "/console?lang=en"
    # A path that reads as another host is never redirected to.
    for sneaky in ("//evil.example/", "//evil.example", "/\\evil.example/"):
        resp = await client.get(f"https://redrain.test{sneaky}", headers=hostile)
        assert "evil" not in resp.headers.get("location", ""), (sneaky, resp.headers)
        assert relative_location(sneaky.rstrip("/"), b"") is None
    assert relative_location("/a b/é", b"x=1") == "/a%20b/%C3%A9?x=1"
