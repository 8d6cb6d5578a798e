"""Operators, roles, sessions, CSRF, throttling, tokens, four-eyes and the audit
trail (SPEC §8), over HTTP in process, on MariaDB and on SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.audit import Actor
from app.domain.operators import Can, Role
from app.http.routes import ENDPOINTS
from app.services.container import Services
from app.store.sql.models import AuditRow
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, offset_to, prize, rain
from tests.http.test_http import assert_error, bearer

Http = Callable[[Services], httpx.AsyncClient]
PASSWORD = "correct horse battery"
ROOT = Actor("root-test")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


async def operator(svc: Services, role: str, name: str | None = None) -> str:
    username = name or f"{role}-{id(svc) % 100_000}"
    await svc.operators.ensure(username, PASSWORD, role, ROOT)
    return username


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, ip: str = "10.0.0.5"
) -> httpx.Response:
    return await client.post(
        "/v1/admin/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": ip},
    )


async def session(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    """Signs in; the client keeps the cookie. Returns the CSRF header to send."""
    resp = await login(client, username)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["operator"]["username"] == username and body["csrf_token"]
    return {"X-CSRF-Token": body["csrf_token"]}


def operator_routes() -> list[tuple[str, str, Can]]:
    return [(ep.method, ep.path, ep.can) for ep in ENDPOINTS if ep.can is not None]


def concrete(path: str) -> str:
    return (
        path.replace("{id:rowid}", "999999")
        .replace("{kind}", "user")
        .replace("{value}", "nobody")
        .replace("{username}", "nobody")
        .replace("{name}", "nothing")
    )


@pytest.mark.parametrize("role", [r.label for r in Role])
async def test_each_role_reaches_exactly_its_routes(
    make_service: ServiceFactory, http: Http, role: str
) -> None:
    """Every operator route, with a token of each role: refused (403
    ``forbidden``) exactly when the role is below what the route needs."""
    svc = make_service()
    await operator(svc, "admin", ROOT.name)  # a token acts as its creator: an admin here
    _, secret = await svc.operators.create_token(f"t-{role}-{id(svc)}", f"admin:{role}", ROOT)
    client = http(svc)
    level = Role.parse(role)
    for method, path, can in operator_routes():
        if path == "/v1/admin/logout":
            continue  # a bearer has no session to end
        resp = await client.request(
            method, concrete(path), headers={"Authorization": f"Bearer {secret}"}, json={}
        )
        allowed = (
            level
            >= {
                Can.READ: Role.VIEWER,
                Can.EDIT: Role.EDITOR,
                Can.PUBLISH: Role.PUBLISHER,
                Can.MANAGE: Role.ADMIN,
                Can.GRANT: Role.ADMIN,
            }[can]
        )
        if allowed:
            assert resp.status_code != 403, (method, path, resp.text)
        else:
            assert_error(resp, 403, "forbidden")


def test_the_route_table_in_security_md_is_the_routes() -> None:
    """docs/security.md's route × role table lists every operator route with
    the role the code enforces."""
    text = DOCS.read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `(GET|POST|PUT|DELETE) ([^`]+)` \| (\w+) \|", text, re.M))
    needs = {
        Can.READ: "viewer",
        Can.EDIT: "editor",
        Can.PUBLISH: "publisher",
        Can.MANAGE: "admin",
        Can.GRANT: "grants",
    }
    plain = {(m, re.sub(r"\{(\w+):\w+\}", r"{\1}", p), needs[c]) for m, p, c in operator_routes()}
    assert table == plain


async def test_a_player_token_is_403_and_no_credentials_401(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service())
    assert_error(await client.get("/v1/admin/activities", headers=bearer("eve")), 403, "forbidden")
    assert_error(await client.get("/v1/admin/activities"), 401)
    assert_error(
        await client.get("/v1/admin/activities", headers={"Authorization": "Bearer rdt_nope"}),
        401,
        "invalid_token",
    )


async def test_console_session_csrf_logout_and_expiry(
    make_service: ServiceFactory, http: Http
) -> None:
    svc = make_service()
    name = await operator(svc, "editor")
    client = http(svc)
    csrf = await session(client, name)
    cookie = client.cookies.get("redrain_session")
    assert cookie
    # Reads need no CSRF token; writes do, and the right one.
    assert (await client.get("/v1/admin/activities")).status_code == 200
    assert (await client.get("/v1/admin/session")).json()["csrf_token"] == csrf["X-CSRF-Token"]
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        resp = await client.post("/v1/admin/activities", json=rain(), headers=headers)
        assert_error(resp, 403, "csrf_failed")
    made = await client.post("/v1/admin/activities", json=rain(), headers=csrf)
    assert made.status_code == 201
    # The same cookie, hours later (a process whose clock moved on): idle too long.
    later = http(make_service(svc.settings.session_ttl + 120))
    later.cookies.set("redrain_session", cookie)
    assert_error(await later.get("/v1/admin/activities"), 401, "session_expired")
    # Logout ends a session for good.
    other = http(svc)
    csrf2 = await session(other, name)
    assert (await other.post("/v1/admin/logout", headers=csrf2)).status_code == 204
    other.cookies.set("redrain_session", client.cookies.get("redrain_session") or "")
    # (the first session is still valid until its own logout or expiry)
    assert (await other.get("/v1/admin/activities")).status_code in (200, 401)


async def test_the_cookie_is_httponly_strict_and_secure(
    make_service: ServiceFactory, http: Http
) -> None:
    svc = make_service()
    name = await operator(svc, "viewer")
    resp = await login(http(svc), name)
    cookie = next(
        v for k, v in resp.headers.multi_items() if k == "set-cookie" and "redrain_session" in v
    )
    low = cookie.lower()
    assert "httponly" in low and "samesite=strict" in low and "path=/" in low and "secure" in low


async def test_login_throttling_cannot_lock_the_operator_out(
    make_service: ServiceFactory, http: Http
) -> None:
    svc = make_service()
    name = await operator(svc, "publisher")
    own = http(svc)
    assert (await login(own, name, ip="1.2.3.4")).status_code == 200  # a device cookie now
    attacker = http(svc)
    for _ in range(5):
        assert_error(await login(attacker, name, "wrong", ip="6.6.6.6"), 401, "invalid_credentials")
    # The attacker's address and the username (without a device cookie) are throttled.
    resp = await login(attacker, name, ip="6.6.6.6")
    assert_error(resp, 429, "login_throttled")
    assert int(resp.headers["retry-after"]) > 0
    assert_error(await login(http(svc), name, ip="7.7.7.7"), 429, "login_throttled")
    # The operator's own browser still signs in from its usual address.
    assert (await login(own, name, ip="1.2.3.4")).status_code == 200
    # An unknown name answers exactly like a wrong password.
    unknown = await login(http(svc), "nobody-at-all", "whatever", ip="8.8.8.8")
    wrong = await login(http(svc), name, "whatever!", ip="9.9.9.9")
    assert (
        unknown.status_code == 401 and unknown.json() == wrong.json()
    ) or wrong.status_code == 429
    entries = await svc.operators.audit(
        actor=name, action=None, activity_id=None, before_id=None, limit=100
    )
    actions = [e.action for e in entries]
    assert actions.count("login.failed") >= 5 and "login.throttled" in actions
    assert actions.count("login.succeeded") == 2


async def test_api_token_scopes_and_revocation(make_service: ServiceFactory, http: Http) -> None:
    svc = make_service(offset_to(local(DAY, 10, 5)))
    client = http(svc)
    amount = rain(kind="amount")
    amount["sessions"][0]["pools"] = [{"amount_min": 0, "prizes": [prize("a", 10, 1.0)]}]
    aid = (await client.post("/v1/admin/activities", json=amount, headers=admin_headers())).json()[
        "id"
    ]
    await client.post(f"/v1/admin/activities/{aid}/publish", headers=admin_headers())
    created = await client.post(
        "/v1/admin/tokens",
        json={"name": "shop-backend", "scope": "grants"},
        headers=admin_headers(),
    )
    assert created.status_code == 201
    secret = created.json()["token"]
    shop = {"Authorization": f"Bearer {secret}"}
    grant = {"user_id": "u1", "activity_id": aid, "amount": 5, "reference": "order-1"}
    assert (await client.post("/v1/grants", json=grant, headers=shop)).status_code == 201
    assert_error(await client.get("/v1/admin/activities", headers=shop), 403, "forbidden")
    listed = (await client.get("/v1/admin/tokens", headers=admin_headers())).json()["tokens"]
    shop_token = [t for t in listed if t["name"] == "shop-backend"]
    assert shop_token and "token" not in shop_token[0] and shop_token[0]["scope"] == "grants"
    assert (
        await client.delete("/v1/admin/tokens/shop-backend", headers=admin_headers())
    ).status_code == 204
    grant2 = {**grant, "reference": "order-2"}
    assert_error(await client.post("/v1/grants", json=grant2, headers=shop), 401, "invalid_token")
    bad = await client.post(
        "/v1/admin/tokens", json={"name": "x", "scope": "root"}, headers=admin_headers()
    )
    assert_error(bad, 422)


async def test_four_eyes_publish(make_service: ServiceFactory, http: Http) -> None:
    svc = make_service(offset_to(local(DAY, 10, 5)), publish_approvals=True)
    client = http(svc)
    alice, bob = (
        await operator(svc, "publisher", "alice-4e"),
        await operator(svc, "publisher", "bob-4e"),
    )
    a, b = {"Authorization": ""}, {"Authorization": ""}
    _, sa = await svc.operators.create_token(f"alice-{id(svc)}", "admin:publisher", Actor(alice))
    _, sb = await svc.operators.create_token(f"bob-{id(svc)}", "admin:publisher", Actor(bob))
    a["Authorization"], b["Authorization"] = f"Bearer {sa}", f"Bearer {sb}"
    aid = (await client.post("/v1/admin/activities", json=rain(), headers=a)).json()["id"]
    asked = await client.post(f"/v1/admin/activities/{aid}/publish", headers=a)
    assert asked.status_code == 202 and asked.json()["status"] == "pending_approval"
    draw = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("p"))
    assert_error(draw, 404, "activity_not_found")  # nothing is live yet
    version = {"version": asked.json()["version"]}
    assert_error(
        await client.post(f"/v1/admin/activities/{aid}/approve", json=version, headers=a),
        403,
        "same_publisher",
    )
    approved = await client.post(f"/v1/admin/activities/{aid}/approve", json=version, headers=b)
    assert approved.status_code == 200 and approved.json()["status"] == "published"
    assert (
        await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("p"))
    ).status_code == 200
    assert_error(
        await client.post(f"/v1/admin/activities/{aid}/approve", json=version, headers=b),
        409,
        "not_pending",
    )
    entries = await svc.operators.audit(
        actor=None, action=None, activity_id=aid, before_id=None, limit=50
    )
    assert [(e.action, e.actor) for e in entries][:2] == [
        ("activity.approve", f"bob-{id(svc)}"),
        ("activity.publish_requested", f"alice-{id(svc)}"),
    ]


async def test_every_admin_write_leaves_one_entry_with_before_and_after(
    make_service: ServiceFactory, http: Http
) -> None:
    svc = make_service(offset_to(local(DAY, 10, 5)))
    client = http(svc)
    h = admin_headers()
    start = (await client.get("/v1/admin/audit?limit=1", headers=h)).json()["entries"]
    first_id = start[0]["id"] if start else 0
    aid = (
        await client.post("/v1/admin/activities", json=rain([prize("c2", 5, 1.0)]), headers=h)
    ).json()["id"]
    await client.put(
        f"/v1/admin/activities/{aid}", json=rain([prize("c2", 7, 1.0)], name="v2"), headers=h
    )
    await client.post(f"/v1/admin/activities/{aid}/publish", headers=h)
    await client.post(
        f"/v1/admin/activities/{aid}/stock",
        json={"round": "20300601:0", "prize": "c2", "add": 3},
        headers=h,
    )
    await client.post(
        "/v1/admin/blacklist",
        json={"kind": "user", "value": "spammer-x", "reason": "bot"},
        headers=h,
    )
    await client.delete("/v1/admin/blacklist/user/spammer-x", headers=h)
    page = (await client.get(f"/v1/admin/audit?activity_id={aid}", headers=h)).json()
    by_action = {e["action"]: e for e in page["entries"]}
    assert set(by_action) == {
        "activity.create",
        "activity.update",
        "activity.publish",
        "stock.topup",
    }
    assert all(e["actor"] == "admin-token" for e in page["entries"])
    update = by_action["activity.update"]
    assert update["before"]["version"] == 1 and update["after"]["version"] == 2
    assert update["after"]["config"]["name"] == "v2"
    topup = by_action["stock.topup"]
    assert (topup["before"]["quantity"], topup["after"]["quantity"]) == (7, 10)
    assert by_action["activity.publish"]["after"]["status"] == "published"
    newer = (await client.get("/v1/admin/audit?limit=100", headers=h)).json()["entries"]
    blacklist = [e["action"] for e in newer if e["target"] == "blacklist:user:spammer-x"]
    assert blacklist == ["blacklist.remove", "blacklist.add"]  # newest first
    assert [e["id"] for e in newer] == sorted((e["id"] for e in newer), reverse=True)
    assert newer[-1]["id"] > first_id - 100
    # A write refused before it happens leaves no entry.
    count = len(newer)
    bad = await client.post("/v1/admin/activities", json=rain([prize("c2", 5, 2.0)]), headers=h)
    assert bad.status_code == 422
    assert (
        len((await client.get("/v1/admin/audit?limit=100", headers=h)).json()["entries"]) == count
    )
    # The trail has no route to edit or delete entries.
    for method in ("PUT", "DELETE", "PATCH"):
        assert (await client.request(method, "/v1/admin/audit", headers=h)).status_code == 405


async def test_a_change_and_its_entry_commit_or_roll_back_together(
    make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry is written inside the change's transaction: when writing it
    fails, the change is not there either."""
    from app.store.sql import activities as repo

    svc = make_service()
    real = repo.append

    async def failing(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)
        raise RuntimeError("the database failed after the entry was written")

    monkeypatch.setattr(repo, "append", failing)
    before = await svc.activities.latest(1000, 0)
    with pytest.raises(RuntimeError):
        await svc.activities.create(rain(name="never"), ROOT)
    assert [a.id for a in await svc.activities.latest(1000, 0)] == [a.id for a in before]
    entries = await svc.operators.audit(
        actor=ROOT.name, action="activity.create", activity_id=None, before_id=None, limit=10
    )
    assert entries == []
    checked, broken, _ = await svc.operators.verify_audit()
    assert broken is None and checked > 0


async def test_the_audit_trail_is_tamper_evident(make_service: ServiceFactory) -> None:
    svc = make_service()
    for i in range(3):
        await svc.operators.ensure(f"chain-{i}-{id(svc)}", PASSWORD, "viewer", ROOT)
    checked, broken, _ = await svc.operators.verify_audit()
    assert broken is None and checked >= 3
    last = await svc.operators.audit(
        actor=None, action=None, activity_id=None, before_id=None, limit=3
    )
    from sqlalchemy import delete, update

    async with svc.db.session() as s:  # an insider edits an entry
        await s.execute(update(AuditRow).where(AuditRow.id == last[1].id).values(actor="someone"))
    _, broken, _ = await svc.operators.verify_audit()
    assert broken is not None and broken.id == last[1].id and "changed" in broken.problem
    async with svc.db.session() as s:  # ...and, put back, deletes another
        await s.execute(
            update(AuditRow).where(AuditRow.id == last[1].id).values(actor=last[1].actor)
        )
        gone = await s.get(AuditRow, last[2].id)
        assert gone is not None
        kept = {c.key: getattr(gone, c.key) for c in AuditRow.__table__.columns}
        await s.execute(delete(AuditRow).where(AuditRow.id == last[2].id))
    _, broken, _ = await svc.operators.verify_audit()
    assert broken is not None and broken.id == last[2].id and "missing" in broken.problem
    async with svc.db.session() as s:  # whole again, for the tests that follow on MariaDB
        s.add(AuditRow(**kept))
    assert (await svc.operators.verify_audit())[1] is None
    from app.store.sql.models import AuditHeadRow

    async with svc.db.session() as s:  # the head row deleted: a finding, not a crash
        head = await s.get(AuditHeadRow, 1)
        assert head is not None
        saved = {c.key: getattr(head, c.key) for c in AuditHeadRow.__table__.columns}
        await s.execute(delete(AuditHeadRow))
    _, broken, _ = await svc.operators.verify_audit()
    assert broken is not None and "head row is missing" in broken.problem
    async with svc.db.session() as s:
        s.add(AuditHeadRow(**saved))
    assert (await svc.operators.verify_audit())[1] is None


async def test_operators_are_managed_by_admins(make_service: ServiceFactory, http: Http) -> None:
    svc = make_service()
    client = http(svc)
    h = admin_headers()
    made = await client.post(
        "/v1/admin/operators",
        json={"username": "carol-ops", "password": PASSWORD, "role": "editor"},
        headers=h,
    )
    if made.status_code == 409:  # MariaDB keeps operators across parametrized runs
        await client.post("/v1/admin/operators/carol-ops/enable", headers=h)
    else:
        assert made.status_code == 201 and made.json()["role"] == "editor"
    csrf = await session(http(svc), "carol-ops")
    assert csrf
    assert_error(
        await client.post(
            "/v1/admin/operators",
            json={"username": "short-pw", "password": "short", "role": "viewer"},
            headers=h,
        ),
        422,
    )
    disabled = await client.post("/v1/admin/operators/carol-ops/disable", headers=h)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert_error(await login(http(svc), "carol-ops"), 401, "invalid_credentials")
    listed = (await client.get("/v1/admin/operators", headers=h)).json()["operators"]
    assert any(o["username"] == "carol-ops" and o["disabled"] for o in listed)
    assert dt.datetime.fromisoformat(listed[0]["created_at"].replace("Z", "+00:00"))


async def test_an_insider_who_recomputes_the_chain_is_still_caught(
    make_service: ServiceFactory,
) -> None:
    """Issue 23: editing an entry and re-chaining everything after it (and the
    head) with the app's own hash functions but without the key from settings
    is caught at the edited entry, whichever way the insider re-chains."""
    from sqlalchemy import select, update

    from app.domain.audit import AuditEntry, plain_hash, recompute
    from app.store.sql.models import AuditHeadRow

    svc = make_service()
    for i in range(3):
        await svc.operators.ensure(f"rechain-{i}-{id(svc)}", PASSWORD, "viewer", ROOT)
    newest = await svc.operators.audit(
        actor=None, action=None, activity_id=None, before_id=None, limit=3
    )
    target = newest[-1].id  # the oldest of the three: two entries follow it
    async with svc.db.session() as s:
        original = {
            r.id: (r.actor, r.prev_hash, r.hash)
            for r in await s.scalars(select(AuditRow).where(AuditRow.id >= target))
        }
        head = (await s.get(AuditHeadRow, 1)).last_hash  # type: ignore[union-attr]
    for rehash in (
        lambda e, prev: plain_hash(e, prev),  # the unkeyed chain of the previous release
        lambda e, prev: recompute(b"a key the insider made up", e, prev),
    ):
        async with svc.db.session() as s:
            rows = list(
                await s.scalars(select(AuditRow).where(AuditRow.id >= target).order_by(AuditRow.id))
            )
            prev = rows[0].prev_hash
            for row in rows:
                if row.id == target:
                    row.actor = "someone-else"
                e = AuditEntry(
                    row.id, row.at, row.actor, row.action, row.target, row.activity_id,
                    row.before, row.after, row.ip, prev, "",
                )  # fmt: skip
                row.prev_hash, row.hash = prev, rehash(e, prev)
                prev = row.hash
            await s.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(last_hash=prev))
        _, broken, _ = await svc.operators.verify_audit()
        assert broken is not None and broken.id == target, broken
        assert "changed" in broken.problem
    async with svc.db.session() as s:  # as it was, for the tests that follow on MariaDB
        for eid, (actor, prev_hash, digest) in original.items():
            await s.execute(
                update(AuditRow)
                .where(AuditRow.id == eid)
                .values(actor=actor, prev_hash=prev_hash, hash=digest)
            )
        await s.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(last_hash=head))
    assert (await svc.operators.verify_audit())[1] is None


async def test_parallel_guesses_get_no_more_password_checks_than_the_limit(
    make_service: ServiceFactory, http: Http
) -> None:
    """Issue 23: 200 wrong passwords for one account from one address at once
    reached the password check 87 times. Each check is reserved before it
    runs: at most 5 run (5 x 401, 5 ``login.failed``), every other answer is
    429 with Retry-After, never a 500; a burst ending with the right password
    does not get it in."""
    svc = make_service()
    name = await operator(svc, "publisher", f"burst-{id(svc) % 100_000}")
    client = http(svc)
    answers = await asyncio.gather(
        *(login(client, name, f"wrong-{i}", ip="10.66.0.1") for i in range(200))
    )
    codes = Counter(a.status_code for a in answers)
    # (503 busy: a reserved check that waited too long for a free slot on a
    # loaded machine; it never ran and does not count)
    assert set(codes) <= {401, 429, 503} and codes[401] <= 5, codes
    assert all(int(a.headers["retry-after"]) > 0 for a in answers if a.status_code == 429)
    failed = await svc.operators.audit(
        actor=name, action="login.failed", activity_id=None, before_id=None, limit=500
    )
    assert len(failed) == codes[401]
    throttled = await svc.operators.audit(
        actor=name, action="login.throttled", activity_id=None, before_id=None, limit=500
    )
    assert len(throttled) == 1  # one entry per throttled window, not one per request
    # The right password at the end of a burst from elsewhere is throttled too.
    burst = [login(client, name, f"guess-{i}", ip="10.66.0.2") for i in range(39)]
    last = await asyncio.gather(*burst, login(client, name, ip="10.66.0.2"))
    assert all(a.status_code in (401, 429, 503) for a in last)
    # Per address too: many usernames from one address get 5 checks in all.
    spread = await asyncio.gather(
        *(login(client, f"who-{i}", "x", ip="10.66.0.3") for i in range(60))
    )
    spread_codes = Counter(a.status_code for a in spread)
    assert spread_codes[401] <= 5 and set(spread_codes) <= {401, 429, 503}, spread_codes


async def test_a_login_from_another_site_is_refused(
    make_service: ServiceFactory, http: Http
) -> None:
    """Login CSRF: a page on another site cannot sign a browser in."""
    svc = make_service()
    name = await operator(svc, "viewer", f"origin-{id(svc) % 100_000}")
    client = http(svc)
    body = {"username": name, "password": PASSWORD}
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://redrain.test.evil.example"},
    ):
        resp = await client.post("/v1/admin/login", json=body, headers=headers)
        assert_error(resp, 403, "csrf_failed")
        assert "set-cookie" not in resp.headers
    # A body of no declared type (a cross-site fetch of a Blob sends none) or
    # of another type is not a login either.
    raw = json.dumps(body).encode()
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        typed = {"Content-Type": content_type} if content_type else {}
        request = client.build_request("POST", "/v1/admin/login", content=raw, headers=typed)
        assert request.headers.get("Content-Type") == content_type
        resp = await client.send(request)
        assert_error(resp, 415, "unsupported_media_type")
        assert "set-cookie" not in resp.headers
    same = await client.post(
        "/v1/admin/login",
        json=body,
        headers={"Origin": "https://redrain.test", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 200, same.text


async def test_a_token_acts_as_its_creator(make_service: ServiceFactory, http: Http) -> None:
    """Issue 23: a token never has more than its creator's role, stops working
    when its creator is disabled, and a token whose creator is no operator
    (nor a keyholder: the break-glass token, the command line) works not at all."""
    svc = make_service()
    client = http(svc)
    pub = await operator(svc, "publisher", f"tok-pub-{id(svc) % 100_000}")
    # (only an admin can make a token over HTTP; the service call stands for
    # a token made before its creator was given a lower role)
    _, secret = await svc.operators.create_token(f"tp-{id(svc)}", "admin:admin", Actor(pub))
    auth = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/v1/admin/activities", headers=auth)).status_code == 200
    assert_error(await client.get("/v1/admin/operators", headers=auth), 403, "forbidden")
    await svc.operators.set_disabled(pub, True, ROOT)
    assert_error(await client.get("/v1/admin/activities", headers=auth), 401, "invalid_token")
    await svc.operators.set_disabled(pub, False, ROOT)
    assert (await client.get("/v1/admin/activities", headers=auth)).status_code == 200
    _, orphan = await svc.operators.create_token(
        f"orphan-{id(svc)}", "admin:viewer", Actor("nobody-here")
    )
    assert_error(
        await client.get("/v1/admin/activities", headers={"Authorization": f"Bearer {orphan}"}),
        401,
        "invalid_token",
    )


async def test_four_eyes_cannot_be_passed_with_ones_own_token(
    make_service: ServiceFactory, http: Http
) -> None:
    """Issue 23: an admin asked to publish, minted a publisher token for itself
    and approved its own request; once disabled, its token still approved."""
    svc = make_service(offset_to(local(DAY, 10, 5)), publish_approvals=True)
    client = http(svc)
    admin = await operator(svc, "admin", f"self-{id(svc) % 100_000}")
    other = await operator(svc, "publisher", f"other-{id(svc) % 100_000}")
    csrf = await session(client, admin)
    aid = (await client.post("/v1/admin/activities", json=rain(), headers=csrf)).json()["id"]
    asked = await client.post(f"/v1/admin/activities/{aid}/publish", headers=csrf)
    assert asked.status_code == 202 and asked.json()["requested_by"] == admin
    minted = await client.post(
        "/v1/admin/tokens",
        json={"name": f"mine-{id(svc)}", "scope": "admin:publisher"},
        headers=csrf,
    )
    assert minted.status_code == 201, minted.text
    mine = {"Authorization": f"Bearer {minted.json()['token']}"}
    version = {"version": asked.json()["version"]}
    resp = await client.post(f"/v1/admin/activities/{aid}/approve", json=version, headers=mine)
    assert_error(resp, 403, "same_publisher")
    await svc.operators.set_disabled(admin, True, ROOT)
    resp = await client.post(f"/v1/admin/activities/{aid}/approve", json=version, headers=mine)
    assert_error(resp, 401, "invalid_token")
    assert (await svc.activities.get(aid)).status == "pending_approval"  # still not live
    # Another person approves, naming the version.
    theirs = http(svc)
    csrf2 = await session(theirs, other)
    done = await theirs.post(
        f"/v1/admin/activities/{aid}/approve",
        json={**version, "config_hash": asked.json()["config_hash"]},
        headers=csrf2,
    )
    assert done.status_code == 200, done.text


async def test_an_approval_names_its_version_and_an_edit_voids_the_request(
    make_service: ServiceFactory, http: Http
) -> None:
    """Issue 23: the requester changed the configuration while its request was
    pending and the approval published the changed version."""
    svc = make_service(offset_to(local(DAY - dt.timedelta(days=3), 10)), publish_approvals=True)
    client = http(svc)
    alice = await operator(svc, "publisher", f"va-{id(svc) % 100_000}")
    bob = await operator(svc, "publisher", f"vb-{id(svc) % 100_000}")
    a, b = await session(client, alice), None
    bobs = http(svc)
    b = await session(bobs, bob)
    aid = (await client.post("/v1/admin/activities", json=rain(), headers=a)).json()["id"]
    asked = (await client.post(f"/v1/admin/activities/{aid}/publish", headers=a)).json()
    # Naming another version, or another configuration, is refused.
    wrong = await bobs.post(f"/v1/admin/activities/{aid}/approve", json={"version": 7}, headers=b)
    assert_error(wrong, 409, "version_mismatch")
    wrong = await bobs.post(
        f"/v1/admin/activities/{aid}/approve",
        json={"version": asked["version"], "config_hash": "0" * 64},
        headers=b,
    )
    assert_error(wrong, 409, "version_mismatch")
    assert_error(await bobs.post(f"/v1/admin/activities/{aid}/approve", json={}, headers=b), 422)
    # The requester edits while the request waits: the request is void.
    big = rain([prize("c2", 1_000_000, 1.0)])
    edited = await client.put(f"/v1/admin/activities/{aid}", json=big, headers=a)
    assert edited.status_code == 200 and edited.json()["status"] == "draft"
    resp = await bobs.post(
        f"/v1/admin/activities/{aid}/approve", json={"version": asked["version"]}, headers=b
    )
    assert_error(resp, 409, "not_pending")
    resp = await bobs.post(
        f"/v1/admin/activities/{aid}/approve", json={"version": asked["version"] + 1}, headers=b
    )
    assert_error(resp, 409, "not_pending")
    assert (await svc.activities.get(aid)).published_version is None  # nothing went live


async def test_an_editor_cannot_change_what_players_can_win(
    make_service: ServiceFactory, http: Http
) -> None:
    """Issue 23: with an editor token, PUT on a published activity that had not
    started raised a prize from 5 to 1,000,000 at probability 1.0 and it went
    live at once. Now the edit is a new version that waits for a publisher."""
    svc = make_service(offset_to(local(DAY - dt.timedelta(days=3), 10)))
    client = http(svc)
    editor = await operator(svc, "editor", f"ed-{id(svc) % 100_000}")
    h = admin_headers()
    aid = (
        await client.post("/v1/admin/activities", json=rain([prize("c2", 5, 0.1)]), headers=h)
    ).json()["id"]
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=h)).status_code == 200
    csrf = await session(client, editor)
    big = rain([prize("c2", 1_000_000, 1.0)])
    saved = await client.put(f"/v1/admin/activities/{aid}", json=big, headers=csrf)
    assert saved.status_code == 200, saved.text
    meta = saved.json()
    assert (meta["version"], meta["published_version"], meta["status"]) == (2, 1, "published")
    public = (await client.get(f"/v1/activities/{aid}")).json()
    assert "1000000" not in json.dumps(public) and (await svc.runtimes.fresh(aid)).version == 1
    assert_error(
        await client.post(f"/v1/admin/activities/{aid}/publish", headers=csrf), 403, "forbidden"
    )
    assert (await client.post(f"/v1/admin/activities/{aid}/publish", headers=h)).status_code == 200
    assert (await svc.runtimes.fresh(aid)).version == 2
    got = (await client.get(f"/v1/admin/activities/{aid}", headers=h)).json()
    assert got["published_version"] == got["version"] == 2


async def test_a_login_flood_does_not_starve_other_requests(
    make_service: ServiceFactory, http: Http
) -> None:
    """Issue 23: an unauthenticated login flood exhausted the embedded
    database pool and others got 503. At most a few password checks run at
    once; everyone else's requests keep their database connections."""
    svc = make_service()
    client = http(svc)
    flood = [
        login(client, f"nobody-{i}", "guess", ip=f"10.77.{i // 250}.{i % 250}") for i in range(300)
    ]
    reads = [client.get("/v1/admin/activities?limit=5", headers=admin_headers()) for _ in range(40)]
    answers = await asyncio.gather(*flood, *reads)
    logins, others = answers[:300], answers[300:]
    assert {a.status_code for a in others} == {200}, Counter(a.status_code for a in others)
    assert {a.status_code for a in logins} <= {401, 503}
    busy = [a for a in logins if a.status_code == 503]
    assert all(a.json()["error"]["code"] == "busy" and a.headers["retry-after"] for a in busy)
