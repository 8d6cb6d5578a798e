"""Abuse resistance: rate limits (also across server workers), the blacklist,
the client IP behind trusted proxies, the risk hook, token secret rotation."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from app.domain import tokens
from app.domain.errors import (
    Forbidden,
    InvalidRequest,
    LimitReached,
    Unauthorized,
    Unavailable,
)
from app.http.client_ip import ClientIp
from app.services.container import Services
from app.store.redis import keys
from tests.conftest import ServiceFactory, admin_headers, flush_real_redis
from tests.helpers import (
    ADMIN,
    BY,
    DAY,
    SECRET,
    free_port,
    local,
    offset_to,
    prize,
    production_env,
    rain,
    running_server,
)
from tests.http.test_http import assert_error, bearer
from tests.stubs import http_stub

Http = Callable[[Services], httpx.AsyncClient]
DURING = offset_to(local(DAY, 10, 5))


async def published(svc: Services, cfg: dict[str, Any] | None = None) -> int:
    rec = await svc.activities.create(cfg or rain([prize("c2", 10_000, 0.5)]), BY)
    await svc.activities.publish(rec.id, BY)
    return rec.id


async def burst(svc: Services, aid: int, users: list[str], ip: str = "10.0.0.1") -> list[Any]:
    return list(
        await asyncio.gather(
            *[svc.draws.draw(u, aid, client_ip=ip) for u in users], return_exceptions=True
        )
    )


async def test_rate_limit_per_user(make_service: ServiceFactory) -> None:
    svc = make_service(DURING, rate_limit_user=5)
    aid = await published(svc)
    res = await burst(svc, aid, ["fast"] * 20)
    limited = [r for r in res if isinstance(r, LimitReached)]
    assert len(res) - len(limited) == 5
    assert {r.code for r in limited} == {"rate_limited"} and all(
        r.retry_after == 1 for r in limited
    )
    assert not isinstance((await burst(svc, aid, ["calm"]))[0], BaseException)  # others unaffected
    # The window's second ends (its key's expiry brought forward rather than
    # waited for): a new window.
    window = keys.user_rate(aid, "fast")
    assert 0 < await svc.redis.client.pttl(window) <= 1000
    await svc.redis.client.pexpire(window, 1)
    await asyncio.sleep(0.01)
    assert not isinstance((await burst(svc, aid, ["fast"]))[0], BaseException)


async def test_rate_limit_per_ip(make_service: ServiceFactory) -> None:
    svc = make_service(DURING, rate_limit_ip=8)
    aid = await published(svc)
    res = await burst(svc, aid, [f"nat{i}" for i in range(30)], ip="100.64.0.9")
    assert sum(not isinstance(r, BaseException) for r in res) == 8
    other = await burst(svc, aid, ["elsewhere"], ip="100.64.0.10")
    assert not isinstance(other[0], BaseException)


@pytest.mark.slow
async def test_rate_limits_hold_across_server_workers(mariadb_url: str, artifacts: Path) -> None:
    await flush_real_redis()
    env = production_env(
        mariadb_url,
        clock_offset=str(DURING),
        log_level="warning",
        rate_limit_user="5",
        rate_limit_ip="0",
    )
    with running_server(env, artifacts / "server-ratelimit.log", workers=2) as base:
        async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=64)) as c:
            headers = {"Authorization": f"Bearer {ADMIN}"}
            async with c.post(
                "/v1/admin/activities", json=rain([prize("c2", 10_000, 0.5)]), headers=headers
            ) as r:
                aid = (await r.json())["id"]
            async with c.post(f"/v1/admin/activities/{aid}/publish", headers=headers) as r:
                assert r.status == 200
            token = tokens.issue(SECRET.encode(), "hammer", int(time.time()) + 600)

            async def one() -> tuple[int, str | None]:
                async with c.post(
                    "/v1/draw",
                    json={"activity_id": aid},
                    headers={"Authorization": f"Bearer {token}"},
                ) as r:
                    return r.status, r.headers.get("Retry-After")

            for _ in range(3):  # a burst that fits in one second, whichever worker serves it
                t0 = time.monotonic()
                res = await asyncio.gather(*[one() for _ in range(120)])
                elapsed = time.monotonic() - t0
                codes = collections.Counter(s for s, _ in res)
                if elapsed < 0.9:
                    break
            assert set(codes) <= {200, 429}
            assert all(ra == "1" for s, ra in res if s == 429)
            if elapsed < 0.9:
                assert codes[200] == 5, codes
            else:  # a slow machine: at most 5 per window the burst spanned
                assert 5 <= codes[200] <= 5 * (int(elapsed) + 2), (codes, elapsed)


async def test_blacklist(make_service: ServiceFactory, http: Http, stack: tuple[Any, Any]) -> None:
    svc = make_service(DURING)
    client = http(svc)
    aid = await published(svc)
    for body in (
        {"kind": "user", "value": "cheater", "reason": "bot"},
        {"kind": "ip", "value": "203.0.113.7"},
    ):
        r = await client.post("/v1/admin/blacklist", json=body, headers=admin_headers())
        assert r.status_code == 201
    again = await client.post(
        "/v1/admin/blacklist", json={"kind": "user", "value": "cheater"}, headers=admin_headers()
    )
    assert again.status_code == 200
    listed = (await client.get("/v1/admin/blacklist", headers=admin_headers())).json()["entries"]
    assert {(e["kind"], e["value"]) for e in listed} >= {("user", "cheater"), ("ip", "203.0.113.7")}
    with pytest.raises(Forbidden) as err:
        await svc.draws.draw("cheater", aid, client_ip="198.51.100.1")
    assert err.value.code == "blacklisted"
    with pytest.raises(Forbidden):
        await svc.draws.draw("innocent", aid, client_ip="203.0.113.7")
    assert (await svc.draws.draw("innocent", aid, client_ip="198.51.100.1"))[1].draw_id
    # An activity published later gets the blacklist too.
    later = await published(svc)
    with pytest.raises(Forbidden):
        await svc.draws.draw("cheater", later)
    # Over HTTP: the peer 127.0.0.1 is a trusted proxy, so X-Forwarded-For counts.
    r = await client.post(
        "/v1/draw",
        json={"activity_id": aid},
        headers={**bearer("via-proxy"), "X-Forwarded-For": "203.0.113.7"},
    )
    assert_error(r, 403, "blacklisted")
    assert (
        await client.delete("/v1/admin/blacklist/user/cheater", headers=admin_headers())
    ).status_code == 204
    assert (await svc.draws.draw("cheater", aid, client_ip="198.51.100.1"))[1].draw_id
    assert_error(
        await client.delete("/v1/admin/blacklist/user/cheater", headers=admin_headers()),
        404,
        "not_blacklisted",
    )
    for bad in (
        {"kind": "email", "value": "x"},
        {"kind": "ip", "value": "not-an-ip"},
        {"kind": "user", "value": "x", "extra": 1},
    ):
        assert_error(
            await client.post("/v1/admin/blacklist", json=bad, headers=admin_headers()), 422
        )
    assert_error(await client.get("/v1/admin/blacklist", headers=bearer("cheater")), 403)
    await client.delete("/v1/admin/blacklist/ip/203.0.113.7", headers=admin_headers())


def test_client_ip_rules() -> None:
    def scope(peer: str, **headers: str) -> dict[str, Any]:
        return {
            "client": (peer, 1),
            "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        }

    default = ClientIp("127.0.0.1,::1", "x-forwarded-for")
    assert (
        default(scope("198.51.100.5", x_forwarded_for="1.2.3.4")) == "198.51.100.5"
    )  # not a proxy
    assert default(scope("127.0.0.1", x_forwarded_for="1.2.3.4")) == "1.2.3.4"
    assert default(scope("127.0.0.1")) == "127.0.0.1"
    chain = ClientIp("127.0.0.1,10.0.0.0/8", "x-forwarded-for")
    # The client can forge the left of the chain; the right-most untrusted hop is believed.
    assert chain(scope("127.0.0.1", x_forwarded_for="6.6.6.6, 1.2.3.4, 10.1.2.3")) == "1.2.3.4"
    real_ip = ClientIp("127.0.0.1", "x-real-ip")
    assert real_ip(scope("127.0.0.1", x_real_ip="5.6.7.8", x_forwarded_for="9.9.9.9")) == "5.6.7.8"
    nobody = ClientIp("", "x-forwarded-for")
    assert nobody(scope("127.0.0.1", x_forwarded_for="1.2.3.4")) == "127.0.0.1"


def test_client_ip_is_canonical_and_malformed_is_refused() -> None:
    """One spelling per address (the blacklist and the per-IP limit compare
    strings); a trusted proxy's malformed address is a 400, not the proxy."""

    def scope(peer: str, *xff: str) -> dict[str, Any]:
        return {"client": (peer, 1), "headers": [(b"x-forwarded-for", v.encode()) for v in xff]}

    chain = ClientIp("127.0.0.1,10.0.0.0/8", "x-forwarded-for")
    for spelled in ("::ffff:10.9.9.9", "10.9.9.9:1234", "[::ffff:10.9.9.9]:80", "::FFFF:a09:909"):
        # 10.9.9.9 is inside the trusted 10/8: with nothing else it is the client
        assert chain(scope("127.0.0.1", spelled)) == "10.9.9.9", spelled
        assert chain(scope("127.0.0.1", f"203.0.113.7, {spelled}")) == "203.0.113.7", spelled
    for spelled in ("::ffff:198.51.100.9", "198.51.100.9:1234", "[::ffff:198.51.100.9]"):
        assert chain(scope("127.0.0.1", spelled)) == "198.51.100.9", spelled
    assert chain(scope("127.0.0.1", "[2001:DB8:0::1]:443")) == "2001:db8::1"
    # The peer too: a dual-stack socket names an IPv4 proxy ::ffff:127.0.0.1.
    assert chain(scope("::ffff:127.0.0.1", "198.51.100.9")) == "198.51.100.9"
    assert chain(scope("::ffff:198.51.100.9")) == "198.51.100.9"
    for bad in ("010.009.009.009", "unknown", "1.2.3.4.5", "fe80::1%eth0", "1.2.3.4:99999"):
        with pytest.raises(InvalidRequest) as err:
            chain(scope("127.0.0.1", bad))
        assert err.value.code == "invalid_client_ip" and isinstance(err.value, InvalidRequest)
        with pytest.raises(InvalidRequest):  # past trusted hops too
            chain(scope("127.0.0.1", f"{bad}, 10.1.2.3"))
    # Forged junk left of the client the proxy wrote is never looked at.
    assert chain(scope("127.0.0.1", "010.009.009.009, 198.51.100.9")) == "198.51.100.9"
    # A proxy that adds its own header line: the lines are one list, right-most wins.
    assert chain(scope("127.0.0.1", "6.6.6.6", "198.51.100.9")) == "198.51.100.9"
    # An untrusted peer's header is not read at all, malformed or not.
    assert chain(scope("198.51.100.5", "010.009.009.009")) == "198.51.100.5"
    real_ip = ClientIp("127.0.0.1", "x-real-ip")
    bad_real = {"client": ("127.0.0.1", 1), "headers": [(b"x-real-ip", b"010.9.9.9")]}
    with pytest.raises(InvalidRequest):
        real_ip(bad_real)


async def test_blacklisted_ip_cannot_be_respelled(make_service: ServiceFactory, http: Http) -> None:
    """A blacklisted 10.9.9.9 stays refused however a trusted proxy spells it,
    and a malformed spelling is a 400, never a draw."""
    svc = make_service(DURING)
    client = http(svc)  # its peer is 127.0.0.1, a trusted proxy by default
    aid = await published(svc)
    r = await client.post(
        "/v1/admin/blacklist",
        json={"kind": "ip", "value": "::ffff:10.9.9.9"},
        headers=admin_headers(),
    )
    assert r.status_code == 201 and r.json()["value"] == "10.9.9.9"
    again = await client.post(
        "/v1/admin/blacklist", json={"kind": "ip", "value": "10.9.9.9"}, headers=admin_headers()
    )
    assert again.status_code == 200  # the same entry
    listed = (await client.get("/v1/admin/blacklist", headers=admin_headers())).json()["entries"]
    assert [e["value"] for e in listed if e["kind"] == "ip"] == ["10.9.9.9"]
    for spelled in ("10.9.9.9", "::ffff:10.9.9.9", "10.9.9.9:1234", "[::ffff:10.9.9.9]:443"):
        r = await client.post(
            "/v1/draw",
            json={"activity_id": aid},
            headers={**bearer("sly"), "X-Forwarded-For": spelled},
        )
        assert_error(r, 403, "blacklisted")
    for malformed in ("010.009.009.009", "10.9.9.9.9", "evil"):
        r = await client.post(
            "/v1/draw",
            json={"activity_id": aid},
            headers={**bearer("sly"), "X-Forwarded-For": malformed},
        )
        assert_error(r, 400, "invalid_client_ip")
    history = (await client.get("/v1/me/draws", headers=bearer("sly"))).json()["draws"]
    assert history == []  # nothing was drawn
    ok = await client.post(
        "/v1/draw",
        json={"activity_id": aid},
        headers={**bearer("sly"), "X-Forwarded-For": "10.9.9.10"},
    )
    assert ok.status_code == 200
    # Lifted by any spelling of it.
    lifted = await client.delete("/v1/admin/blacklist/ip/::ffff:10.9.9.9", headers=admin_headers())
    assert lifted.status_code == 204
    r = await client.post(
        "/v1/draw",
        json={"activity_id": aid},
        headers={**bearer("sly"), "X-Forwarded-For": "10.9.9.9:5"},
    )
    assert r.status_code == 200
    for bad in ("010.009.009.009", "10.9.9.9%eth0", "not-an-ip"):
        assert_error(
            await client.post(
                "/v1/admin/blacklist", json={"kind": "ip", "value": bad}, headers=admin_headers()
            ),
            422,
        )


async def test_rate_limit_per_ip_counts_every_spelling_once(
    make_service: ServiceFactory, http: Http
) -> None:
    svc = make_service(DURING, rate_limit_ip=4, rate_limit_user=0)
    client = http(svc)
    aid = await published(svc)
    spellings = ["100.64.0.9", "::ffff:100.64.0.9", "100.64.0.9:4000", "[::ffff:100.64.0.9]:1"]

    async def one(i: int) -> int:
        r = await client.post(
            "/v1/draw",
            json={"activity_id": aid},
            headers={**bearer(f"nat{i}"), "X-Forwarded-For": spellings[i % 4]},
        )
        return r.status_code

    for _ in range(3):  # a burst inside one second of the limit's window
        t0 = time.monotonic()
        codes = collections.Counter(await asyncio.gather(*[one(i) for i in range(16)]))
        if time.monotonic() - t0 < 0.9:
            break
        await asyncio.sleep(1.05)  # a slow machine: the next window, and again
    assert codes == {200: 4, 429: 12}, codes


@pytest.mark.integration  # a loopback risk service
@pytest.mark.parametrize(
    ("answer", "fail_open", "outcome"),
    [
        ({"allow": True}, True, "draw"),
        ({"allow": False}, True, "risk_denied"),
        ("slow", True, "draw"),
        ("slow", False, "unavailable"),
        ("junk", False, "unavailable"),
    ],
)
async def test_risk_hook(
    make_service: ServiceFactory, answer: Any, fail_open: bool, outcome: str
) -> None:
    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        seen = json.loads(body)
        assert set(seen) == {"user_id", "client_ip", "activity_id"}
        if answer == "slow":
            time.sleep(0.5)
            return 200, b'{"allow": true}'
        if answer == "junk":
            return 200, b"[]"
        return 200, json.dumps(answer).encode()

    with http_stub(handle) as (url, seen):
        svc = make_service(DURING, risk_url=url, risk_timeout=0.2, risk_fail_open=fail_open)
        aid = await published(svc)
        if outcome == "draw":
            assert (await svc.draws.draw("r", aid, client_ip="1.2.3.4"))[1].draw_id
        elif outcome == "risk_denied":
            with pytest.raises(Forbidden) as err:
                await svc.draws.draw("r", aid, client_ip="1.2.3.4")
            assert err.value.code == "risk_denied"
        else:
            with pytest.raises(Unavailable):
                await svc.draws.draw("r", aid, client_ip="1.2.3.4")
        await svc.close()
    assert json.loads(seen[0]["body"])["client_ip"] == "1.2.3.4"
    down = make_service(DURING, risk_url=f"http://127.0.0.1:{free_port()}", risk_fail_open=False)
    with pytest.raises(Unavailable):
        await down.draws.draw("r", aid)


def test_secret_rotation(make_service: ServiceFactory) -> None:
    old_secret = "o" * 40
    old_token = tokens.issue(old_secret.encode(), "loyal", int(time.time()) + 600)
    rotated = make_service(secret_key_previous=old_secret)
    assert rotated.auth.authenticate(f"Bearer {old_token}").user_id == "loyal"
    new_token, _ = rotated.auth.issue("loyal")
    assert rotated.auth.authenticate(f"Bearer {new_token}").user_id == "loyal"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    expired = make_service(secret_key_previous=old_secret, secret_key_previous_until=past)
    with pytest.raises(Unauthorized):
        expired.auth.authenticate(f"Bearer {old_token}")
    with pytest.raises(Unauthorized):
        make_service().auth.authenticate(f"Bearer {old_token}")  # no rotation configured
    forged = tokens.issue(b"x" * 40, "loyal", int(time.time()) + 600)
    with pytest.raises(Unauthorized):
        rotated.auth.authenticate(f"Bearer {forged}")


async def test_parallel_blacklist_adds_of_one_address_in_many_spellings(
    make_service: ServiceFactory, http: Http
) -> None:
    svc = make_service(DURING)
    client = http(svc)
    aid = await published(svc)
    spellings = ["192.0.2.44", "::ffff:192.0.2.44", "192.0.2.44:80", "::FFFF:c000:22c"]
    answers = await asyncio.gather(
        *[
            client.post(
                "/v1/admin/blacklist",
                json={"kind": "ip", "value": spellings[i % 4]},
                headers=admin_headers(),
            )
            for i in range(12)
        ]
    )
    codes = collections.Counter(r.status_code for r in answers)
    assert codes == {201: 1, 200: 11}, [r.text for r in answers]
    assert {r.json()["value"] for r in answers} == {"192.0.2.44"}
    listed = (await client.get("/v1/admin/blacklist", headers=admin_headers())).json()["entries"]
    assert [e["value"] for e in listed if e["kind"] == "ip"] == ["192.0.2.44"]
    with pytest.raises(Forbidden):
        await svc.draws.draw("anyone", aid, client_ip="192.0.2.44")
    removals = await asyncio.gather(
        *[client.delete(f"/v1/admin/blacklist/ip/{s}", headers=admin_headers()) for s in spellings]
    )
    assert sorted(r.status_code for r in removals) == [204, 404, 404, 404]
    assert (await svc.draws.draw("anyone", aid, client_ip="192.0.2.44"))[1].draw_id
