"""The shipped edge (deploy/nginx/redrain.conf) through real nginx, started by
deploy/nginx/run-local.sh in front of an embedded ``redrain serve``: draws
pass through; the global draw guard, the per-address limits, the body limit
and an unreachable API are answered by nginx as JSON in the API's error shape;
anonymous public reads are micro-cached and nothing with a token or a cookie
ever is; a client's own X-Forwarded-For is never believed."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import free_port, running_server

pytestmark = pytest.mark.integration

EDGE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "run-local.sh"
ADMIN = {"Authorization": "Bearer dev-admin-token"}  # embedded mode's
KNOBS = ("DRAW_BURST", "EDGE_ADDR_RATE", "EDGE_ADDR_BURST", "EDGE_CONN", "EDGE_WORKERS", "EDGE_DIR")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded ``redrain serve`` (its sample activity 1 is open now)."""
    log = tmp_path_factory.mktemp("edge") / "api.log"
    with running_server({"REDRAIN_LOG_LEVEL": "warning"}, log) as base:
        yield base


@contextlib.contextmanager
def edge(api_port: int, draw_rate: int, log: Path, **knobs: str) -> Iterator[str]:
    """deploy/nginx/run-local.sh in front of ``api_port``; its base URL once it
    said it is ready. Stopped with SIGTERM, which must end it cleanly."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in KNOBS} | knobs
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(EDGE), str(api_port), str(port), str(draw_rate)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 15
        while "ready:" not in log.read_text():
            assert proc.poll() is None, f"the edge exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the edge did not start:\n{log.read_text()}"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            code = proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this fixture started
            proc.wait(5)
            raise
        assert code == 0, log.read_text()


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def token(c: httpx.Client, user: str) -> dict[str, str]:
    got = c.post("/v1/auth/dev", json={"user_id": user})
    assert got.status_code == 200, got.text
    return {"Authorization": f"Bearer {got.json()['token']}"}


def seen(api: str, route: str) -> int:
    """Answers the API itself gave on ``route`` (every status), from /metrics."""
    text = httpx.get(f"{api}/metrics", timeout=5).text
    pattern = re.escape(f'redrain_http_responses_total{{route="{route}",') + r'status="\d+"\} (\S+)'
    return sum(int(float(n)) for n in re.findall(pattern, text))


def refusal(resp: httpx.Response, status: int, code: str, *, retry: bool) -> None:
    """An answer nginx made itself, in the API's error shape: JSON, never HTML."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"] == "application/json"
    body: Any = resp.json()
    assert list(body) == ["error"] and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["cache-control"] == "no-store"
    assert "x-cache-status" not in resp.headers
    if retry:
        assert resp.headers["retry-after"] == "1"
    else:
        assert "retry-after" not in resp.headers


def test_draws_and_the_apis_own_answers_pass_through(api: str, tmp_path: Path) -> None:
    with edge(port_of(api), 1000, tmp_path / "edge.log") as base, httpx.Client(base_url=base) as c:
        player = token(c, "through-1")
        answers = [c.post("/v1/draw", json={"activity_id": 1}, headers=player) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert all("draw_id" in r.json() for r in answers[:3])
        # The API's refusal reaches the client as the API wrote it.
        assert answers[3].json()["error"]["code"] == "round_limit"
        assert answers[3].headers["retry-after"].isdigit()
        assert "x-cache-status" not in answers[0].headers  # never cached
        assert c.get("/v1/draw").status_code == 405  # the API's, not counted by the guard


def test_the_global_draw_guard_answers_busy(api: str, tmp_path: Path) -> None:
    rate = 5  # burst max(1, 5 // 20) = 1
    with edge(port_of(api), rate, tmp_path / "edge.log") as base, httpx.Client(base_url=base) as c:
        players = [token(c, f"guard-{i}") for i in range(10)]  # 3 draws a round each
        before = seen(api, "/v1/draw")
        started = time.monotonic()
        answers = [
            c.post("/v1/draw", json={"activity_id": 1}, headers=players[i % 10]) for i in range(30)
        ]
        elapsed = time.monotonic() - started
        busy = [r for r in answers if r.status_code == 503]
        passed = [r for r in answers if r.status_code != 503]
        assert busy, "30 draws in a burst at 5/s were all let through"
        for r in busy:
            refusal(r, 503, "busy", retry=True)
        assert {r.status_code for r in passed} == {200}, [r.text for r in passed]
        # The leaky bucket: at most the first, the burst and `rate` a second.
        assert len(passed) <= 2 + rate * elapsed + 1, (len(passed), elapsed)
        # Every refusal was nginx's: the API saw exactly the draws let through.
        assert seen(api, "/v1/draw") - before == len(passed)
        # Only draws count: other routes are not refused by the guard.
        assert c.get("/healthz").status_code == 200
        assert c.get("/v1/activities/1").status_code == 200


def test_per_address_rate_limit_answers_rate_limited(api: str, tmp_path: Path) -> None:
    knobs = {"EDGE_ADDR_RATE": "2", "EDGE_ADDR_BURST": "3"}
    with (
        edge(port_of(api), 1000, tmp_path / "edge.log", **knobs) as base,
        httpx.Client(base_url=base) as c,
    ):
        started = time.monotonic()
        answers = [c.get("/healthz") for _ in range(20)]
        elapsed = time.monotonic() - started
        limited = [r for r in answers if r.status_code == 429]
        assert limited, "20 requests at 2/s from one address were all let through"
        for r in limited:
            refusal(r, 429, "rate_limited", retry=True)
        ok = [r for r in answers if r.status_code == 200]
        assert len(ok) + len(limited) == 20
        assert len(ok) <= 1 + 3 + 2 * elapsed + 1, (len(ok), elapsed)


def partial_post(port: int) -> socket.socket:
    """A request nginx is still receiving: the head and 1 byte of a 100-byte body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(
        b"POST /v1/lotteries HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    return s


def test_per_address_connection_limit_answers_rate_limited(api: str, tmp_path: Path) -> None:
    with (
        edge(port_of(api), 1000, tmp_path / "edge.log", EDGE_CONN="2") as base,
        httpx.Client(base_url=base) as c,
    ):
        held = [partial_post(port_of(base)) for _ in range(2)]
        try:
            got = None
            for _ in range(50):  # until nginx has read both heads: bounded
                got = c.get("/healthz")
                if got.status_code == 429:
                    break
                time.sleep(0.05)
            assert got is not None
            refusal(got, 429, "rate_limited", retry=True)
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 5
        while (again := c.get("/healthz")).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert again.status_code == 200  # the slots were given back


def test_a_body_over_64_kib_is_payload_too_large(api: str, tmp_path: Path) -> None:
    with edge(port_of(api), 1000, tmp_path / "edge.log") as base, httpx.Client(base_url=base) as c:
        player = token(c, "big-1")
        json_type = {"Content-Type": "application/json"}
        over = b" " * (64 * 1024) + b"{}"
        got = c.post("/v1/draw", content=over, headers=player | json_type)
        refusal(got, 413, "payload_too_large", retry=False)
        got = c.post(
            "/v1/lotteries", content=iter([over[:40_000], over[40_000:]]), headers=json_type
        )
        refusal(got, 413, "payload_too_large", retry=False)  # chunked: caught while read
        # 64 KiB exactly is the API's to judge (here: not JSON), as it is without nginx.
        got = c.post("/v1/draw", content=b"x" * (64 * 1024), headers=player | json_type)
        assert got.status_code == 400 and got.json()["error"]["code"] == "invalid_json"


def test_an_unreachable_api_is_unavailable_json(tmp_path: Path) -> None:
    with edge(free_port(), 1000, tmp_path / "edge.log") as base, httpx.Client(base_url=base) as c:
        for method, path in [("POST", "/v1/draw"), ("GET", "/v1/activities/1"), ("GET", "/")]:
            got = c.request(method, path, json={"activity_id": 1} if method == "POST" else None)
            refusal(got, 503, "unavailable", retry=True)
        # nginx's other refusals are JSON too.
        refusal(c.get("/" + "a" * 9000), 431, "headers_too_large", retry=False)
        refusal(c.get("/_edge/busy"), 404, "not_found", retry=False)  # internal only


def cached_pair(
    c: httpx.Client, path: str, count: Callable[[], int] = lambda: 0
) -> tuple[httpx.Response, httpx.Response, int]:
    """The same anonymous GET twice well within the cache's second, and how
    much ``count`` (the API's answers) grew meanwhile; three tries at most on
    a machine so busy that a pair takes longer. Each without cookies: a
    cookie set by the first answer would take the second past the cache."""

    def get() -> httpx.Response:
        c.cookies.clear()
        return c.get(path)

    for _ in range(3):
        before = count()
        started = time.monotonic()
        one, two = get(), get()
        if time.monotonic() - started < 0.5:
            break
        time.sleep(1.2)  # let the entry expire: the next pair starts afresh
    return one, two, count() - before


def test_public_reads_are_micro_cached_for_anonymous_requests_only(
    api: str, tmp_path: Path
) -> None:
    route = "/v1/activities/{id}"
    with edge(port_of(api), 1000, tmp_path / "edge.log") as base, httpx.Client(base_url=base) as c:
        player = token(c, "cache-1")
        # First a player's request: it bypasses the cache and is never stored.
        mine = c.get("/v1/activities/1", headers=player)
        assert mine.headers["x-cache-status"] == "BYPASS" and "remaining" in mine.json()
        assert mine.headers["cache-control"] == "no-store"
        first, second, asked = cached_pair(c, "/v1/activities/1", lambda: seen(api, route))
        assert first.headers["x-cache-status"] in ("MISS", "EXPIRED")  # not the player's
        assert second.headers["x-cache-status"] == "HIT"
        assert asked == 1  # two anonymous reads, one for the API
        for r in (first, second):
            assert r.status_code == 200 and "remaining" not in r.json()
        # A token or a cookie never reads the cache either.
        assert c.get("/v1/activities/1", headers=player).headers["x-cache-status"] == "BYPASS"
        cookie = {"Cookie": "redrain_session=x"}
        assert c.get("/v1/activities/1", headers=cookie).headers["x-cache-status"] == "BYPASS"
        after = c.get("/v1/activities/1")
        assert after.headers["x-cache-status"] == "HIT" and "remaining" not in after.json()

        round_id = first.json()["current_round"]["round_id"]
        for path in (f"/v1/rounds/{round_id}", "/static/js/common.js", "/rain/1", "/", "/verify"):
            one, two, _ = cached_pair(c, path)
            assert one.status_code == 200 and two.status_code == 200, path
            assert two.headers["x-cache-status"] == "HIT", path
            assert two.content == one.content, path
        # A page speaks the visitor's language: the cached English page is
        # not what a Chinese browser gets, and its own entry is cached too.
        zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
        for _ in range(3):  # bounded: a pair well within the cache's second
            c.cookies.clear()
            started = time.monotonic()
            english = c.get("/rain/1")
            c.cookies.clear()
            chinese = c.get("/rain/1", headers=zh)
            if time.monotonic() - started < 0.5:
                break
            time.sleep(1.2)
        assert english.headers["x-cache-status"] in ("HIT", "MISS", "EXPIRED")
        assert 'lang="en"' in english.text and 'lang="zh-CN"' in chinese.text
        c.cookies.clear()
        again = c.get("/rain/1", headers=zh)
        assert again.headers["x-cache-status"] == "HIT" and 'lang="zh-CN"' in again.text
        # An answer that sets a cookie is never stored.
        one, two, _ = cached_pair(c, "/rain/1?lang=zh")
        assert "set-cookie" in one.headers and "set-cookie" in two.headers
        assert two.headers["x-cache-status"] != "HIT"
        # Private and operator routes are not cached at all.
        assert "x-cache-status" not in c.get("/v1/me/draws", headers=player).headers
        assert "x-cache-status" not in c.get("/console").headers


def test_a_clients_own_forwarded_for_is_never_believed(api: str, tmp_path: Path) -> None:
    """The API sees nginx's peer address (X-Forwarded-For overwritten): the IP
    blacklist shows which address the API believed."""
    added = httpx.post(
        f"{api}/v1/admin/blacklist", json={"kind": "ip", "value": "127.0.0.5"}, headers=ADMIN
    )
    assert added.status_code in (200, 201), added.text

    def draw(base: str, source: str, user: str, xff: str | None = None) -> httpx.Response:
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(base_url=base, transport=transport) as c:
            headers = token(c, user) | ({"X-Forwarded-For": xff} if xff else {})
            return c.post("/v1/draw", json={"activity_id": 1}, headers=headers)

    def code(r: httpx.Response) -> str:
        return "ok" if r.status_code == 200 else str(r.json()["error"]["code"])

    # Without nginx a loopback client is a trusted proxy (the default
    # REDRAIN_TRUSTED_PROXIES): its header is believed. This is what nginx prevents.
    assert code(draw(api, "127.0.0.1", "xff-0", "127.0.0.5")) == "blacklisted"
    with edge(port_of(api), 1000, tmp_path / "edge.log") as base:
        assert code(draw(base, "127.0.0.5", "xff-1")) == "blacklisted"  # the real address
        assert code(draw(base, "127.0.0.5", "xff-2", "127.0.0.6")) == "blacklisted"  # no escape
        assert code(draw(base, "127.0.0.6", "xff-3", "127.0.0.5")) == "ok"  # no framing
        assert code(draw(base, "127.0.0.1", "xff-4", "127.0.0.5")) == "ok"  # replaced, not appended
        assert code(draw(base, "127.0.0.6", "xff-5", "not-an-address")) == "ok"


def test_run_local_refuses_bad_arguments_in_one_line(tmp_path: Path) -> None:
    for args in ([], ["8000", "8001"], ["x", "8001", "5"], ["8000", "70000", "5"], ["1", "2", "0"]):
        done = subprocess.run([str(EDGE), *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2, args
        assert done.stderr.count("\n") == 1 and "usage: run-local.sh API_PORT" in done.stderr
    env = os.environ | {"NGINX": str(tmp_path / "no-nginx")}
    done = subprocess.run([str(EDGE), "1", "2", "3"], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "nginx not found" in done.stderr


def test_run_local_stops_on_sigquit_and_leaves_nothing(api: str, tmp_path: Path) -> None:
    port = free_port()
    work = tmp_path / "edge"
    env = {k: v for k, v in os.environ.items() if k not in KNOBS} | {"EDGE_DIR": str(work)}
    with subprocess.Popen(
        [str(EDGE), str(port_of(api)), str(port), "10"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell started with SIGQUIT ignored (any job a non-interactive
        # shell put in the background, as a CI runner may) cannot trap it.
        preexec_fn=lambda: signal.signal(signal.SIGQUIT, signal.SIG_DFL),
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # the ready line (stderr is quiet until then)
            assert "ready: 127.0.0.1:" in line, line
            pid = int((work / "nginx.pid").read_text())
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
            proc.send_signal(signal.SIGQUIT)
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # nginx is gone too
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
