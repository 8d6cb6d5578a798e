"""Every write route under concurrent requests (issue 23, item 5): N parallel
identical requests and, where two writes can race, conflicting ones. One wins
or all agree (idempotent routes), the others get the spec's 4xx, never a
5xx, and the state afterwards is one the lifecycle allows. On real Redis +
MariaDB and on fakeredis + SQLite, over HTTP in process.

``test_every_write_route_has_a_concurrency_test`` fails when a write route is
added without a scenario here (or in the file that its entry names)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.domain.audit import Actor
from app.http.routes import ENDPOINTS
from app.services.container import Services
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import BY, DAY, local, offset_to, prize, rain
from tests.http.test_http import bearer

Http = Callable[[Services], httpx.AsyncClient]
N = 20
H = admin_headers()
# Write routes whose concurrency test lives elsewhere.
ELSEWHERE = {
    ("POST", "/v1/admin/login"): "tests/http/test_operators.py::test_parallel_guesses_*",
    ("POST", "/v1/draw"): "tests/services/test_draw.py, tests/system/test_concurrency.py",
    ("POST", "/v1/admin/activities/{id:rowid}/prizes/{key}/codes"): (
        "tests/http/test_codes.py::test_parallel_uploads_add_each_code_once"
    ),
    ("PUT", "/v1/me/draws/{draw_id}/delivery"): (
        "tests/http/test_support.py::test_addresses_and_shipping_at_once"
    ),
    ("POST", "/v1/admin/deliveries/{draw_id}/ship"): (
        "tests/http/test_support.py::test_addresses_and_shipping_at_once"
    ),
    ("POST", "/v1/admin/activities/{id:rowid}/pause"): (
        "tests/http/test_live_campaign.py::test_pause_under_load_takes_effect_at_once"
    ),
    ("POST", "/v1/admin/activities/{id:rowid}/resume"): (
        "tests/http/test_live_campaign.py::test_pause_under_load_takes_effect_at_once"
    ),
}
COVERED: set[tuple[str, str]] = set()


def covers(*routes: tuple[str, str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    COVERED.update(routes)
    return lambda f: f


async def burst(*calls: Callable[[], Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """The calls at once; no answer may be a 5xx."""
    answers = await asyncio.gather(*(c() for c in calls))
    bad = [(a.request.method, a.request.url.path, a.status_code, a.text) for a in answers]
    assert not [b for b in bad if b[2] >= 500], bad
    return list(answers)


def codes(answers: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    """(status, error code) of each answer."""
    out: Counter[tuple[int, str | None]] = Counter()
    for a in answers:
        code = a.json().get("error", {}).get("code") if a.content and a.status_code >= 400 else None
        out[(a.status_code, code)] += 1
    return out


def before_start(make_service: ServiceFactory, **kw: Any) -> Services:
    return make_service(offset_to(local(DAY - dt.timedelta(days=3), 10)), **kw)


async def new_activity(client: httpx.AsyncClient, **kw: Any) -> int:
    resp = await client.post(
        "/v1/admin/activities", json=rain([prize("c2", 5, 0.5)], **kw), headers=H
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def test_every_write_route_has_a_concurrency_test() -> None:
    writes = {
        (ep.method, ep.path)
        for ep in ENDPOINTS
        if ep.method in ("POST", "PUT", "DELETE", "PATCH")
        and ep.path != "/v1/admin/activities/preview"
    }
    assert writes - COVERED - set(ELSEWHERE) == set()


@covers(("POST", "/v1/admin/activities"), ("PUT", "/v1/admin/activities/{id:rowid}"))
async def test_create_and_replace(make_service: ServiceFactory, http: Http) -> None:
    client = http(before_start(make_service))
    made = await burst(*[lambda: client.post("/v1/admin/activities", json=rain(), headers=H)] * N)
    assert {a.status_code for a in made} == {201}
    assert len({a.json()["id"] for a in made}) == N  # a create is not idempotent: N drafts
    aid = made[0].json()["id"]
    same = await burst(
        *[lambda: client.put(f"/v1/admin/activities/{aid}", json=rain(name="same"), headers=H)] * N
    )
    assert set(codes(same)) <= {(200, None), (409, "activity_busy")}
    got = (await client.get(f"/v1/admin/activities/{aid}", headers=H)).json()
    ok = sum(a.status_code == 200 for a in same)
    assert got["version"] == 1 + ok and got["name"] == "same"


@covers(("POST", "/v1/admin/activities/{id:rowid}/publish"))
async def test_publish_twenty_at_once(make_service: ServiceFactory, http: Http) -> None:
    """Issue 23: 20 parallel publishes of one activity gave 13 x 500 (every
    blacklist copy shared one temporary key). Publishing is idempotent."""
    svc = before_start(make_service)
    client = http(svc)
    aid = await new_activity(client)
    answers = await burst(
        *[lambda: client.post(f"/v1/admin/activities/{aid}/publish", headers=H)] * N
    )
    assert set(codes(answers)) <= {(200, None), (409, "activity_busy")}
    assert any(a.status_code == 200 for a in answers)
    rec = await svc.activities.get(aid)
    assert rec.status == "published" and rec.published_version == 1
    assert (await svc.runtimes.fresh(aid)).version == 1


@covers(
    ("POST", "/v1/admin/activities/{id:rowid}/archive"),
    ("POST", "/v1/admin/activities/{id:rowid}/restore"),
)
async def test_archive_restore_and_archive_racing_publish(
    make_service: ServiceFactory, http: Http
) -> None:
    """Issue 23: archive racing publish gave a 500 (duplicate rounds.id) and an
    archived draft that was published."""
    svc = before_start(make_service)
    client = http(svc)
    aid = await new_activity(client)
    archived = await burst(
        *[lambda: client.post(f"/v1/admin/activities/{aid}/archive", headers=H)] * N
    )
    assert codes(archived)[(200, None)] == 1
    assert set(codes(archived)) <= {(200, None), (409, "not_archivable"), (409, "activity_busy")}
    restored = await burst(
        *[lambda: client.post(f"/v1/admin/activities/{aid}/restore", headers=H)] * N
    )
    assert codes(restored)[(200, None)] == 1
    for _ in range(3):
        aid = await new_activity(client)
        calls = [lambda a=aid: client.post(f"/v1/admin/activities/{a}/archive", headers=H)] * 5
        calls += [lambda a=aid: client.post(f"/v1/admin/activities/{a}/publish", headers=H)] * 5
        await burst(*calls)
        rec = await svc.activities.get(aid)
        live = await svc.redis.catalogue.activity_version(aid)
        # Never both: an archived draft has nothing in Redis; a published one is not archived.
        assert (rec.status, rec.published_at is None, live is None) in (
            ("archived", True, True),
            ("published", False, False),
        ), (rec, live)


@covers(
    ("POST", "/v1/admin/blacklist"),
    ("DELETE", "/v1/admin/blacklist/{kind}/{value}"),
)
async def test_blacklist_add_remove_and_racing_publish(
    make_service: ServiceFactory, http: Http
) -> None:
    """Issue 23: publish racing a blacklist change gave a 500. Every copy ends
    with the entries the database has."""
    svc = before_start(make_service)
    client = http(svc)
    value = f"racer-{id(svc)}"
    added = await burst(
        *[
            lambda: client.post(
                "/v1/admin/blacklist", json={"kind": "user", "value": value}, headers=H
            )
        ]
        * N
    )
    assert codes(added)[(201, None)] == 1 and codes(added)[(200, None)] == N - 1
    # Conflicting reasons at once: one is listed, and every answer says that one.
    reasons = await burst(
        *[
            lambda i=i: client.post(
                "/v1/admin/blacklist",
                json={"kind": "user", "value": f"{value}-why", "reason": f"r{i}"},
                headers=H,
            )
            for i in range(N)
        ]
    )
    assert codes(reasons)[(201, None)] == 1 and len({a.json()["reason"] for a in reasons}) == 1
    removed = await burst(
        *[lambda: client.delete(f"/v1/admin/blacklist/user/{value}", headers=H)] * N
    )
    assert codes(removed)[(204, None)] == 1
    assert set(codes(removed)) <= {(204, None), (404, "not_blacklisted")}
    aid = await new_activity(client)
    others = [f"{value}-{i}" for i in range(8)]
    calls: list[Callable[[], Awaitable[httpx.Response]]] = [
        lambda: client.post(f"/v1/admin/activities/{aid}/publish", headers=H)
    ] * 4
    calls += [
        lambda v=v: client.post("/v1/admin/blacklist", json={"kind": "user", "value": v}, headers=H)
        for v in others
    ]
    await burst(*calls)
    copy = await svc.redis.client.smembers(f"{{rd:{aid}}}:bl:user")
    listed = {e.value for e in await svc.guard.blacklist() if e.kind == "user"}
    assert {v.decode() for v in copy} == listed and set(others) <= listed


@covers(("POST", "/v1/admin/activities/{id:rowid}/approve"))
async def test_approve_twenty_at_once(make_service: ServiceFactory, http: Http) -> None:
    svc = before_start(make_service, publish_approvals=True)
    client = http(svc)
    name = f"asker-{id(svc) % 100_000}"
    await svc.operators.ensure(name, "correct horse battery", "publisher", BY)
    _, asker = await svc.operators.create_token(f"ask-{id(svc)}", "admin:publisher", Actor(name))
    aid = await new_activity(client)
    asked = await client.post(
        f"/v1/admin/activities/{aid}/publish", headers={"Authorization": f"Bearer {asker}"}
    )
    assert asked.status_code == 202, asked.text
    body = {"version": asked.json()["version"]}
    answers = await burst(
        *[lambda: client.post(f"/v1/admin/activities/{aid}/approve", json=body, headers=H)] * N
    )
    assert codes(answers)[(200, None)] == 1, codes(answers)
    assert set(codes(answers)) <= {(200, None), (409, "not_pending"), (409, "activity_busy")}


@covers(("POST", "/v1/admin/activities/{id:rowid}/stock"))
async def test_topups_at_once_all_count(make_service: ServiceFactory, http: Http) -> None:
    svc = before_start(make_service)
    client = http(svc)
    aid = await new_activity(client)
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)).status_code == 200
    body = {"round": "20300601:0", "prize": "c2", "add": 1}
    answers = await burst(
        *[lambda: client.post(f"/v1/admin/activities/{aid}/stock", json=body, headers=H)] * N
    )
    assert {a.status_code for a in answers} == {200}
    assert max(a.json()["quantity"] for a in answers) == 5 + N  # none lost, none doubled


@covers(
    ("POST", "/v1/admin/operators"),
    ("POST", "/v1/admin/operators/{username}/disable"),
    ("POST", "/v1/admin/operators/{username}/enable"),
    ("POST", "/v1/admin/tokens"),
    ("DELETE", "/v1/admin/tokens/{name}"),
)
async def test_operators_and_tokens_at_once(make_service: ServiceFactory, http: Http) -> None:
    svc = make_service()
    client = http(svc)
    name = f"twin-{id(svc) % 100_000}"
    body = {"username": name, "password": "correct horse battery", "role": "viewer"}
    made = await burst(*[lambda: client.post("/v1/admin/operators", json=body, headers=H)] * N)
    assert codes(made)[(201, None)] == 1 and codes(made)[(409, "operator_exists")] == N - 1
    for action in ("disable", "enable", "disable"):
        answers = await burst(
            *[lambda a=action: client.post(f"/v1/admin/operators/{name}/{a}", headers=H)] * N
        )
        assert {a.status_code for a in answers} == {200}
    token = {"name": f"tok-{id(svc)}", "scope": "admin:viewer"}
    minted = await burst(*[lambda: client.post("/v1/admin/tokens", json=token, headers=H)] * N)
    assert codes(minted)[(201, None)] == 1 and codes(minted)[(409, "token_exists")] == N - 1
    revoked = await burst(
        *[lambda: client.delete(f"/v1/admin/tokens/{token['name']}", headers=H)] * N
    )
    assert codes(revoked)[(204, None)] == 1
    assert codes(revoked)[(404, "token_not_found")] == N - 1


@covers(("POST", "/v1/admin/logout"))
async def test_logout_at_once(make_service: ServiceFactory, http: Http) -> None:
    svc = make_service()
    client = http(svc)
    name = f"leaver-{id(svc) % 100_000}"
    await svc.operators.ensure(name, "correct horse battery", "viewer", BY)
    signed = await client.post(
        "/v1/admin/login", json={"username": name, "password": "correct horse battery"}
    )
    csrf = {"X-CSRF-Token": signed.json()["csrf_token"]}
    answers = await burst(*[lambda: client.post("/v1/admin/logout", headers=csrf)] * N)
    assert {a.status_code for a in answers} <= {204, 401}
    assert (await client.get("/v1/admin/session")).status_code == 401


@covers(("POST", "/v1/grants"))
async def test_one_reference_one_grant(make_service: ServiceFactory, http: Http) -> None:
    svc = make_service(offset_to(local(DAY, 10, 5)))
    client = http(svc)
    amount = rain(kind="amount")
    amount["sessions"][0]["pools"] = [{"amount_min": 0, "prizes": [prize("a", 10, 1.0)]}]
    aid = (await client.post("/v1/admin/activities", json=amount, headers=H)).json()["id"]
    await client.post(f"/v1/admin/activities/{aid}/publish", headers=H)
    grant = {"user_id": "g1", "activity_id": aid, "amount": 5, "reference": f"ref-{id(svc)}"}
    answers = await burst(*[lambda: client.post("/v1/grants", json=grant, headers=H)] * N)
    assert codes(answers)[(201, None)] == 1 and codes(answers)[(200, None)] == N - 1
    assert len({a.json()["grant_id"] for a in answers}) == 1


@covers(("POST", "/v1/auth/dev"))
async def test_dev_login_at_once(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service())
    answers = await burst(*[lambda: client.post("/v1/auth/dev", json={"user_id": "twin"})] * N)
    assert {a.status_code for a in answers} == {200}


@covers(("POST", "/v1/auth/wechat"))
@pytest.mark.integration  # the WeChat stub is a server on loopback
async def test_wechat_login_at_once(make_service: ServiceFactory, http: Http) -> None:
    from tests.stubs import http_stub, wechat

    with http_stub(wechat) as (base, _):
        svc = make_service(
            wechat_api_base=base, wechat_appid="wxAPP", wechat_secret="APPSECRET", wechat_timeout=2
        )
        client = http(svc)
        answers = await burst(
            *[lambda: client.post("/v1/auth/wechat", json={"code": "same-code"})] * N
        )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["user_id"] for a in answers}) == 1


@covers(
    ("POST", "/v1/lotteries"),
    ("POST", "/v1/lotteries/{id:rowid}/join"),
    ("DELETE", "/v1/lotteries/{id:rowid}/join"),
    ("POST", "/v1/lotteries/{id:rowid}/cancel"),
    ("DELETE", "/v1/lotteries/{id:rowid}"),
)
async def test_lotteries_at_once(make_service: ServiceFactory, http: Http) -> None:
    """Issue 23: one user double-tapping join gave a 500 (a duplicate participant row)."""
    svc = make_service()
    client = http(svc)
    me = bearer(f"maker-{id(svc)}")
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    body = {"title": "t", "draw_at": when, "prize": {"name": "p", "quantity": 1}}
    made = await burst(*[lambda: client.post("/v1/lotteries", json=body, headers=me)] * 5)
    assert {a.status_code for a in made} <= {201, 429}
    lid = next(a.json()["id"] for a in made if a.status_code == 201)
    joiner = bearer(f"tapper-{id(svc)}")
    joined = await burst(*[lambda: client.post(f"/v1/lotteries/{lid}/join", headers=joiner)] * N)
    assert {a.status_code for a in joined} <= {200, 201, 429}, codes(joined)
    assert (await client.get(f"/v1/lotteries/{lid}")).json()["participants"] == 1
    left = await burst(*[lambda: client.delete(f"/v1/lotteries/{lid}/join", headers=joiner)] * N)
    assert set(codes(left)) <= {
        (200, None),
        (204, None),
        (404, "not_participant"),
        (429, "rate_limited"),
    }
    assert sum(a.status_code in (200, 204) for a in left) == 1
    canceled = await burst(*[lambda: client.post(f"/v1/lotteries/{lid}/cancel", headers=me)] * N)
    assert sum(a.status_code == 200 for a in canceled) == 1
    assert all(a.status_code in (200, 409, 429) for a in canceled), codes(canceled)
    gone = await burst(*[lambda: client.delete(f"/v1/lotteries/{lid}", headers=me)] * N)
    assert {a.status_code for a in gone} <= {204, 404, 429}
    assert (await client.get(f"/v1/lotteries/{lid}")).status_code == 404
