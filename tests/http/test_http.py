"""The HTTP API in process (real app, real Redis/fakeredis, real MariaDB/SQLite):
response shapes, refusals, bad input, auth, outages."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.domain import tokens
from app.services.container import Services
from app.store.redis import connection as engine_conn
from app.store.redis.store import RedisStore
from app.store.sql.database import Database
from app.store.sql.models import ActivityRow
from tests.conftest import ServiceFactory, admin_headers, settings_for
from tests.helpers import AUDIT_KEY, DAY, SECRET, local, offset_to, prize, rain, snapshot

Http = Callable[[Services], httpx.AsyncClient]


def bearer(user: str, expires: int | None = None) -> dict[str, str]:
    exp = expires if expires is not None else int(time.time()) + 3600
    return {"Authorization": f"Bearer {tokens.issue(SECRET.encode(), user, exp)}"}


def assert_error(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) >= {"error"} and set(body["error"]) >= {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body


async def setup(
    make_service: ServiceFactory, http: Http, cfg: dict[str, Any], when: dt.datetime
) -> tuple[httpx.AsyncClient, int]:
    client = http(make_service(offset_to(when)))
    resp = await client.post("/v1/admin/activities", json=cfg, headers=admin_headers())
    assert resp.status_code == 201, resp.text
    aid = resp.json()["id"]
    resp = await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
    assert resp.status_code == 200, resp.text
    return client, aid


async def test_draw_response_shape(make_service: ServiceFactory, http: Http) -> None:
    client, aid = await setup(
        make_service,
        http,
        rain([prize("c2", 5, 1.0)], limits={"per_round": 2, "per_day": 5}),
        local(DAY, 10, 5),
    )
    resp = await client.post(
        "/v1/draw", json={"activity_id": aid, "client_seed": "abc"}, headers=bearer("alice")
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["draw_id"] == f"{aid}:20300601:0:1"
    assert body["round_id"] == f"{aid}:20300601:0"
    assert body["won"] is True
    assert body["prize"] == {"key": "c2", "type": "coupon", "name": "prize c2", "value": "V-c2"}
    assert body["remaining"] == {"round": 1, "day": 4, "total": None}
    assert body["proof"]["client_seed"] == "abc" and body["proof"]["nonce"] == 1
    assert len(body["proof"]["seed_hash"]) == 64
    public = (await client.get(f"/v1/activities/{aid}")).json()
    assert public["current_round"]["seed_hash"] == body["proof"]["seed_hash"]


async def test_loss_and_refusals(make_service: ServiceFactory, http: Http) -> None:
    cfg = rain(
        [prize("c2", 0, 1.0)],
        limits={"per_round": 1},
        sessions=[("10:00:00", "10:10:00"), ("12:00:00", "12:10:00")],
    )
    client, aid = await setup(make_service, http, cfg, local(DAY, 10, 5))
    resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("bob"))
    assert resp.status_code == 200 and resp.json()["won"] is False and resp.json()["prize"] is None
    resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("bob"))
    assert_error(resp, 429, "round_limit")
    assert 6000 < int(resp.headers["Retry-After"]) < 7000
    closed = http(make_service(offset_to(local(DAY, 11))))
    resp = await closed.post("/v1/draw", json={"activity_id": aid}, headers=bearer("bob"))
    body = assert_error(resp, 409, "round_closed")
    assert body["error"]["next_round_start"] == "2030-06-01T12:00:00+08:00"
    assert set(body) == {"error"}  # SPEC §3: the one key
    ended = http(make_service(offset_to(local(DAY, 13))))
    assert_error(
        await ended.post("/v1/draw", json={"activity_id": aid}, headers=bearer("bob")),
        409,
        "activity_ended",
    )
    early = http(make_service(offset_to(local(DAY, 9))))
    assert_error(
        await early.post("/v1/draw", json={"activity_id": aid}, headers=bearer("bob")),
        409,
        "round_closed",
    )


async def test_idempotency_over_http(make_service: ServiceFactory, http: Http) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 5, 1.0)]), local(DAY, 10, 5))
    h = {**bearer("carol"), "Idempotency-Key": "tap-42"}
    first = await client.post(
        "/v1/draw", json={"activity_id": aid, "client_seed": "a,b"}, headers=h
    )
    # A retry returns the first response; the same key with another body is refused.
    again = await client.post(
        "/v1/draw", json={"activity_id": aid, "client_seed": "a,b"}, headers=h
    )
    other = await client.post("/v1/draw", json={"activity_id": aid, "client_seed": "z"}, headers=h)
    assert_error(other, 422, "idempotency_key_reused")
    assert first.json()["proof"]["client_seed"] == "a,b"
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    stats = (await client.get(f"/v1/admin/activities/{aid}/stats", headers=admin_headers())).json()
    assert stats["rounds"][0]["draws"] == 1 and stats["rounds"][0]["prizes"][0]["won"] == 1
    # The key is the user's, not the activity's: another activity_id is another body.
    made = await client.post("/v1/admin/activities", json=rain(), headers=admin_headers())
    second = made.json()["id"]
    await client.post(f"/v1/admin/activities/{second}/publish", headers=admin_headers())
    body = {"activity_id": second, "client_seed": "a,b"}
    assert_error(await client.post("/v1/draw", json=body, headers=h), 422, "idempotency_key_reused")
    got = await client.get(f"/v1/admin/activities/{second}/stats", headers=admin_headers())
    assert got.json()["rounds"][0]["draws"] == 0
    bad = {**bearer("carol"), "Idempotency-Key": "x" * 65}
    assert_error(
        await client.post("/v1/draw", json={"activity_id": aid}, headers=bad),
        400,
        "invalid_idempotency_key",
    )
    b64 = {
        **bearer("carol"),
        "Idempotency-Key": "aGk+/w==:01J{x}",
    }  # base64, braces: any visible ASCII
    first = await client.post("/v1/draw", json={"activity_id": aid}, headers=b64)
    again = await client.post("/v1/draw", json={"activity_id": aid}, headers=b64)
    assert first.status_code == 200 and again.json()["draw_id"] == first.json()["draw_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    # "client_seed": null is its default (empty), as null grant_id and count are theirs.
    nulled = {"activity_id": aid, "client_seed": None, "grant_id": None, "count": None}
    seeded = await client.post("/v1/draw", json=nulled, headers=bearer("dora"))
    assert seeded.status_code == 200 and seeded.json()["proof"]["client_seed"] == ""


AID = "<the activity id>"  # replaced by the test's published activity

BAD_DRAWS: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("malformed json", {"content": b"{not json"}, 400, "invalid_json"),
    ("empty body", {"content": b""}, 400, "invalid_json"),
    ("array body", {"json": [1, 2]}, 422, "validation_error"),
    ("string id", {"json": {"activity_id": "1"}}, 422, "validation_error"),
    ("bool id", {"json": {"activity_id": True}}, 422, "validation_error"),
    ("float id", {"json": {"activity_id": 1.5}}, 422, "validation_error"),
    ("negative id", {"json": {"activity_id": -3}}, 422, "validation_error"),
    ("missing id", {"json": {"client_seed": "x"}}, 422, "validation_error"),
    (
        "client seed too long",
        {"json": {"activity_id": AID, "client_seed": "x" * 65}},
        422,
        "validation_error",
    ),
    (
        "client seed not a string",
        {"json": {"activity_id": AID, "client_seed": 5}},
        422,
        "validation_error",
    ),
    (
        "mass assignment: prize",
        {"json": {"activity_id": AID, "prize": "c2"}},
        422,
        "validation_error",
    ),
    (
        "mass assignment: user_id",
        {"json": {"activity_id": AID, "user_id": "admin"}},
        422,
        "validation_error",
    ),
    ("mass assignment: nonce", {"json": {"activity_id": AID, "nonce": 1}}, 422, "validation_error"),
    (
        "body over 64 KiB",
        {"json": {"activity_id": AID, "pad": "x" * 70_000}},
        413,
        "payload_too_large",
    ),
    ("unknown activity", {"json": {"activity_id": 987654}}, 404, "activity_not_found"),
]


@pytest.mark.parametrize(
    ("label", "kwargs", "status", "code"), BAD_DRAWS, ids=[b[0] for b in BAD_DRAWS]
)
async def test_bad_draw_requests_change_nothing(
    make_service: ServiceFactory,
    http: Http,
    stack: tuple[Any, Any],
    label: str,
    kwargs: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 5, 1.0)]), local(DAY, 10, 5))
    if isinstance(kwargs.get("json"), dict) and kwargs["json"].get("activity_id") == AID:
        kwargs = {"json": {**kwargs["json"], "activity_id": aid}}
    before = await snapshot(stack[0])
    resp = await client.post("/v1/draw", headers=bearer("eve"), **kwargs)
    assert_error(resp, status, code)
    assert await snapshot(stack[0]) == before


async def test_auth_failures_change_nothing(
    make_service: ServiceFactory, http: Http, stack: tuple[Any, Any]
) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 5, 1.0)]), local(DAY, 10, 5))
    before = await snapshot(stack[0])
    body = {"activity_id": aid}
    assert_error(await client.post("/v1/draw", json=body), 401, "unauthorized")
    assert_error(
        await client.post("/v1/draw", json=body, headers={"Authorization": "Basic abc"}),
        401,
        "invalid_token",
    )
    forged = bearer("eve")["Authorization"][:-3] + "abc"
    assert_error(
        await client.post("/v1/draw", json=body, headers={"Authorization": forged}),
        401,
        "invalid_token",
    )
    other_secret = tokens.issue(b"x" * 40, "eve", int(time.time()) + 60)
    assert_error(
        await client.post(
            "/v1/draw", json=body, headers={"Authorization": f"Bearer {other_secret}"}
        ),
        401,
        "invalid_token",
    )
    expired = bearer("eve", int(time.time()) - 5)
    assert_error(await client.post("/v1/draw", json=body, headers=expired), 401, "token_expired")
    assert_error(
        await client.post("/v1/draw", json=body, headers=admin_headers()), 403, "forbidden"
    )
    # Player tokens on admin routes.
    for method, path in [
        ("GET", "/v1/admin/activities"),
        ("POST", "/v1/admin/activities"),
        ("GET", f"/v1/admin/activities/{aid}"),
        ("PUT", f"/v1/admin/activities/{aid}"),
        ("POST", f"/v1/admin/activities/{aid}/publish"),
        ("POST", f"/v1/admin/activities/{aid}/stock"),
        ("GET", f"/v1/admin/activities/{aid}/stats"),
    ]:
        assert_error(
            await client.request(method, path, headers=bearer("eve"), json={}), 403, "forbidden"
        )
        assert_error(await client.request(method, path, json={}), 401, "unauthorized")
    # The admin token is never accepted from the query string.
    assert_error(await client.get("/v1/admin/activities?token=admin-token-for-tests"), 401)
    assert await snapshot(stack[0]) == before


async def test_invalid_activity_configs_change_nothing(
    make_service: ServiceFactory, http: Http, stack: tuple[Any, Any]
) -> None:
    client = http(make_service())
    redis_client, db = stack

    async def count() -> int:
        async with db.session() as s:
            return int(await s.scalar(select(func.count()).select_from(ActivityRow)) or 0)

    before, rows = await snapshot(redis_client), await count()
    good = rain([prize("a", 5, 0.5)])
    cases = [
        ({**good, "kind": "lottery"}, "kind"),
        ({**good, "end_date": "2030-01-01"}, "end_date"),
        (rain([prize("a", 5, 0.7), prize("b", 5, 0.4)]), "sessions[0].pools[0].prizes"),
        (rain([prize("a", -5, 0.5)]), "sessions[0].pools[0].prizes[0].quantity"),
        (rain(sessions=[("10:00:00", "11:00:00"), ("10:30:00", "12:00:00")]), "sessions[1]"),
        ({**good, "kind": "count"}, "sessions[0].pools[0].nth"),
        ({k: v for k, v in good.items() if k != "sessions"}, "sessions"),
    ]
    for cfg, field in cases:
        resp = await client.post("/v1/admin/activities", json=cfg, headers=admin_headers())
        body = assert_error(resp, 422, "validation_error")
        assert body["error"]["field"] == field and field in body["error"]["message"]
    assert_error(
        await client.post("/v1/admin/activities", content=b"[", headers=admin_headers()),
        400,
        "invalid_json",
    )
    assert_error(
        await client.post("/v1/admin/activities", json=[good], headers=admin_headers()), 422
    )
    assert await count() == rows
    assert await snapshot(redis_client) == before


async def test_admin_crud_publish_stats_topup(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service(offset_to(local(DAY - dt.timedelta(days=1), 12))))
    cfg = rain([prize("c2", 5, 1.0)])
    created = (await client.post("/v1/admin/activities", json=cfg, headers=admin_headers())).json()
    aid = created["id"]
    assert (
        created["status"] == "draft" and created["version"] == 1 and created["name"] == "test rain"
    )
    got = (await client.get(f"/v1/admin/activities/{aid}", headers=admin_headers())).json()
    assert got == created
    listed = (await client.get("/v1/admin/activities", headers=admin_headers())).json()
    assert any(a["id"] == aid for a in listed["activities"])
    # GET → edit → PUT works (read-only fields are ignored).
    got["name"] = "edited"
    put = await client.put(f"/v1/admin/activities/{aid}", json=got, headers=admin_headers())
    assert put.status_code == 200 and put.json()["name"] == "edited" and put.json()["version"] == 2
    assert_error(await client.get(f"/v1/activities/{aid}"), 404, "activity_not_found")
    pub = (await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())).json()
    assert pub["status"] == "published" and pub["rounds"] == 1
    again = (
        await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
    ).json()
    assert again["rounds"] == 1
    top = await client.post(
        f"/v1/admin/activities/{aid}/stock",
        json={"round": f"{aid}:20300601:0", "prize": "c2", "add": 3},
        headers=admin_headers(),
    )
    assert top.status_code == 200 and top.json()["quantity"] == 8
    assert_error(
        await client.post(
            f"/v1/admin/activities/{aid}/stock",
            json={"round": "20300601:0", "prize": "c2", "add": 0},
            headers=admin_headers(),
        ),
        422,
    )
    stats = (await client.get(f"/v1/admin/activities/{aid}/stats", headers=admin_headers())).json()
    (rnd,) = stats["rounds"]
    assert rnd["status"] == "upcoming" and rnd["prizes"][0]["quantity"] == 8
    assert_error(
        await client.get("/v1/admin/activities/424242", headers=admin_headers()),
        404,
        "activity_not_found",
    )
    assert_error(
        await client.post("/v1/admin/activities/424242/publish", headers=admin_headers()), 404
    )


async def test_public_activity_and_round(make_service: ServiceFactory, http: Http) -> None:
    client, aid = await setup(
        make_service, http, rain([prize("c2", 5, 0.4)], limits={"per_round": 3}), local(DAY, 10, 5)
    )
    body = (await client.get(f"/v1/activities/{aid}")).json()
    assert body["status"] == "open" and body["kind"] == "time" and body["probability"] == "manual"
    p = body["sessions"][0]["pools"][0]["prizes"][0]
    assert p["probability"] == 0.4 and p["quantity"] == 5 and "value" not in p
    assert "remaining" not in body
    await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("dave"))
    mine = (await client.get(f"/v1/activities/{aid}", headers=bearer("dave"))).json()
    assert mine["remaining"]["round"] == 2 and mine["remaining"]["day"] is None
    rid = body["current_round"]["round_id"]
    rnd = (await client.get(f"/v1/rounds/{rid}")).json()
    assert rnd["status"] == "open" and rnd["seed"] is None
    assert rnd["seed_hash"] == body["current_round"]["seed_hash"]
    later = http(make_service(offset_to(local(DAY, 11, 5))))
    revealed = (await later.get(f"/v1/rounds/{rid}")).json()
    assert revealed["status"] == "ended"
    import hashlib

    assert hashlib.sha256(bytes.fromhex(revealed["seed"])).hexdigest() == revealed["seed_hash"]
    assert_error(await client.get(f"/v1/rounds/{aid}:20990101:0"), 404, "round_not_found")
    assert_error(await client.get("/v1/rounds/nope"), 404, "round_not_found")


async def test_routing_errors_are_json(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service())
    assert_error(await client.get("/nope"), 404, "not_found")
    assert_error(await client.get("/v1/draw"), 405, "method_not_allowed")
    assert_error(await client.delete("/v1/admin/activities"), 405)
    assert_error(await client.get("/v1/activities/abc"), 404)
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["redis"] == "ok"
    assert (await client.get("/readyz?need=redis")).status_code == 200
    assert_error(await client.get("/readyz?need=cache"), 422, "validation_error")


async def test_dev_login(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service())
    resp = await client.post("/v1/auth/dev", json={"user_id": "zoe"})
    assert resp.status_code == 200
    body = resp.json()
    assert (
        body["user_id"] == "zoe" and body["expires_in"] > 0 and body["token"].startswith("rd1.zoe.")
    )
    assert_error(await client.post("/v1/auth/dev", json={"user_id": "bad id!"}), 422)
    assert_error(await client.post("/v1/auth/dev", json={"user_id": 5}), 422)
    off = http(make_service(dev_login=False))
    assert_error(await off.post("/v1/auth/dev", json={"user_id": "zoe"}), 404)


@pytest.mark.integration  # connects to a dead port
async def test_redis_down_gives_503(http: Http, sqlite_url: str) -> None:
    settings = settings_for(sqlite_url)
    dead = engine_conn.connect("redis://127.0.0.1:1/0", timeout=0.5)
    db = Database(sqlite_url, audit_key=AUDIT_KEY)
    svc = Services(settings, RedisStore(dead, offset_ms=0, idempotency_ttl=60), db)
    client = http(svc)
    t0 = time.monotonic()
    assert_error(
        await client.post("/v1/draw", json={"activity_id": 1}, headers=bearer("f")),
        503,
        "unavailable",
    )
    assert_error(await client.get("/v1/activities/1"), 503, "unavailable")
    assert_error(await client.get("/readyz"), 503, "unavailable")
    assert_error(await client.get("/readyz?need=redis"), 503, "unavailable")
    assert time.monotonic() - t0 < 5
    await dead.aclose()
    await db.close()


@pytest.mark.integration  # connects to a dead port
async def test_database_down_gives_503(http: Http, redis_client: Any) -> None:
    url = "mysql+asyncmy://root@127.0.0.1:1/none"
    db = Database(url, timeout=1, audit_key=AUDIT_KEY)
    svc = Services(settings_for(url), RedisStore(redis_client, offset_ms=0, idempotency_ttl=60), db)
    client = http(svc)
    t0 = time.monotonic()
    assert_error(
        await client.post("/v1/admin/activities", json=rain(), headers=admin_headers()),
        503,
        "unavailable",
    )
    assert_error(
        await client.get("/v1/admin/activities/1", headers=admin_headers()), 503, "unavailable"
    )
    assert_error(await client.get("/readyz"), 503, "unavailable")
    # Draws need only Redis: ready for a balancer that sends only draws.
    redis_only = await client.get("/readyz?need=redis")
    assert redis_only.status_code == 200 and redis_only.json()["redis"] == "ok"
    assert redis_only.json()["database"] != "ok"  # reported, not required
    assert time.monotonic() - t0 < 10
    await db.close()
