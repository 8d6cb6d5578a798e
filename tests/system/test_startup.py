"""Start-up against a Redis that can never serve redrain, or is not there yet
(docs/operations.md, "Start-up"): what waiting cannot fix stops the server
with one line; an unreachable Redis is waited for, then served once it is up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import application
from app.config import load_settings
from app.domain import tokens
from app.domain.errors import ConfigError
from app.store.redis import scripts
from app.store.sql.connection import upgrade
from tests.helpers import ADMIN, SECRET, all_day_utc, free_port, running_server
from tests.redisproc import RedisServer, redis_server

pytestmark = pytest.mark.integration


def env_for(redis_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "REDRAIN_REDIS_URL": redis_url,
        "REDRAIN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'startup.db'}",
        "REDRAIN_SECRET_KEY": SECRET,
        "REDRAIN_ADMIN_TOKEN": ADMIN,
        **extra,
    }


def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("REDRAIN_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", str(free_port())],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private Redis that wants a password (never the shared one on 6379)."""
    with redis_server(
        tmp_path_factory.mktemp("locked"), args=["--requirepass", "s3cret"]
    ) as server:
        yield server


@pytest.mark.parametrize("credentials", ["", ":wrong@", "someone:s3cret@"])
def test_serve_exits_at_once_when_redis_refuses_the_credentials(
    locked_redis: RedisServer, tmp_path: Path, credentials: str
) -> None:
    url = f"redis://{credentials}127.0.0.1:{locked_redis.port}/0"
    started = time.monotonic()
    done = serve(env_for(url, tmp_path))
    assert time.monotonic() - started < 30  # no waiting for what waiting cannot fix
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("redrain: error: Redis refused redrain's credentials"), lines
    assert "REDRAIN_REDIS_URL" in lines[0]
    assert "wrong" not in lines[0]  # the password itself is not printed


@pytest.fixture
def broken_draw_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The script loader pointed at a copy of lua/ whose draw.lua does not compile."""
    copy = tmp_path / "lua"
    shutil.copytree(scripts.lua_dir(), copy)  # type: ignore[arg-type]
    (copy / "draw.lua").write_text(
        (copy / "draw.lua").read_text() + "\nlocal = broken(\n", encoding="utf-8"
    )
    monkeypatch.setattr(scripts, "lua_dir", lambda: copy)
    scripts.load.cache_clear()
    yield
    scripts.load.cache_clear()


async def test_a_script_redis_cannot_compile_stops_start_up(
    locked_redis: RedisServer, tmp_path: Path, broken_draw_script: None
) -> None:
    url = f"redis://:s3cret@127.0.0.1:{locked_redis.port}/0"
    settings = load_settings(**settings_from(env_for(url, tmp_path)))
    with pytest.raises(ConfigError) as err:
        await application.build(settings)
    assert err.value.message.startswith("Redis refused lua/draw.lua: ")
    assert "compiling" in err.value.message and "\n" not in err.value.message
    with pytest.raises(ConfigError):  # and `redrain serve` checks it before it listens
        await application.preflight(settings)


def settings_from(env: dict[str, str]) -> dict[str, Any]:
    return {k.removeprefix("REDRAIN_").lower(): v for k, v in env.items()}


def test_redis_down_at_start_is_waited_for_then_served(tmp_path: Path) -> None:
    port = free_port()
    env = env_for(f"redis://127.0.0.1:{port}/0", tmp_path, REDRAIN_REDIS_STARTUP_WAIT="1")
    upgrade(env["REDRAIN_DATABASE_URL"])
    log = tmp_path / "server.log"
    started = time.monotonic()
    with running_server(env, log) as base:
        assert time.monotonic() - started < 25
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 503
        text = log.read_text()
        assert "starting anyway" in text and "Redis cannot be reached" in text, text
        with redis_server(tmp_path / "late", port=port):
            admin = {"Authorization": f"Bearer {ADMIN}"}
            with httpx.Client(base_url=base, timeout=10) as c:
                aid = c.post("/v1/admin/activities", json=all_day_utc(), headers=admin).json()["id"]
                assert c.post(f"/v1/admin/activities/{aid}/publish", headers=admin).is_success
                player = tokens.issue(SECRET.encode(), "late", int(time.time()) + 600)
                drawn = c.post(
                    "/v1/draw",
                    json={"activity_id": aid},
                    headers={"Authorization": f"Bearer {player}"},
                )
                assert drawn.status_code == 200, drawn.text
                assert c.get("/readyz").status_code == 200
