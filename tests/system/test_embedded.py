"""The README's first command: ``redrain serve`` (and ``demo``) with nothing
configured runs embedded with a sample rain that is open now."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from app.config import EMBEDDED_OPERATOR
from tests.helpers import running_server

pytestmark = pytest.mark.integration


def banner_commands(log: str) -> str:
    """The shell lines ``redrain demo`` prints (indented two spaces, after its
    first comment), continuations included."""
    start = log.index("  # a player token")
    lines = []
    for line in log[start:].splitlines():
        if not line.startswith("  "):
            break
        lines.append(line[2:])
    return "set -eo pipefail\n" + "\n".join(lines)


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_embedded_server_draws_out_of_the_box(command: str, artifacts: Path) -> None:
    log = artifacts / f"embedded-{command}.log"
    with running_server({}, log, command=command) as base, httpx.Client(base_url=base) as c:
        if command == "demo":  # the banner's commands, as a reader pastes them
            shell = banner_commands(log.read_text())
            ran = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60)
            assert ran.returncode == 0, ran.stderr
            assert '"draw_id"' in ran.stdout and '"round_limit"' not in ran.stdout, ran.stdout
        token = c.post("/v1/auth/dev", json={"user_id": "bob"}).json()["token"]
        player = {"Authorization": f"Bearer {token}"}
        rules = c.get("/v1/activities/1", headers=player).json()
        assert rules["status"] == "open" and rules["remaining"]["round"] == 3
        draws = [c.post("/v1/draw", json={"activity_id": 1}, headers=player) for _ in range(4)]
        assert [r.status_code for r in draws] == [200, 200, 200, 429]
        assert draws[3].json()["error"]["code"] == "round_limit"
        # At once, with no wait: the worker runs in this process and the read waits for it.
        history = c.get("/v1/me/draws", headers=player).json()["draws"]
        assert {d["draw_id"] for d in history} == {d.json()["draw_id"] for d in draws[:3]}
        # SPEC §8: Secure unless REDRAIN_COOKIE_SECURE=0, embedded too (browsers
        # take a Secure cookie from http://127.0.0.1 and localhost).
        user, password = EMBEDDED_OPERATOR
        signed = c.post("/v1/admin/login", json={"username": user, "password": password})
        assert signed.status_code == 200, signed.text
        session = next(v for k, v in signed.headers.multi_items() if "redrain_session=" in v)
        assert "; secure" in session.lower(), session
        stats = c.get(
            "/v1/admin/activities/1/stats", headers={"Authorization": "Bearer dev-admin-token"}
        ).json()
        assert stats["totals"]["draws"] == 3 + (command == "demo")
    text = log.read_text()
    assert "embedded" in text.lower()
    if command == "demo":
        assert "curl" in text and "/v1/draw" in text
