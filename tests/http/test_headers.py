"""What every answer carries, and what a body must be sent as (SPEC §3; issue
23, items 10 and 11): ``Cache-Control: no-store`` on every answer that depends
on who asks, ``X-Content-Type-Options: nosniff`` and a count in
``redrain_http_responses_total`` on every answer, the draw fast path's
included; a body sent as anything but JSON is 415 on every route that reads
one, the draw included, and on every write that reads none."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.http.endpoint import Endpoint
from app.http.routes import ENDPOINTS
from app.services.container import Services
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, prize, rain, snapshot
from tests.http.test_admission import admission_of
from tests.http.test_http import Http, assert_error, bearer, setup
from tests.http.test_operators import PASSWORD, concrete, operator, session

NOT_JSON = [
    ("application/x-www-form-urlencoded", b"activity_id=1"),  # what `curl -d` sends
    ("text/plain", b'{"activity_id": 1}'),  # JSON, as a cross-site form may post it
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n1\r\n--x--"),
    ("application/jsonx", b"{}"),
    ("", b"{}"),
]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# Every route that reads a body, and every write that reads none: one sent
# anyway must be JSON too (SPEC §3).
WITH_BODY = [ep for ep in ENDPOINTS if ep.body is not None or ep.method != "GET"]


def credentials(ep: Endpoint) -> dict[str, str]:
    if ep.auth == "operator":
        return admin_headers()
    if ep.auth in ("player", "optional"):
        return bearer("media")
    return {}


async def answers_of(client: httpx.AsyncClient, route: str) -> dict[str, float]:
    """redrain_http_responses_total of ``route`` by status, as /metrics shows it."""
    scrape = (await client.get("/metrics")).text
    pattern = (
        rf'^redrain_http_responses_total\{{route="{re.escape(route)}",status="(\d+)"\}} (\S+)$'
    )
    return {m[0]: float(m[1]) for m in re.findall(pattern, scrape, re.M)}


# -- 415 ------------------------------------------------------------------------


@pytest.mark.parametrize("ep", WITH_BODY, ids=[f"{ep.method} {ep.path}" for ep in WITH_BODY])
async def test_every_write_refuses_a_body_not_sent_as_json(
    make_service: ServiceFactory, http: Http, stack: tuple[Any, Any], ep: Endpoint
) -> None:
    client = http(make_service())
    assert 415 in ep.errors  # and /openapi.json says so
    before = await snapshot(stack[0])
    for content_type, content in NOT_JSON:
        headers = {**credentials(ep), "Content-Type": content_type}
        resp = await client.request(ep.method, concrete(ep.path), content=content, headers=headers)
        assert_error(resp, 415, "unsupported_media_type")
        assert "set-cookie" not in resp.headers
    assert await snapshot(stack[0]) == before


async def test_json_with_parameters_or_no_content_type_is_read(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 9, 1.0)]), local(DAY, 10, 5))
    body = f'{{"activity_id": {aid}}}'.encode()
    for content_type in (
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON ;charset=UTF-8",
        None,  # absent: accepted (SPEC §3)
    ):
        headers = bearer(f"p{content_type!s:.4}")
        if content_type is not None:
            headers["Content-Type"] = content_type
        resp = await client.post("/v1/draw", content=body, headers=headers)
        assert resp.status_code == 200, (content_type, resp.text)
        login = await client.post("/v1/auth/dev", content=b'{"user_id": "u1"}', headers=headers)
        assert login.status_code == 200, (content_type, login.text)


async def test_a_cross_site_text_plain_login_sets_no_session(
    make_service: ServiceFactory, http: Http
) -> None:
    """A page elsewhere can post text/plain without asking the browser first:
    it signed the browser in to an account of the attacker's (login CSRF)."""
    svc = make_service()
    name = await operator(svc, "viewer")
    client = http(svc)
    resp = await client.post(
        "/v1/admin/login",
        content=f'{{"username": "{name}", "password": "{PASSWORD}"}}'.encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert_error(resp, 415, "unsupported_media_type")
    assert "set-cookie" not in resp.headers and not client.cookies


# -- Cache-Control: no-store, nosniff, counted --------------------------------------


# Answers that depend on who asks: a route that reads credentials, or that
# hands them out (a POST's answer is its caller's alone).
PRIVATE = [ep for ep in ENDPOINTS if ep.auth != "none" or ep.method != "GET"]


@pytest.mark.parametrize("ep", PRIVATE, ids=[f"{ep.method} {ep.path}" for ep in PRIVATE])
async def test_every_answer_that_depends_on_who_asks_is_no_store(
    make_service: ServiceFactory, http: Http, ep: Endpoint
) -> None:
    """With credentials or without, a success or a refusal: never kept by a
    cache (a shared proxy, the browser's back button)."""
    client = http(make_service())
    for headers in (credentials(ep), {}):
        resp = await client.request(ep.method, concrete(ep.path), json={}, headers=headers)
        assert resp.headers.get_list("cache-control") == ["no-store"], resp.status_code
        assert resp.headers["x-content-type-options"] == "nosniff"


async def test_signed_in_answers_are_no_store_and_public_ones_are_not(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 9, 1.0)]), local(DAY, 10, 5))
    svc: Services = client._transport.app.state.services  # type: ignore[attr-defined]
    name = await operator(svc, "admin")
    csrf = await session(client, name)  # the client keeps the session cookie
    player = bearer("cache")
    drawn = await client.post("/v1/draw", json={"activity_id": aid}, headers=player)
    assert drawn.status_code == 200
    private = [
        await client.get("/v1/admin/session"),  # carries the CSRF token
        await client.get("/v1/admin/tokens"),
        await client.post(
            "/v1/admin/tokens", json={"name": "t1", "scope": "admin:viewer"}, headers=csrf
        ),
        await client.get(f"/v1/admin/activities/{aid}/winners?format=csv"),
        await client.get(f"/v1/admin/activities/{aid}/winners?format=json"),
        await client.get("/v1/me/draws", headers=player),
        await client.get("/v1/me/notifications", headers=player),
        await client.get(f"/v1/activities/{aid}", headers=player),  # the caller's chances
        await client.post("/v1/auth/dev", json={"user_id": "cache"}),  # a token handed out
        drawn,
    ]
    for resp in private:
        assert resp.status_code in (200, 201), resp.text
        assert resp.headers.get_list("cache-control") == ["no-store"], resp.url
        assert resp.headers["x-content-type-options"] == "nosniff"
    for path in ("/healthz", f"/v1/rounds/{aid}:20300601:0", "/static/js/common.js"):
        resp = await client.get(path)
        assert resp.status_code == 200 and "cache-control" not in resp.headers, path
        assert resp.headers["x-content-type-options"] == "nosniff"


async def test_every_draw_answer_has_the_headers_and_is_counted(
    make_service: ServiceFactory, http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path answers ahead of the router; the edge still sees each."""
    client, aid = await setup(make_service, http, rain([prize("c2", 9, 1.0)]), local(DAY, 10, 5))
    before = await answers_of(client, "/v1/draw")
    answers = [
        await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("d1")),  # 200
        await client.post("/v1/draw", json={"activity_id": aid}),  # 401
        await client.post("/v1/draw", content=b"a=1", headers={**bearer("d1"), **FORM}),  # 415
        await client.post("/v1/draw", json={"activity_id": "1"}, headers=bearer("d1")),  # 422
    ]
    adm = admission_of(client)
    bounds = adm.limit, adm.hard
    adm.limit, adm.hard = 1, 1
    held = adm.admit()  # as if a draw waited on Redis: the next is busy
    answers.append(await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("d2")))
    assert held is not None
    adm.done(held)
    adm.limit, adm.hard = bounds
    svc: Services = client._transport.app.state.services  # type: ignore[attr-defined]

    async def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(svc.draws, "draw", broken)
    answers.append(await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("d3")))
    statuses = [r.status_code for r in answers]
    assert statuses == [200, 401, 415, 422, 503, 500]
    for resp in answers:
        assert resp.headers["x-content-type-options"] == "nosniff", resp.status_code
        assert resp.headers.get_list("cache-control") == ["no-store"], resp.status_code
    after = await answers_of(client, "/v1/draw")
    for status in {str(s) for s in statuses}:
        assert after.get(status, 0) - before.get(status, 0) == statuses.count(int(status)), status


async def test_the_last_resort_500_has_the_headers(
    make_service: ServiceFactory, http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make_service()

    async def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(svc.account, "notifications", broken)
    resp = await http(svc).get("/v1/me/notifications", headers=bearer("bug"))
    assert_error(resp, 500, "internal_error")
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers.get_list("cache-control") == ["no-store"]


# -- the examples people paste ------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
_CURL = re.compile(r"\bcurl\s")
_SENDS = re.compile(r"\s(-d|--data\S*|-F|--form)[\s'\"=]")
_JSON_VAR = "JSON='Content-Type: application/json'"


def curl_commands(text: str) -> list[str]:
    """Each curl command of ``text`` with its continuation lines."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if not _CURL.search(line):
            continue
        command = line
        while command.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            command += "\n" + lines[i]
        out.append(command)
    return out


def test_every_curl_example_sends_its_body_as_json() -> None:
    """``curl -d`` sends application/x-www-form-urlencoded: 415 now."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in ("deploy", "loadtest", "scripts", "app/cli"):
        files += [p for p in sorted((ROOT / folder).rglob("*")) if p.is_file()]
    checked = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for command in curl_commands(text):
            if not _SENDS.search(command):
                continue
            checked += 1
            declared = "application/json" in command or "--json" in command
            declared |= '"$JSON"' in command and _JSON_VAR in text
            assert declared, f"{path.relative_to(ROOT)}: {command}"
    assert checked >= 5  # the README's, the demo banner's, docs/security.md's
