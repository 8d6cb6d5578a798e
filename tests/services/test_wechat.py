"""WeChat mini-program login against a real local server standing in for WeChat."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from app.services.container import Services
from tests.conftest import ServiceFactory
from tests.helpers import free_port
from tests.http.test_http import assert_error
from tests.stubs import http_stub, wechat

pytestmark = pytest.mark.integration  # a real loopback HTTP receiver


Http = Callable[[Services], httpx.AsyncClient]


@pytest.fixture
def stub() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with http_stub(wechat) as s:
        yield s


def configured(make: ServiceFactory, base: str) -> Services:
    return make(
        wechat_api_base=base, wechat_appid="wxAPP", wechat_secret="APPSECRET", wechat_timeout=0.5
    )


async def test_login_success_keeps_session_key_server_side(
    make_service: ServiceFactory, http: Http, stub: tuple[str, list[dict[str, Any]]]
) -> None:
    base, seen = stub
    svc = configured(make_service, base)
    resp = await http(svc).post("/v1/auth/wechat", json={"code": "abc123"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["user_id"] == "wx_oabc123" and body["expires_in"] > 0
    assert "SK-" not in resp.text and "session_key" not in resp.text
    assert "SK-" not in body["token"] and "secret" not in body["token"]
    query = seen[-1]["path"]
    for part in (
        "appid=wxAPP",
        "secret=APPSECRET",
        "js_code=abc123",
        "grant_type=authorization_code",
    ):
        assert part in query
    assert await svc.db.accounts.wechat_session_key("oabc123") == "SK-abc123-secret"
    # The token works as a player token.
    me = await http(svc).get("/v1/me/draws", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert svc.auth.authenticate(f"Bearer {body['token']}").user_id == "wx_oabc123"


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("bad", 401, "invalid_code"),
        ("used", 401, "invalid_code"),
        ("limit", 429, "rate_limited"),
        ("busy", 502, "upstream_unavailable"),
        ("slow", 502, "upstream_unavailable"),
        ("http500", 502, "upstream_unavailable"),
        ("garbage", 502, "upstream_unavailable"),
    ],
)
async def test_login_errors(
    make_service: ServiceFactory,
    http: Http,
    stub: tuple[str, list[dict[str, Any]]],
    code: str,
    status: int,
    error: str,
) -> None:
    svc = configured(make_service, stub[0])
    assert_error(await http(svc).post("/v1/auth/wechat", json={"code": code}), status, error)


async def test_upstream_down_and_not_configured(make_service: ServiceFactory, http: Http) -> None:
    down = configured(make_service, f"http://127.0.0.1:{free_port()}")
    assert_error(
        await http(down).post("/v1/auth/wechat", json={"code": "x"}), 502, "upstream_unavailable"
    )
    plain = make_service()
    assert_error(await http(plain).post("/v1/auth/wechat", json={"code": "x"}), 404)
    assert_error(await http(down).post("/v1/auth/wechat", json={"code": ""}), 422)
    assert_error(await http(down).post("/v1/auth/wechat", json={"code": 5}), 422)
