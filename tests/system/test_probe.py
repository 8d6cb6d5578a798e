"""Issue 23's probe (loadtest/probe.py) against running servers: the embedded
one, and Redis + MariaDB with two uvicorn workers and a flush worker. Every
concurrent and bad-input case answers without a 5xx and every invariant the
probe checks holds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import flush_real_redis
from tests.helpers import ADMIN, REDIS_URL, SECRET, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PROBE = Path(__file__).resolve().parents[2] / "loadtest" / "probe.py"


@pytest.fixture(params=["embedded", "redis+mariadb"])
def server(
    request: pytest.FixtureRequest, mariadb_url: str, tmp_path: Path, artifacts: Path
) -> Iterator[tuple[str, str]]:
    """``(base URL, admin token)`` of a running server with dev login on."""
    env = {"REDRAIN_DEV_LOGIN": "1", "REDRAIN_LOG_LEVEL": "warning"}
    if request.param == "embedded":
        env["REDRAIN_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}"
        with running_server(env, artifacts / "probe-embedded.log") as base:
            yield base, "dev-admin-token"
        return
    asyncio.run(flush_real_redis())
    env |= {
        "REDRAIN_REDIS_URL": REDIS_URL,
        "REDRAIN_DATABASE_URL": mariadb_url,
        "REDRAIN_SECRET_KEY": SECRET,
        "REDRAIN_ADMIN_TOKEN": ADMIN,
    }
    full = {k: v for k, v in os.environ.items() if not k.startswith("REDRAIN_")} | env
    with (
        running_server(env, artifacts / "probe-redis.log", workers=2) as base,
        (artifacts / "probe-worker.log").open("wb") as log,
    ):
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"], env=full, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield base, ADMIN
        finally:
            worker.terminate()
            worker.wait(30)


def test_the_probe_finds_no_server_error(server: tuple[str, str], artifacts: Path) -> None:
    base, admin = server
    done = subprocess.run(
        [sys.executable, str(PROBE), "--base", base, "--admin-token", admin],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    (artifacts / f"probe-{base.rsplit(':', 1)[1]}.txt").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 × 5xx" in done.stdout and "0 problems" in done.stdout, done.stdout
