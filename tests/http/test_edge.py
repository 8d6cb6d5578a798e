"""The edge, probed as a user would (issue 13's list, each with its reproduction):
numbers, 5xx accounting, masking, error bodies, Idempotency-Key replays,
embedded clean-up, page headers, names and URLs, strict configurations."""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.application import create_app
from app.config import load_settings
from app.domain.errors import ConfigError
from app.http import players
from app.http.responses import mask
from app.services.container import Services
from tests.conftest import ServiceFactory, admin_headers
from tests.helpers import DAY, local, offset_to, prize, rain
from tests.http.test_http import assert_error, bearer, setup

Http = Callable[[Services], httpx.AsyncClient]
HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/me/draws?limit=²", 422),
        ("/v1/me/draws?limit=١", 422),  # not accepted as 1
        ("/v1/me/draws?limit=１", 422),
        ("/v1/me/draws?limit=+1", 422),
        (f"/v1/me/draws?limit={HUGE}", 422),
        ("/v1/me/draws?activity_id=²", 422),
        ("/v1/admin/activities?offset=³", 422),
        (f"/v1/admin/activities?limit={HUGE}", 422),
        ("/v1/rounds/²:x", 404),
        (f"/v1/rounds/{HUGE}:20300601:0", 404),
        (f"/v1/rounds/{HUGE}", 404),
        (f"/v1/me/notifications?limit={HUGE}", 422),
    ],
)
async def test_numbers_are_ascii_digits_and_bounded(
    make_service: ServiceFactory, http: Http, path: str, status: int
) -> None:
    client = http(make_service())
    headers = admin_headers() if "/admin/" in path else bearer("numbers")
    assert_error(await client.get(path, headers=headers), status)


async def test_cursors_beyond_bigint_are_422_everywhere(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service())
    big = base64.urlsafe_b64encode(b"99999999999999999999.1").decode().rstrip("=")
    one_big = base64.urlsafe_b64encode(b"99999999999999999999").decode().rstrip("=")
    arabic = base64.urlsafe_b64encode("١.١".encode()).decode().rstrip("=")
    for path in (f"/v1/me/draws?cursor={big}", f"/v1/me/draws?cursor={arabic}"):
        assert_error(await client.get(path, headers=bearer("c")), 422, "validation_error")
    assert_error(
        await client.get(f"/v1/me/notifications?cursor={one_big}", headers=bearer("c")), 422
    )


async def test_a_token_with_a_strange_expiry_is_401(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service())
    for expiry in ("²", "١٢٣", HUGE):
        raw = f"Bearer rd1.u.{expiry}.x".encode()  # as a client may send it
        resp = await client.get("/v1/me/draws", headers={"Authorization": raw})
        assert_error(resp, 401, "invalid_token")


def test_masks_never_reveal_an_id() -> None:
    assert [mask(u) for u in ("a", "ab", "ann", "anna", "annabell", "annabelle")] == [
        "***",
        "***",
        "***",
        "a***",
        "a***",
        "an***e",
    ]
    for n in range(1, 40):  # at most a third shows, whatever the length
        shown = mask("x" * n).replace("***", "")
        assert len(shown) * 3 <= n


async def test_an_unexpected_error_is_one_json_500_logged_once_and_counted(
    make_service: ServiceFactory,
    http: Http,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc = make_service()

    async def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(svc.account, "notifications", broken)
    client = http(svc)
    with caplog.at_level(logging.ERROR):
        resp = await client.get("/v1/me/notifications", headers=bearer("bug"))
    assert resp.status_code == 500
    assert resp.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1, [r.getMessage() for r in caplog.records]
    scrape = (await client.get("/metrics")).text
    assert re.search(
        r'redrain_http_responses_total\{route="/v1/me/notifications",status="500"\} [1-9]', scrape
    ), scrape


async def test_error_bodies_have_the_one_key_error(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid = await setup(make_service, http, rain(), local(DAY, 9, 0))
    resp = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("early"))
    body = assert_error(resp, 409, "round_closed")
    assert set(body) == {"error"} and body["error"]["next_round_start"].startswith("2030-06-01T10")


async def test_a_replay_is_never_refused_by_the_rate_limit(
    make_service: ServiceFactory, http: Http
) -> None:
    """The stored answer comes back even when this second's quota is spent."""
    client = http(make_service(offset_to(local(DAY, 10, 5)), rate_limit_user=1))
    _, aid = await setup(make_service, http, rain(), local(DAY, 10, 5))
    headers = {**bearer("quick"), "Idempotency-Key": "tap-1"}
    first = await client.post("/v1/draw", json={"activity_id": aid}, headers=headers)
    assert first.status_code == 200, first.text
    again = await client.post("/v1/draw", json={"activity_id": aid}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post("/v1/draw", json={"activity_id": aid}, headers=bearer("quick"))
    assert_error(other, 429, "rate_limited")  # a new draw is still limited


async def test_a_key_reused_with_another_body_is_422(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid = await setup(make_service, http, rain(), local(DAY, 10, 5))
    headers = {**bearer("stripe"), "Idempotency-Key": "k-1"}
    first = await client.post(
        "/v1/draw", json={"activity_id": aid, "client_seed": "a"}, headers=headers
    )
    assert first.status_code == 200
    reused = await client.post(
        "/v1/draw", json={"activity_id": aid, "client_seed": "b"}, headers=headers
    )
    assert_error(reused, 422, "idempotency_key_reused")
    same = await client.post(
        "/v1/draw", json={"activity_id": aid, "client_seed": "a"}, headers=headers
    )
    assert same.status_code == 200 and same.json() == first.json()


async def test_embedded_mode_removes_its_folder_and_refuses_a_short_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [k for k in os.environ if k.startswith("REDRAIN_")]:
        monkeypatch.delenv(name)
    with pytest.raises(ConfigError, match="REDRAIN_SECRET_KEY"):
        load_settings(_env_file=None, secret_key="short")
    app = create_app(load_settings(_env_file=None))
    async with app.router.lifespan_context(app):
        url = app.state.services.settings.database_url
        folder = Path(url.removeprefix("sqlite+aiosqlite:///")).parent
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://e") as client:
            assert (await client.get("/healthz")).status_code == 200
        assert folder.is_dir()
    assert not folder.exists()


async def test_pages_are_sent_locked_down(make_service: ServiceFactory, http: Http) -> None:
    client = http(make_service())
    # Ids no other test makes (MariaDB's tables are shared by the run).
    pages = {"/": 200, "/console": 200, "/verify": 200, "/docs": 200, "/lotteries": 200}
    pages |= {"/play/987654321": 404, "/rain/987654321": 404, "/lotteries/987654321": 404}
    for path, status in pages.items():
        resp = await client.get(path)
        assert resp.status_code == status, path
        assert resp.headers["content-type"] == "text/html; charset=utf-8"
        csp = resp.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "no-referrer"
    assert (await client.get("/static/js/common.js")).headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Sale\u202egnp.exe"},  # right-to-left override
        {"name": "a\x00b"},
        {"description": "line\x1b[31m"},
        {"quantity_as_text": True},
        {"image_url": "javascript:alert(1)"},
        {"image_url": "data:text/html,<script>"},
    ],
)
async def test_configurations_refuse_hidden_characters_bad_urls_and_coercion(
    make_service: ServiceFactory, http: Http, change: dict[str, Any]
) -> None:
    p = prize("c2", 5, 0.5)
    cfg = rain([p])
    if "image_url" in change:
        cfg["sessions"][0]["pools"][0]["prizes"][0]["image_url"] = change["image_url"]
    elif "quantity_as_text" in change:
        cfg["sessions"][0]["pools"][0]["prizes"][0]["quantity"] = "5"  # was coerced to 5
    else:
        cfg.update(change)
    client = http(make_service())
    assert_error(await client.post("/v1/admin/activities", json=cfg, headers=admin_headers()), 422)


async def test_lottery_titles_refuse_hidden_characters(
    make_service: ServiceFactory, http: Http
) -> None:
    client = http(make_service(offset_to(local(DAY, 10, 5))))
    body = {
        "title": "win\u202e",
        "draw_at": local(DAY, 12).isoformat(),
        "prize": {"name": "cake", "quantity": 1},
    }
    assert_error(await client.post("/v1/lotteries", json=body, headers=bearer("t")), 422)
    assert players.endpoint.all  # the route under test is a player route
